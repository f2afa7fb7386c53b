"""custody serve at scale: p50 and p95 server time of its pages, read as each answer's
Server-Timing (from the request reaching the workbench's guard to its answer starting:
routing, the reads, the template), over HTTP from a real `custody serve` on loopback.

    .venv/bin/python scripts/bench_serve.py --build 100000 [--pages 10] [--keep DIR]
    .venv/bin/python scripts/bench_serve.py --root /path/to/a/COPY/of/evidence [--n 200]

``--build N`` makes an archive to measure: a real one first (`custody init`, and the
local multilingual site's English, Persian and Russian pages captured and sealed by
`custody archive`, so that a capture's page has sealed files to show), then N captures
of ``--pages`` documents each written straight into its custody.db as the index holds
them -- ``captures``, ``resources``, ``documents`` (title and text: sentences of the
site's three languages) and the search index made by index/db.py's index_documents,
``capture_facets`` by site and language, ``selectors`` (an email address in one page in
fifty); tags on one capture in five, and a case of
1,000 captures with a note on each, applied as custody-log events by
index/annotation.py, as the index applies them (the events are not in the log: verify
would say so; serve only reads). ``--keep DIR`` keeps it for another run (``--root
DIR``). ``--root`` measures an archive you point it at (``--grow-db N`` first repeats
its captures' rows until it holds N).

Pages: the captures list (first page, pages deep in history by key, and filtered by a
common and a rare language, a site, a status no capture has, a date range, a tag, a
case), a capture's page, search (words and other word forms in English, Persian and
Russian, with and without a filter), and a case of 1,000 captures when the archive has
one. The archive is only read (the server runs without the archivist's key: it signs
nothing). Goal: p95 under 200 ms each.

``--postgres`` measures `custody serve --db` instead: a PostgreSQL of the tests' kind
(Debian's, on loopback, in a temporary folder) is started and given the archive's
custody.db as workers give it theirs (index/postgres.py's sync, capture by capture; the
time it takes is printed), and the list and search are read from it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

QUERIES = ["Iran", "massacre", "Ирана", "правозащитников", "ایران", "مسئولیت", "کشتار",
           '"human rights"', "Иран NOT интернет", "govern*"]


def timing(answer: object) -> float:
    header = answer.headers.get("server-timing", "")  # type: ignore[attr-defined]
    return float(header.split("dur=")[1]) if "dur=" in header else float("nan")


def measure(name: str, paths: Callable[[random.Random], str], client: object, n: int,
            rows: list[tuple[str, float, float, float, int]]) -> None:
    rng = random.Random(name)
    took = []
    wall = []
    for _ in range(n):
        path = paths(rng)
        start = time.perf_counter()
        answer = client.get(path)  # type: ignore[attr-defined]
        wall.append((time.perf_counter() - start) * 1000)
        if answer.status_code != 200:
            raise SystemExit(f"{path}: {answer.status_code} {answer.text[:300]}")
        took.append(timing(answer))
    took.sort()
    p95 = took[min(len(took) - 1, int(len(took) * 0.95))]
    rows.append((name, statistics.median(took), p95, statistics.median(wall), n))
    print(f"  {name}: p50 {statistics.median(took):.1f} ms, p95 {p95:.1f} ms", flush=True)


def _years_back(text: str, years: int) -> str:
    return str(int(text[:4]) - years) + text[4:]


def grow(db_path: Path, target: int) -> int:
    """Repeat the captures custody.db holds, with their resources and documents (each
    added to the search index as custody indexes them), until it holds ``target``:
    each copy's id and times moved a year back per round, so that the list's order and
    keys stay those of real ids. Only custody.db changes (the copies have no manifest: a
    capture's page is asked of the real ones). Rounds of the rows there are; returns how
    many captures it then holds."""
    from custody.index import db

    database = db.connect(db_path)
    conn = database.conn
    originals = [r[0] for r in conn.execute("SELECT id FROM captures ORDER BY id")]
    count = len(originals)
    shift = 0
    while count < target:
        shift += 1
        take = originals[: target - count]
        with conn:
            top = conn.execute("SELECT coalesce(max(id), 0) FROM documents").fetchone()[0]
            for cid in take:
                new = _years_back(cid, shift)
                conn.execute("INSERT INTO captures SELECT ?, sequence, seed_url, final_url, "
                             "?, ?, status, operator, key_fingerprint, manifest_sha256, "
                             "responses, documents, failures FROM captures WHERE id = ?",
                             [new, *(_years_back(v, shift) for v in conn.execute(
                                 "SELECT started_at, finished_at FROM captures WHERE id = ?",
                                 [cid]).fetchone()), cid])
                conn.execute("INSERT INTO resources (capture_id, url, status_code, "
                             "content_type, record_id, warc_path, warc_offset, warc_length, "
                             "payload_sha256, ip, fetched_at, truncated) SELECT ?, url, "
                             "status_code, content_type, record_id, warc_path, warc_offset, "
                             "warc_length, payload_sha256, ip, fetched_at, truncated FROM "
                             "resources WHERE capture_id = ?", [new, cid])
                conn.execute("INSERT INTO documents (capture_id, resource_id, record_id, "
                             "source, url, title, author, published, sitename, language, "
                             "text, text_sha256, charset, extractor, note) SELECT ?, NULL, "
                             "record_id, source, url, title, author, published, sitename, "
                             "language, text, text_sha256, charset, extractor, note FROM "
                             "documents WHERE capture_id = ?", [new, cid])
            db.index_documents(database, "SELECT id, title, text, language FROM documents "
                                         "WHERE id > ?", [top])
        count += len(take)
        print(f"  custody.db grown to {count:,} captures", flush=True)
    return count

LANGUAGES = ("en", "fa", "ru")


def sentences() -> dict[str, list[str]]:
    """Each language's sentences from the local site's pages (the test seeds)."""
    from custody.testing.site import build_site

    seeds = Path(__file__).resolve().parents[1] / "tests" / "data" / "seeds"
    pages = build_site(seeds)
    out: dict[str, list[str]] = {}
    for lang in LANGUAGES:
        text = pages[f"/{lang}.html"].expected_text or ""
        found = [s.strip() for s in text.replace("\n", " ").split(". ") if len(s) > 40]
        out[lang] = found or [text[:200]]
    return out


def build(root: Path, captures: int, pages: int) -> tuple[float, float]:
    """A real archive with three sealed captures, then ``captures`` made in its custody.db;
    seconds to make the rows, and to add them to the search index."""
    from click.testing import CliRunner

    from custody.cli import main as cli
    from custody.index import annotation, db
    from custody.index.listing import site_keys
    from custody.testing.site import SiteServer, build_site

    key = root.parent / f"{root.name}.key"
    env = {"CUSTODY_ROOT": str(root), "CUSTODY_KEY": str(key)}
    runner = CliRunner()
    initialised = runner.invoke(cli, ["init", "--no-tsa", "--operator", "bench@example.org"],
                                env=env)
    if initialised.exit_code:
        raise SystemExit(initialised.output)
    seeds = Path(__file__).resolve().parents[1] / "tests" / "data" / "seeds"
    with SiteServer(build_site(seeds)) as site:
        for lang in LANGUAGES:
            done = runner.invoke(cli, ["archive", f"{site.url}/{lang}.html"], env=env)
            if done.exit_code:
                raise SystemExit(done.output)
    start = time.perf_counter()
    said = sentences()
    rng = random.Random(7)
    database = db.connect(root / "custody.db")
    conn = database.conn
    top = conn.execute("SELECT coalesce(max(id), 0) FROM documents").fetchone()[0]
    first_resource = conn.execute("SELECT coalesce(max(id), 0) FROM resources").fetchone()[0]
    ids: list[str] = []
    batch = 10_000
    doc_id = top
    resource_id = first_resource
    for begin in range(0, captures, batch):
        rows, resources, documents, facets, selectors = [], [], [], [], []
        for n in range(begin, min(captures, begin + batch)):
            day, second = n // 2880, n % 2880  # 2,880 a day, thirty seconds apart
            stamp = (f"2025-{day // 28 % 12 + 1:02d}-{day % 28 + 1:02d}T"
                     f"{second // 120:02d}:{second // 2 % 60:02d}:{second % 2 * 30:02d}")
            cid = stamp.replace("-", "").replace(":", "") + f"Z-{n:08x}"
            started = f"{stamp}.{n % 999_999:06d}Z"
            host = f"site{rng.randrange(2000)}.example.org"
            language = LANGUAGES[n % 3]
            rows.append((cid, 1_000_000 + n, f"https://{host}/", f"https://{host}/",
                         started, started, "complete", "bench", "SHA256:x", "0" * 64,
                         pages, pages, 0))
            ids.append(cid)
            facets += [("site", k, started, cid) for k in site_keys(host)]
            facets.append(("lang", language, started, cid))
            for p in range(pages):
                doc_id += 1
                resource_id += 1
                url = f"https://{host}/" if p == 0 else f"https://{host}/page/{p}"
                resources.append((resource_id, cid, url, 200, "text/html",
                                  f"urn:bench:{resource_id}", "bench.warc.gz", 0, 0, "0" * 64,
                                  "192.0.2.1", started, 0))
                pick = said[language]
                text = " ".join(rng.choice(pick) for _ in range(3))
                documents.append((doc_id, cid, resource_id, url, pick[p % len(pick)][:80],
                                  language, text, "0" * 64, "bench"))
                if doc_id % 50 == 0:  # a selector in one page in fifty
                    email = f"person{doc_id % 500}@example.org"
                    selectors.append((doc_id, cid, "email", email, email, 0, 1))
        with conn:
            conn.executemany("INSERT INTO captures (id, sequence, seed_url, final_url, "
                             "started_at, finished_at, status, operator, key_fingerprint, "
                             "manifest_sha256, responses, documents, failures) VALUES "
                             "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            conn.executemany("INSERT INTO resources (id, capture_id, url, status_code, "
                             "content_type, record_id, warc_path, warc_offset, warc_length, "
                             "payload_sha256, ip, fetched_at, truncated) VALUES "
                             "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", resources)
            conn.executemany("INSERT INTO documents (id, capture_id, resource_id, url, title, "
                             "language, text, text_sha256, extractor) VALUES "
                             "(?, ?, ?, ?, ?, ?, ?, ?, ?)", documents)
            conn.executemany("INSERT OR IGNORE INTO capture_facets (kind, value, started_at, "
                             "capture_id) VALUES (?, ?, ?, ?)", facets)
            conn.executemany("INSERT INTO selectors VALUES (?, ?, ?, ?, ?, ?, ?)", selectors)
        print(f"  {len(ids):,} captures made", flush=True)
    seq = 10_000_000  # (far past the log's own events)
    with conn:
        def apply(event: str, **details: object) -> None:
            nonlocal seq
            seq += 1
            annotation.apply(conn, seq, {"event": event, "at": "2026-12-01T00:00:00Z",
                                         "who": "bench@example.org", "details": details})

        apply("case-created", case_id="case-00000000b1c0", name="Big case")
        chosen = rng.sample(ids, min(1000, len(ids)))
        for part in range(0, len(chosen), 500):
            apply("case-added", case_id="case-00000000b1c0", name="Big case",
                  capture_ids=chosen[part:part + 500])
        for i, cid in enumerate(ids[::5]):
            apply("tagged", capture_id=cid, tag=f"tag{i % 50}")
        for i, cid in enumerate(chosen):
            apply("note-added", note_id=f"note-{i:012x}", capture_id=cid,
                  text=f"Note {i} on this capture.")
    made = time.perf_counter() - start
    start = time.perf_counter()
    for begin in range(top, doc_id, 100_000):
        with conn:
            db.index_documents(database, "SELECT id, title, text, language FROM documents "
                                         "WHERE id > ? AND id <= ?", [begin, begin + 100_000])
        print(f"  {min(doc_id, begin + 100_000) - top:,} documents in the search index",
              flush=True)
    with conn:
        conn.execute("ANALYZE")
    conn.close()
    return made, time.perf_counter() - start


def filled_postgres(stack: contextlib.ExitStack, root: Path) -> str:
    """A PostgreSQL started for the run and given custody.db's captures; its URL."""
    from custody.index import postgres
    from custody.testing.postgres_server import PostgresServer

    server = stack.enter_context(PostgresServer())
    started = time.monotonic()
    remote = postgres.connect(server.url)
    local = sqlite3.connect(root / "custody.db")
    with local:  # an archive built before each record had an id of its own (a copy)
        local.execute("UPDATE resources SET record_id = 'urn:bench:' || id WHERE record_id = "
                      "'urn:uuid:x'")
    copied, _ = postgres.sync(remote, local, remove=False)
    remote.execute("ANALYZE")
    local.close()
    remote.close()
    print(f"PostgreSQL filled: {copied:,} captures in {time.monotonic() - started:.0f} s",
          flush=True)
    return server.url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", help="the archive (a copy: it is served)")
    parser.add_argument("--build", type=int, metavar="N",
                        help="make an archive of N captures (see above) and measure it")
    parser.add_argument("--pages", type=int, default=10, help="documents a built capture has")
    parser.add_argument("--keep", metavar="DIR", help="build into DIR (new), kept")
    parser.add_argument("--n", type=int, default=200, help="requests per page kind")
    parser.add_argument("--grow-db", type=int, metavar="N",
                        help="first repeat custody.db's captures until it holds N (a copy's "
                             "custody.db is changed: the list and search at N rows; a "
                             "capture's page is asked of the sealed ones)")
    parser.add_argument("--db", metavar="URL",
                        help="serve with --db URL: an index in PostgreSQL already filled "
                             "with this archive's captures")
    parser.add_argument("--postgres", action="store_true",
                        help="serve with --db: the list and search from a PostgreSQL "
                             "started here and filled from custody.db")
    args = parser.parse_args()
    if (args.root is None) == (args.build is None):
        parser.error("give --root or --build")
    if args.build is not None:
        import tempfile

        root = Path(args.keep or tempfile.mkdtemp(prefix="bench-serve-")).resolve() / "evidence"
        made, indexed = build(root, args.build, args.pages)
        print(f"built in {root}: rows {made:.0f} s, search index {indexed:.0f} s, "
              f"custody.db {(root / 'custody.db').stat().st_size / 1e6:,.0f} MB", flush=True)
    else:
        root = Path(args.root).resolve()
    sealed_ids = None
    if args.grow_db:
        first_conn = sqlite3.connect(root / "custody.db")
        sealed_ids = [r[0] for r in first_conn.execute("SELECT id FROM captures")]
        first_conn.close()
        grow(root / "custody.db", args.grow_db)
    conn = sqlite3.connect(f"file:{root / 'custody.db'}?mode=ro", uri=True)
    ids = [r[0] for r in conn.execute("SELECT id FROM captures")]
    # a capture's page is asked of sealed captures (a grown custody.db's copies have none)
    sealed = sealed_ids or [c for c in ids if (root / "manifests" / f"{c}.json").exists()]
    grown_db = len(sealed) < len(ids)
    documents = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
    langs = conn.execute("SELECT language, count(*) FROM documents WHERE language IS NOT "
                         "NULL GROUP BY 1 ORDER BY 2").fetchall()
    host = conn.execute("SELECT seed_url FROM captures ORDER BY id LIMIT 1").fetchone()[0] \
        .split("/")[2].split(":")[0]
    cases = []
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'case_captures'").fetchone():
        cases = [r[0] for r in conn.execute(
            "SELECT case_id FROM case_captures GROUP BY case_id HAVING count(*) >= 1000")]
    tags = [r[0] for r in conn.execute("SELECT tag_key FROM tags GROUP BY tag_key ORDER BY "
                                       "count(*) DESC LIMIT 1")] if cases else []
    first, last = min(ids)[:8], max(ids)[:8]
    conn.close()
    print(f"{root}: {len(ids):,} captures, {documents:,} documents", flush=True)
    from custody.testing.serving import serving

    env = {"CUSTODY_KEY": str(root / ".no-key-here")}  # read-only: nothing is signed
    rows: list[tuple[str, float, float, float, int]] = []
    with contextlib.ExitStack() as stack:
        extra = ["--db", args.db] if args.db else []
        if args.postgres:
            extra = ["--db", filled_postgres(stack, root)]
        served = stack.enter_context(serving(root, "--no-replay", *extra, env=env))
        client = served.signed_in()
        client.get("/captures")  # warm: the first request loads the templates

        def day(text: str) -> str:
            return f"{text[:4]}-{text[4:6]}-{text[6:8]}"

        kinds: list[tuple[str, Callable[[random.Random], str]]] = [
            ("captures, first page", lambda r: "/captures"),
            ("captures, deep in history", lambda r: f"/captures?after={r.choice(ids)}"),
            (f"captures, language {langs[-1][0]} (common)",
             lambda r: f"/captures?lang={langs[-1][0]}"),
            (f"captures, language {langs[0][0]} (rare)",
             lambda r: f"/captures?lang={langs[0][0]}"),
            (f"captures, site {host}", lambda r: f"/captures?site={host}"),
            ("captures, status none has", lambda r: "/captures?status=interrupted"),
            ("captures, date range", lambda r: f"/captures?since={day(first)}&until={day(last)}"
             f"&after={r.choice(ids)}"),
            ("a capture's page", lambda r: f"/captures/{r.choice(sealed)}"),
            ("search", lambda r: "/search?q=" + r.choice(QUERIES)),
            ("search, filtered", lambda r: "/search?lang=fa&q=" + r.choice(
                ["ایران", "مسئولیت", "مردم"])),
        ]
        kinds += [("captures, a tag", lambda r: f"/captures?tag={tags[0]}"),
                  ("captures, a case", lambda r: f"/captures?case={cases[0]}"),
                  ("captures, a case, deep", lambda r: f"/captures?case={cases[0]}&after="
                   f"{r.choice(ids)}"),
                  ("a case of 1,000 captures", lambda r: f"/cases/{r.choice(cases)}")] \
            if cases and tags else []
        for name, paths in kinds:
            measure(name, paths, client, args.n, rows)
    grown = f" (custody.db grown from {len(sealed):,} sealed)" if grown_db else ""
    grown += ", read from PostgreSQL (--db)" if args.postgres or args.db else ""
    print(f"\n{len(ids):,} captures{grown}, {documents:,} documents; server time "
          f"(Server-Timing), {args.n} requests each\n")
    print("| page | p50 | p95 | p50 over HTTP |")
    print("| --- | --- | --- | --- |")
    for name, p50, p95, wall, _ in rows:
        mark = "" if p95 < 200 else " (over the goal)"
        print(f"| {name} | {p50:.1f} ms | {p95:.1f} ms{mark} | {wall:.1f} ms |")
    if not cases:
        print("\n(no case of 1,000 captures in this archive: not measured)")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
