"""`custody serve --db postgresql://...`: the workbench over a team's shared index in a
real PostgreSQL (Debian's, on loopback). Its list, filters and search show what every
worker sealed -- here, captures of this archive and of another machine's -- while cases
and tags stay this archive's; a capture sealed elsewhere has a page that says so; one
made in the workbench is copied there; and PostgreSQL away is a one-line answer, never a
traceback, and the workbench carries on when it is back."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from conftest import Custody
from custody.index import postgres, textindex
from custody.testing.postgres_server import PostgresServer, postgres_bin
from custody.testing.serving import CUSTODY, Served, serving
from custody.testing.site import SiteServer
from custody.web import listing
from custody.web.shared_index import SharedIndex
from test_search import PAGES
from test_serve import csrf_of, shown_ids

pytestmark = pytest.mark.skipif(postgres_bin() is None and not os.environ.get("CI"),
                                reason="PostgreSQL is not installed (./scripts/setup --test)")



@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A PostgreSQL index holding two archives' captures: this one's (copied by
    `custody reindex --db`) and another machine's (copied as its worker copies them)."""
    base = tmp_path_factory.mktemp("shared")
    os.environ.pop("CUSTODY_KEY_PASSPHRASE", None)
    here = Custody(base / "here", base / "keys" / "here")
    there = Custody(base / "there", base / "keys" / "there")
    with PostgresServer() as server, SiteServer(PAGES) as site:
        for runner in (here, there):
            runner.ok("init", "--no-tsa", "--operator", f"{runner.root.name}@example.org")
        for page in ("/en.html", "/fa.html", "/ar-letters.html"):
            here.archive(site.url + page, extra=("--no-requisites",))
        there.archive(site.url + "/ru.html", extra=("--no-requisites",))
        assert "3 captures copied" in here.ok("reindex", "--db", server.url).stdout
        remote = postgres.connect(server.url)
        local = sqlite3.connect(there.root / "custody.db")
        assert postgres.sync(remote, local, remove=False) == (1, 0)
        local.close()
        remote.close()
        ids = {name: [r["id"] for r in runner.query("select id from captures order by id")]
               for name, runner in (("here", here), ("there", there))}
        yield {"here": here, "there": there, "server": server, "site": site, "ids": ids}


@pytest.fixture(scope="module")
def served(team: dict[str, Any]) -> Iterator[Served]:
    here = team["here"]
    with serving(here.root, "--no-replay", "--db", team["server"].url,
                 env={"CUSTODY_KEY": str(here.key)}) as found:
        yield found


def capture_of(runner: Custody, page: str) -> str:
    return str(runner.query(f"select id from captures where seed_url like '%{page}'")[0]["id"])


