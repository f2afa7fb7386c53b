"""custody archive --browser against the same Chromium driven bare by Playwright, in one run.

    .venv/bin/python scripts/bench_browser.py [--pages 40] [--latency 0.03] [--runs 3]

The site (custody.testing.jssite.js_pages): an index linking ``pages`` pages, each
built by its script: its text fetched as JSON, its image lazy, below a tall spacer, so
that it loads only when scrolled to. Every request waits ``latency`` seconds; the site is
served from a process of its own. Three ways through it, interleaved, ``runs`` times:

- custody: ``custody archive --browser --depth 1 --behaviors none --no-replay-check`` --
  every request through the recording proxy into WARC files, each page scrolled,
  stopped, photographed whole, printed to PDF and its DOM kept, text extracted, the
  capture sealed and verified after;
- + behaviours: the same with the default page behaviours (browsertrix-behaviors);
- + replay check: the same with the behaviours and each page replayed from the WARC in
  pywb and compared before sealing (custody's default);
- bare: the same Chromium (Debian's), through Playwright, no proxy, no recording, four
  pages at a time as custody loads them: each page loaded, network quiet, scrolled to its
  bottom and quiet again (quiet as custody counts it, custody.browser.quiet: Playwright's
  networkidle fires once, and does not wait for what the scroll set off) -- what it takes
  to see the page;
- bare + renders: the same, plus a full-page screenshot and a PDF of each page: what
  custody makes of a page, without recording anything;
- plain: ``custody archive --depth 1`` without the browser (the pages' script-built text
  is not seen).

Prints the median pages/s of each, custody's time against bare's and bare + renders',
the peak memory of each process tree (custody, Playwright's driver and Chromium): RSS
summed over the processes, and PSS, which counts memory they share once; and the CPU
time of each tree by kind of process, which shows when the cores, not the pages, are
what everything waits for.
Goals from the issue: custody at most 1.2x bare's time, behaviours and the replay check
counted apart (what each costs is printed); custody + Chromium under 1.5 GB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from custody.browser.quiet import NetworkWatch
from custody.testing.bench import Timed, served, timed
from custody.testing.jssite import hostile_site, js_pages

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "tests" / "data" / "seeds"
CUSTODY = str(REPO / ".venv" / "bin" / "custody")
CHROMIUM = os.environ.get("CUSTODY_CHROMIUM", "/usr/bin/chromium")
TABS = 4  # custody.browser.session.TABS


def custody_run(url: str, workdir: Path, env: dict[str, str], *args: str) -> Timed:
    root = workdir / "evidence"
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run([CUSTODY, "init", "--no-tsa", "--root", str(root)], env=env, check=True,
                   capture_output=True)
    measured = timed([CUSTODY, "archive", "--root", str(root), "--quiet", "--depth", "1",
                      *args, url], env)
    check = subprocess.run([CUSTODY, "verify", "--root", str(root)], env=env,
                           capture_output=True, text=True)
    if check.returncode != 0:
        raise SystemExit("verify failed after the benchmark capture:\n" + check.stdout[-2000:])
    if "--browser" in args:
        seen = subprocess.run([CUSTODY, "query", "--root", str(root), "SELECT count(*) FROM "
                               "documents WHERE source = 'rendered'"], env=env,
                              capture_output=True, text=True).stdout
        if str(len(_links(url))) not in seen:
            raise SystemExit(f"custody rendered fewer pages than the site has: {seen}")
    return measured


def _links(index: str) -> list[str]:
    import re
    import urllib.request

    with urllib.request.urlopen(index) as answer:
        html = answer.read().decode()
    return [index.rstrip("/") + "/"] + [index.rstrip("/") + href for href in
                                        re.findall(r'href="(/p\d+\.html)"', html)]


async def _bare(urls: list[str], renders: bool) -> None:
    from playwright.async_api import async_playwright

    queue: asyncio.Queue[str] = asyncio.Queue()
    for url in urls:
        queue.put_nowait(url)
    async with async_playwright() as playwright:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=args)

        async def tab() -> None:
            while not queue.empty():
                url = queue.get_nowait()
                context = await browser.new_context(viewport={"width": 1280, "height": 900})
                network = NetworkWatch().attach(context)
                page = await context.new_page()
                await page.goto(url, wait_until="load")
                await network.quiet(10)
                await page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
                await network.quiet(3)
                if renders:
                    await page.screenshot(full_page=True)
                    await page.pdf(print_background=True)
                await context.close()

        await asyncio.gather(*(tab() for _ in range(TABS)))
        await browser.close()


def bare_run(index: str, renders: bool) -> Timed:
    cmd = [sys.executable, __file__, "--bare", index] + (["--renders"] if renders else [])
    return timed(cmd)


def hostile(runs: int) -> int:
    """custody --browser on the pages of custody.testing.jssite.hostile_site (an endless
    feed, a request that never answers, 500 pop-ups, while(true), a 200 MB canvas, a page
    that navigates itself away, a download), with --page-timeout 10: each ends within its
    time, and memory stays bounded."""
    paths = [path for path in hostile_site() if path.endswith(".html")]
    measured = []
    with tempfile.TemporaryDirectory() as tmp, served(hostile_site) as base:
        workdir = Path(tmp)
        env = dict(os.environ, CUSTODY_KEY=str(workdir / "key"))
        env.pop("CUSTODY_KEY_PASSPHRASE", None)
        for _ in range(runs):
            root = workdir / "evidence"
            shutil.rmtree(root, ignore_errors=True)
            subprocess.run([CUSTODY, "init", "--no-tsa", "--root", str(root)], env=env, check=True,
                           capture_output=True)
            measured.append(timed([CUSTODY, "archive", "--root", str(root), "--quiet",
                                   "--browser", "--page-timeout", "10", "--timeout", "5",
                                   *(base + path for path in paths)], env,
                                  ok=(0, 5)))  # 5: some requests failed, as they do here
    print(f"hostile pages: {len(paths)}, --page-timeout 10, four at a time, {runs} runs")
    print(f"time median {statistics.median(m.seconds for m in measured):.1f} s; peak RSS "
          f"{max(m.rss_mb for m in measured)} MB, PSS {max(m.pss_mb for m in measured)} MB")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hostile", action="store_true",
                        help="instead: time and peak memory of custody on the hostile pages")
    parser.add_argument("--bare", metavar="INDEX", help=argparse.SUPPRESS)
    parser.add_argument("--renders", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:  # one bare pass, in a process of its own (measured from outside)
        asyncio.run(_bare(_links(args.bare), args.renders))
        return 0
    if not os.access(CHROMIUM, os.X_OK):
        raise SystemExit(f"no Chromium at {CHROMIUM}: ./scripts/setup --browser")
    if args.hostile:
        return hostile(args.runs)
    pages = args.pages + 1  # the index is a page too
    results: dict[str, list[Timed]] = {
        "custody": [], "behaviors": [], "checked": [], "bare": [], "renders": [],
        "plain": []}
    with tempfile.TemporaryDirectory() as tmp, \
            served(js_pages, SEEDS, args.pages, latency=args.latency) as base:
        workdir = Path(tmp)
        env = dict(os.environ, CUSTODY_KEY=str(workdir / "key"))
        env.pop("CUSTODY_KEY_PASSPHRASE", None)
        index = base + "/"
        for _ in range(args.runs):
            results["custody"].append(custody_run(index, workdir, env, "--browser",
                                                  "--behaviors", "none", "--no-replay-check"))
            results["behaviors"].append(custody_run(index, workdir, env, "--browser",
                                                    "--no-replay-check"))
            results["checked"].append(custody_run(index, workdir, env, "--browser"))
            results["bare"].append(bare_run(index, renders=False))
            results["renders"].append(bare_run(index, renders=True))
            results["plain"].append(custody_run(index, workdir, env))

    def median(name: str) -> float:
        return statistics.median(r.seconds for r in results[name])

    print(f"site: {pages} script-built pages, latency {args.latency * 1000:.0f} ms, "
          f"{args.runs} runs, medians")
    labels = {"custody": "custody --browser (no behaviours, no check)",
              "behaviors": "  + page behaviours",
              "checked": "  + behaviours + replay check (default)",
              "bare": "bare Playwright, same Chromium",
              "renders": "bare + screenshot + PDF",
              "plain": "custody archive --depth 1 (no browser)"}
    for name, label in labels.items():
        rss = max(r.rss_mb for r in results[name])
        pss = max(r.pss_mb for r in results[name])
        print(f"{label:40s} {pages / median(name):6.2f} pages/s  {median(name):6.2f} s  "
              f"peak RSS {rss:5d} MB, PSS {pss:5d} MB")
    print(f"custody / bare time            {median('custody') / median('bare'):5.2f} x "
          "(goal <= 1.2)")
    print(f"page behaviours cost           {median('behaviors') - median('custody'):+6.2f} s "
          f"({(median('behaviors') - median('custody')) / pages:+.3f} s a page)")
    print(f"replay check cost              {median('checked') - median('behaviors'):+6.2f} s "
          f"({(median('checked') - median('behaviors')) / pages:+.3f} s a page)")
    print(f"custody / bare + renders time  {median('custody') / median('renders'):5.2f} x")
    print(f"CPU time of each run whose time is the median ({os.cpu_count()} cores; by process):")
    for name, label in labels.items():
        middle = sorted(results[name], key=lambda r: r.seconds)[len(results[name]) // 2]
        print(f"  {label.strip():40s} {middle.cpu_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
