"""An archive that grows one capture at a time: every command timed as the captures add up.

    .venv/bin/python scripts/bench_history.py [--sizes 100,1000,10000,100000]
                                              [--runs 3] [--tsa] [--root DIR]

Investigators archive one page, then another, for years. This grows one archive to each
size in turn, one sealed capture of one page at a time, through custody's own capture
and sealing code (capture.run.start, in this process: a real crawl of a real page of a
loopback site, its WARC, manifest, signature, ledger leaf, checkpoint, log event and
database rows; nothing is fabricated outside the sealing path). At each size it times,
as whole commands (a new process each, as a user runs them), with the peak memory of
the process tree:

- `custody archive URL` of one more small page (it then counts among the captures);
- `custody verify` (everything) and `custody verify ID` of one capture;
- `search`, `show ID`, `history URL`, `diff A B`, `report ID`, `bundle ID`,
  `ledger proof ID`, `log --tail 20`, `log --capture ID`;
- `custody reindex` (at the sizes in ``--reindex-sizes``: it extracts every page again);

and prints a table by size, the disk size of the archive, and what one capture adds
(bytes and files). Goals from the issue: archive <= 0.5 s at any size, and at 100,000
within 1.2x of its time at 100; verify linear (its time per capture at 100,000 within
1.3x of that at 1,000) with flat memory; verify ID and the other commands <= 0.3 s.

The pages (``/p/N.html``) are made from the seed texts, a different mix for each N, in
English, Persian and Russian, so that every capture is of a page of its own.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from custody.testing.bench import Timed, timed
from custody.testing.site import page_html, seed_sections

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "tests" / "data" / "seeds"
CUSTODY = str(REPO / ".venv" / "bin" / "custody")


# -- the site: a page of its own for every number -------------------------------------------


def _pages() -> list[tuple[str, str, list[str], bool]]:
    sections = seed_sections(SEEDS)
    out = []
    for name, lang, rtl in (("en", "en", False), ("fa", "fa", True), ("ru", "ru", False),
                            ("letter", "fa", True), ("labour", "fa", True)):
        title, paragraphs = sections[name]
        out.append((lang, title, paragraphs, rtl))
    return out


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    pages: ClassVar[list[tuple[str, str, list[str], bool]]] = []

    def do_GET(self) -> None:
        number = self.path.removeprefix("/p/").removesuffix(".html")
        if not number.isdigit():
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        n = int(number)
        lang, title, paragraphs, rtl = self.pages[n % len(self.pages)]
        start = n % max(1, len(paragraphs) - 3)
        chosen = [f"({n}) " + paragraphs[start], *paragraphs[start + 1:start + 4]]
        body = page_html(f"{title} [{n}]", chosen, lang=lang, rtl=rtl)
        body = body.replace('<link rel="stylesheet" href="/static/site.css">', "")
        body = body.replace('<script src="/static/site.js"></script>', "")
        body = body.replace('<img src="/static/logo.png" alt="">', "")
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return


def _serve(conn: Any) -> None:
    _Handler.pages = _pages()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    conn.send(f"http://127.0.0.1:{server.server_address[1]}")
    server.serve_forever()


# -- growing the archive --------------------------------------------------------------------


def grow(root: Path, key: Any, url: str, start: int, stop: int) -> float:
    """Captures ``start``..``stop - 1`` (page N each), each sealed through custody's own
    code; the seconds each took, median."""
    from custody.capture import run as capture
    from custody.capture.settings import Settings
    from custody.core.archive import Archive

    archive = Archive.open(root)
    took = []
    for n in range(start, stop):
        began = time.perf_counter()
        result = capture.start(archive, [f"{url}/p/{n}.html"], key=key,
                               settings=Settings(requisites=False, tsa=_TSA))
        took.append(time.perf_counter() - began)
        if result.status != "complete":
            raise SystemExit(f"page {n}: {result.status}: {result.failures}")
        if n % 1000 == 999:
            print(f"  {n + 1} captures ({statistics.median(took[-1000:]) * 1000:.0f} ms each)",
                  file=sys.stderr, flush=True)
    return statistics.median(took) if took else 0.0


_TSA: list[str] = []


# -- timing the commands --------------------------------------------------------------------


def command_times(root: Path, env: dict[str, str], url: str, size: int, runs: int,
                  reindex: bool) -> dict[str, Timed]:
    ids = _capture_ids(root)
    # the last two: page 0 captured twice in this run (the site's port is this run's)
    first, middle, last = ids[-2], ids[len(ids) // 2], ids[-1]
    page = f"{url}/p/0.html"
    out = tempfile.mkdtemp(prefix="bench-history-")
    base = [CUSTODY]
    commands: dict[str, list[str]] = {
        "verify ID": [*base, "verify", "--root", str(root), middle],
        "search": [*base, "search", "--root", str(root), "statement"],
        "show ID": [*base, "show", "--root", str(root), middle],
        "history URL": [*base, "history", "--root", str(root), page],
        "diff A B": [*base, "diff", "--root", str(root), first, last],
        "ledger proof ID": [*base, "ledger", "proof", "--root", str(root), middle],
        "log --tail 20": [*base, "log", "--root", str(root), "--tail", "20"],
        "log --capture ID": [*base, "log", "--root", str(root), "--capture", middle],
    }
    found: dict[str, Timed] = {}
    for name, cmd in commands.items():
        found[name] = _median([timed(cmd, env, ok=(0, 1)) for _ in range(runs)])
    bundles = []
    for i in range(runs):
        bundles.append(timed([*base, "bundle", "--root", str(root), middle, "-o",
                              os.path.join(out, f"bundle{i}")], env))
    found["bundle ID"] = _median(bundles)
    found["report ID"] = _median([
        timed([*base, "report", "--root", str(root), middle, "-o",
               os.path.join(out, f"report{i}.html")], env) for i in range(runs)])
    found["verify"] = _median([timed([*base, "verify", "--root", str(root)], env)
                               for _ in range(max(1, runs if size <= 10000 else 1))])
    archives = []
    for i in range(runs):
        archives.append(timed([*base, "archive", "--root", str(root), "--no-requisites",
                               f"{url}/p/{10_000_000 + size * 10 + i}.html"], env))
    found["archive URL"] = _median(archives)
    if reindex:
        found["reindex"] = timed([*base, "reindex", "--root", str(root)], env)
    return found


def _median(samples: list[Timed]) -> Timed:
    ordered = sorted(samples, key=lambda t: t.seconds)
    middle = ordered[len(ordered) // 2]
    return Timed(middle.seconds, max(t.rss_mb for t in samples),
                 max(t.pss_mb for t in samples), "")


def _capture_ids(root: Path) -> list[str]:
    leaves = (root / "manifests" / "ledger" / "leaves").read_text().splitlines()
    return [line.split()[1] for line in leaves]


def disk(root: Path) -> tuple[int, int]:
    """Bytes (as allocated) and files under the archive folder."""
    total = files = 0
    for folder, _, names in os.walk(root):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
                files += 1
            except OSError:
                continue
    return total, files


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,1000,10000,100000")
    parser.add_argument("--reindex-sizes", default="100,1000,10000",
                        help="sizes at which reindex is timed (it extracts every page)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--root", help="grow the archive here (default: a new temp folder)")
    parser.add_argument("--snapshots", help="copy the grown archive (and its key) into "
                        "SNAPSHOTS/SIZE at each size, to time again later with "
                        "--root SNAPSHOTS/SIZE --sizes SIZE")
    parser.add_argument("--tsa", action="store_true",
                        help="timestamp every capture with a local TSA (openssl ts)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    reindex_at = {int(s) for s in args.reindex_sizes.split(",") if s}

    from custody.core import keyfile
    from custody.core.archive import Archive
    from custody.seal.archivists import found

    context = multiprocessing.get_context("spawn")
    here, there = context.Pipe()
    server = context.Process(target=_serve, args=(there,), daemon=True)
    server.start()
    url = here.recv()
    work = Path(args.root or tempfile.mkdtemp(prefix="bench-history-"))
    root = work / "evidence"
    key_path = work / "key"
    env = dict(os.environ, CUSTODY_KEY=str(key_path), CUSTODY_OPERATOR="bench@example.org")
    tsa_server = None
    if args.tsa:
        from custody.testing.tsa import LocalTSA

        tsa_server = LocalTSA(work / "tsa")
        tsa_server.__enter__()
        _TSA.append(tsa_server.url)
    if not root.exists():
        key = keyfile.create_key(key_path)
        archive = Archive.create(root)
        found(archive, key, "bench@example.org")
        if tsa_server is not None:  # as `custody init` and custody.toml would set it up
            import shutil

            shutil.copy(tsa_server.root_pem, root / "tsa-roots.pem")
            (root / "custody.toml").write_text(
                f'[timestamp]\ntsa = ["{tsa_server.url}"]\nroots = ["tsa-roots.pem"]\n')
    else:
        key = keyfile.load_key(key_path)
    rows = []
    have = len(_capture_ids(root)) if (root / "manifests/ledger/leaves").exists() else 0
    extra = 0  # the pages `archive URL` added at earlier sizes
    for size in sizes:
        before = disk(root)
        per_capture = grow(root, key, url, have - extra, size - extra - 1) \
            if size > have + 1 else 0.0
        grow(root, key, url, 0, 1)  # page 0 twice more: a URL with two captures, to diff
        grow(root, key, url, 0, 1)
        have = max(have, size)
        grown = disk(root)
        if args.snapshots:
            import shutil

            target = Path(args.snapshots) / str(size)
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(work, target, symlinks=True)
        print(f"{size} captures: timing the commands", file=sys.stderr, flush=True)
        times = command_times(root, env, url, size, args.runs, size in reindex_at)
        extra += args.runs
        have += args.runs
        rows.append((size, per_capture, times, grown, before))
        _print(rows)
    if tsa_server is not None:
        tsa_server.__exit__(None, None, None)
    here.close()
    server.terminate()
    return 0


def _print(rows: list[Any]) -> None:
    names = ["archive URL", "verify", "verify ID", "search", "show ID", "history URL",
             "diff A B", "report ID", "bundle ID", "ledger proof ID", "log --tail 20",
             "log --capture ID", "reindex"]
    print()
    print("| command | " + " | ".join(f"{size:,} captures" for size, *_ in rows) + " |")
    print("| --- |" + " --- |" * len(rows))
    for name in names:
        cells = []
        for _, _, times, _, _ in rows:
            t = times.get(name)
            cells.append("" if t is None else f"{t.seconds:.3f} s, {t.rss_mb} MB")
        print(f"| {name} | " + " | ".join(cells) + " |")
    cells = []
    for size, _, times, _, _ in rows:
        t = times.get("verify")
        cells.append("" if t is None else f"{t.seconds / (size + 1) * 1000:.2f} ms")
    print("| verify per capture | " + " | ".join(cells) + " |")
    print("| in-process seal of one page (median while growing) | " +
          " | ".join(f"{p * 1000:.0f} ms" if p else "" for _, p, *_ in rows) + " |")
    print("| disk (allocated), files | " +
          " | ".join(f"{g[0] / 1e6:.0f} MB, {g[1]:,} files" for *_, g, _ in rows) + " |")
    if len(rows) >= 2:
        (s0, _, _, g0, _), (s1, _, _, g1, _) = rows[-2], rows[-1]
        added = s1 - s0
        if added > 0:
            print(f"\nper capture (from {s0:,} to {s1:,}): "
                  f"{(g1[0] - g0[0]) / added / 1024:.1f} KB, {(g1[1] - g0[1]) / added:.2f} files")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