def test_the_list_and_search_show_every_machine_s_captures(team: dict[str, Any],
                                                          served: Served) -> None:
    here, there = team["here"], team["there"]
    everyone = in_index(team)  # (the fixture's four, and any another test made here)
    assert set(team["ids"]["here"]) | set(team["ids"]["there"]) <= everyone
    elsewhere = team["ids"]["there"][0]
    client = served.signed_in()
    page = client.get("/captures").text
    assert shown_ids(page) == everyone and f"{len(everyone)} in the shared index" in page
    end = page.index(f"<code>{elsewhere}</code>")
    row = page[page.rindex('<li class="capture">', 0, end):end]
    assert "sealed elsewhere" in row and f'value="{elsewhere}"' not in row  # no case for it
    # filters read the shared index: language, status, dates, a site
    assert shown_ids(client.get("/captures", params={"lang": "ru"}).text) == {elsewhere}
    assert shown_ids(client.get("/captures", params={"lang": "fa"}).text) == \
        {capture_of(here, "/fa.html"), capture_of(here, "/ar-letters.html")}
    assert shown_ids(client.get("/captures", params={"status": "complete"}).text) == everyone
    assert shown_ids(client.get("/captures", params={"imported": "no"}).text) == everyone
    assert shown_ids(client.get("/captures", params={"imported": "yes"}).text) == set()
    assert shown_ids(client.get("/captures", params={"until": "2000-01-01"}).text) == set()
    assert shown_ids(client.get("/captures", params={"since": "2000-01-01"}).text) == everyone
    assert shown_ids(client.get("/captures", params={"site": "127.0.0.1"}).text) == everyone
    assert shown_ids(client.get("/captures", params={"site": "example.org"}).text) == set()
    bad = client.get("/captures", params={"lang": "xx"})
    assert bad.status_code == 200 and "is not a language" in bad.text
    # cases and tags are this archive's signed events, and filter the shared list
    en = capture_of(here, "/en.html")
    here.ok("case", "create", "Iran statements")
    here.ok("case", "add", "Iran statements", en)
    here.ok("tag", capture_of(here, "/fa.html"), "persian")
    assert shown_ids(client.get("/captures", params={"case": "Iran statements"}).text) == {en}
    assert shown_ids(client.get("/captures", params={"tag": "Persian"}).text) == \
        {capture_of(here, "/fa.html")}
    # search: the same query language, folding and stemming, in PostgreSQL
    found = client.get("/search", params={"q": "правозащитник"}).text  # a word form
    assert shown_ids(found) == {elsewhere} and "<mark>" in found
    found = client.get("/search", params={"q": "ايران"}).text  # Arabic yeh: Persian pages
    assert shown_ids(found) == {capture_of(here, "/fa.html"), capture_of(here, "/ar-letters.html")}
    assert shown_ids(client.get("/search", params={"q": "ايران", "lang": "fa"}).text) == \
        {capture_of(here, "/fa.html"), capture_of(here, "/ar-letters.html")}
    wrong = client.get("/search", params={"q": '"unclosed'})
    assert wrong.status_code == 200 and 'class="error"' in wrong.text
    # a capture sealed elsewhere: its page from the index, saying so; this folder's: its own
    shown = client.get(f"/captures/{elsewhere}")
    manifest = there.manifest(elsewhere)
    assert shown.status_code == 200 and "Not in this archive folder" in shown.text
    assert postgres_sha(team, elsewhere) in shown.text and "custody pull" in shown.text
    assert "Заявление" in shown.text and manifest["capture_id"] == elsewhere
    own = client.get(f"/captures/{en}")
    assert own.status_code == 200 and "Verify now" in own.text
    assert client.get("/captures/20000101T000000Z-00000000").status_code == 404
    thumb = client.get(f"/captures/{elsewhere}/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/svg+xml"


def test_terms_made_before_index_rules_7_are_made_again_for_arabic(
        team: dict[str, Any]) -> None:
    """An index filled by an earlier custody (no index_rules, Arabic terms stemmed as
    schema 6 stemmed them): the next connection makes the Arabic documents' terms again,
    and only theirs."""
    here, url = team["here"], team["server"].url
    here.archive(team["site"].url + "/ar.html", extra=("--no-requisites",))
    here.ok("reindex", "--db", url)
    old = textindex.ARABIC_BEFORE_7
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT d.id, d.title, d.text, d.language, s.terms::text FROM "
                            "documents d JOIN search_index s ON s.document_id = d.id").fetchall()
        made = {doc_id: now for doc_id, *_, now in rows}
        arabic = [(doc_id, title, text) for doc_id, title, text, lang, _ in rows if lang == "ar"]
        assert arabic
        for doc_id, title, text in arabic:
            conn.execute("UPDATE search_index SET terms = %s::tsvector WHERE document_id = %s",
                         [postgres.terms(textindex.index_text(title, old),
                                         textindex.index_text(text, old)), doc_id])
        conn.execute("DROP TABLE index_rules")
        assert conn.execute("SELECT count(*) FROM search_index s JOIN documents d ON "
                            "d.id = s.document_id WHERE d.language = 'ar' AND s.terms @@ "
                            "'متظاهر'::tsquery").fetchone()[0] == 0
        postgres.connect(url).close()
        again = dict(conn.execute("SELECT document_id, terms::text FROM search_index"))
        assert again == made
        assert conn.execute("SELECT rules FROM index_rules").fetchall() == [(postgres.RULES,)]


def postgres_sha(team: dict[str, Any], capture_id: str) -> str:
    out = team["here"].ok("query", "--db", team["server"].url, "--json",
                          f"select manifest_sha256 from captures where id = '{capture_id}'")
    return str(json.loads(out.stdout)[0]["manifest_sha256"])


def in_index(team: dict[str, Any]) -> set[str]:
    out = team["here"].ok("query", "--db", team["server"].url, "--json",
                          "select id from captures").stdout
    return {row["id"] for row in json.loads(out)}


def test_paging_through_the_shared_index_by_key(team: dict[str, Any]) -> None:
    index = SharedIndex(team["server"].url)
    everyone = sorted(in_index(team), reverse=True)  # (other tests may add some)
    assert len(everyone) >= 4
    try:
        seen, after = [], None
        while True:
            page = index.captures(listing.Filters(), None, after=after, size=1)
            seen += [r.id for r in page.rows]
            if page.older is None:
                break
            after = page.older
        assert seen == everyone  # newest first, each once
        back = index.captures(listing.Filters(), None, before=everyone[-1], size=2)
        assert [r.id for r in back.rows] == everyone[-3:-1] and back.newer == everyone[-3]
        assert index.count() == len(everyone)
    finally:
        index.close()


def test_a_capture_made_here_is_copied_to_the_shared_index(team: dict[str, Any],
                                                           served: Served) -> None:
    client = served.signed_in()
    token = csrf_of(client.get("/cases").text)
    asked = client.post("/capture", data={"csrf": token,
                                          "urls": team["site"].url + "/zh.html"})
    assert asked.status_code == 303, asked.text
    deadline = time.monotonic() + 120
    while (state := client.get(asked.headers["location"] + "/state").json())["state"] \
            not in ("done", "failed"):
        assert time.monotonic() < deadline, state
        time.sleep(0.1)
    assert state["state"] == "done", state
    new = state["capture_id"]
    out = team["here"].ok("query", "--db", team["server"].url, "--json",
                          f"select count(*) as n from documents where capture_id = '{new}'")
    assert json.loads(out.stdout)[0]["n"] >= 1
    assert new in shown_ids(client.get("/captures", params={"lang": "zh"}).text)


def test_rows_written_into_the_index_never_pass_for_this_archive_s(
        team: dict[str, Any], served: Served) -> None:
    """Anyone who can write to the index can write any row: a title beside a capture
    held and verified here is this archive's own, a search hit of one is made again from
    its own text (or left out), NULLs and megabytes do not break a page, and rows whose
    id custody never makes are not listed."""
    here = team["here"]
    en = capture_of(here, "/en.html")
    index = psycopg.connect(team["server"].url, autocommit=True)
    forged = "20200101T000000Z-0badf00d"
    try:
        index.execute("UPDATE captures SET seed_url = 'https://gov.example/confession', "
                      "final_url = 'https://gov.example/confession', status = 'partial' "
                      "WHERE id = %s", [en])
        index.execute("UPDATE documents SET title = 'FORGED confession' WHERE "
                      "capture_id = %s", [en])
        index.execute("UPDATE search_index SET terms = 'forgedword:1A'::tsvector WHERE "
                      "document_id IN (SELECT id FROM documents WHERE capture_id = %s)", [en])
        index.execute("INSERT INTO captures (id, seed_url, started_at, status, operator) "
                      "VALUES (%s, NULL, NULL, NULL, NULL), ('<script>x</script>', "
                      "'http://x/', '2030-01-01', 'complete', 'x')", [forged])
        index.execute("INSERT INTO documents (capture_id, url, title, language) VALUES "
                      "(%s, 'http://x/', %s, 'en')", [forged, "T" * 300_000])
        index.execute("INSERT INTO documents (id, capture_id, url, text) VALUES (900001, %s, "
                      "NULL, NULL), (900002, %s, 'http://x/2', %s)",
                      [forged, forged, "quokka \u202eexe.fdp\u202c"])
        index.execute("INSERT INTO search_index VALUES (900001, 'quokka:1'), "
                      "(900002, 'quokka:1')")
        index.execute("INSERT INTO failures (capture_id) VALUES (%s)", [forged])
        client = served.signed_in()
        page = client.get("/captures")
        assert page.status_code == 200, page.text[:500]
        assert "FORGED" not in page.text and "gov.example" not in page.text
        assert en in shown_ids(page.text) and forged in shown_ids(page.text)
        assert "&lt;script&gt;x" not in page.text and "T" * 2001 not in page.text
        assert en not in shown_ids(client.get("/captures", params={"status": "partial"}).text)
        hits = client.get("/search", params={"q": "forgedword"}).text
        assert en not in shown_ids(hits)  # the index's claim: this archive has no such text
        cli = json.loads(here.ok("search", "--db", team["server"].url, "--json",
                                 "forgedword").stdout)
        assert en not in {h["capture_id"] for h in cli}  # the command line's search too
        quokka = client.get("/search", params={"q": "quokka"})  # a NULL URL; an override
        assert quokka.status_code == 200 and forged in shown_ids(quokka.text)
        assert "\u202e" not in quokka.text and "\\u202eexe.fdp" in quokka.text
        shown = client.get(f"/captures/{forged}")
        assert shown.status_code == 200 and "T" * 2001 not in shown.text
    finally:
        index.execute("DELETE FROM captures WHERE id IN (%s, '<script>x</script>')", [forged])
        index.execute("DELETE FROM captures WHERE id = %s", [en])
        index.close()
        remote = postgres.connect(team["server"].url)
        local = sqlite3.connect(here.root / "custody.db")
        postgres.publish(remote, local, en)
        local.close()
        remote.close()


def test_reindex_and_workers_never_remove_another_machine_s_captures(
        team: dict[str, Any]) -> None:
    here, url = team["here"], team["server"].url
    out = here.ok("reindex", "--db", url).stdout
    assert "captures copied, 0 removed" in out
    there = team["ids"]["there"][0]
    count = f"select count(*) as n from captures where id = '{there}'"
    assert json.loads(here.ok("query", "--db", url, "--json", count).stdout)[0]["n"] == 1
    assert here("reindex", "--prune").exit_code == 2  # (--prune goes with --db)


def client_backends(server: PostgresServer) -> list[int]:
    """The server's processes that serve a client's connection."""
    assert server.process is not None
    found, todo = [], [server.process.pid]
    while todo:
        pid = todo.pop()
        if "127.0.0.1(" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
            found.append(pid)
        children = Path(f"/proc/{pid}/task/{pid}/children")
        if children.exists():
            todo += [int(c) for c in children.read_text().split()]
    return found


def test_postgresql_away_is_one_line_and_the_workbench_goes_on(tmp_path: Path,
                                                               site: SiteServer) -> None:
    runner = Custody(tmp_path / "evidence", tmp_path / "keys" / "id_ed25519")
    runner.ok("init", "--no-tsa", "--operator", "tester@example.org")
    env = {**os.environ, "CUSTODY_KEY": str(runner.key)}
    closed = subprocess.run([CUSTODY, "serve", "--root", str(runner.root), "--port", "0",
                             "--no-replay", "--db",
                             "postgresql://custody:pw1@127.0.0.1:1/x?password=pw2"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert closed.returncode == 3, closed.stderr
    lines = closed.stderr.strip().splitlines()
    assert len(lines) == 1 and "PostgreSQL" in lines[0], lines
    assert "pw1" not in lines[0] and "pw2" not in lines[0], lines
    wrong = subprocess.run([CUSTODY, "serve", "--root", str(runner.root), "--db",
                            "mysql://u:pw3@127.0.0.1/x"], env=env, capture_output=True,
                           text=True)
    assert wrong.returncode == 2 and "postgresql://" in wrong.stderr
    assert "pw3" not in wrong.stderr
    torn = subprocess.run([CUSTODY, "serve", "--root", str(runner.root), "--db",
                           "postgresql://u:pw4@[::1:bad/db"], env=env, capture_output=True,
                          text=True)
    assert torn.returncode == 2 and len(torn.stderr.strip().splitlines()) == 1, torn.stderr
    assert "pw4" not in torn.stderr
    settings = {"CUSTODY_KEY": str(runner.key), "CUSTODY_TEST_INDEX_TIMEOUT": "2",
                "CUSTODY_TEST_INDEX_RETRY": "1"}
    with PostgresServer() as server:
        with serving(runner.root, "--no-replay", "--db", server.url, env=settings) as found:
            later = away_and_back(server, found, site)
        server.start()  # a new run copies, as it starts, what was sealed while it was away
        with serving(runner.root, "--no-replay", "--db", server.url, env=settings) as found:
            client = found.signed_in()
            deadline = time.monotonic() + 30
            while later not in shown_ids(client.get("/captures").text):
                assert time.monotonic() < deadline, "never copied by the next run"
                time.sleep(0.5)


def away_and_back(server: PostgresServer, found: Served, site: SiteServer) -> str:
    """PostgreSQL stopped, started and frozen under a workbench; then stopped again and
    a capture made: its id (the workbench is stopped before PostgreSQL is back)."""
    client = found.signed_in()
    assert "0 in the shared index" in client.get("/captures").text
    index = psycopg.connect(server.url, autocommit=True)
    index.execute("INSERT INTO captures (id, status) VALUES "
                  "('20200101T000000Z-0e15e0e1', 'complete')")  # another machine's
    index.close()
    server.stop()
    away = client.get("/captures")
    assert away.status_code == 503 and "the shared index (PostgreSQL) did not answer" \
        in away.text and "Traceback" not in away.text
    assert "the shared index is unavailable" in away.text and "No captures" not in away.text
    searched = client.get("/search", params={"q": "anything"})
    assert searched.status_code == 200 and "did not answer" in searched.text
    # a capture made while it is away reaches it once it is back, with nothing removed
    token = csrf_of(client.get("/cases").text)
    asked = client.post("/capture", data={"csrf": token, "urls": site.url + "/en.html"})
    new = done(client, asked.headers["location"])
    server.start()
    deadline = time.monotonic() + 30
    while new not in shown_ids(client.get("/captures").text):
        assert time.monotonic() < deadline, "never copied once PostgreSQL was back"
        time.sleep(0.5)
    assert "20200101T000000Z-0e15e0e1" in shown_ids(client.get("/captures").text)
    # the connections the workbench keeps stop answering at all (their server
    # processes frozen): it gives up on them within the timeout and connects anew
    frozen = client_backends(server)
    assert frozen
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        assert client.get("/captures").status_code == 200
        assert time.monotonic() - started < 15
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    server.stop()
    token = csrf_of(client.get("/cases").text)
    asked = client.post("/capture", data={"csrf": token, "urls": site.url + "/ru.html"})
    return done(client, asked.headers["location"])


def done(client: Any, job: str) -> str:
    deadline = time.monotonic() + 120
    while (state := client.get(job + "/state").json())["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline, state
        time.sleep(0.1)
    assert state["state"] == "done", state
    return str(state["capture_id"])
