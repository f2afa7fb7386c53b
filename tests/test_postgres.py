"""The index in a real PostgreSQL (Debian's, started on loopback): the same tables as
custody.db and the same answers to the same searches in every language, filled by
`reindex --db` and by queue workers, which never wait for it to seal."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Custody
from custody.testing.hosts import Host
from custody.testing.postgres_server import PostgresServer, postgres_bin
from custody.testing.redis_server import RedisServer, redis_binary
from custody.testing.site import SiteServer
from test_queue import Team, check_one_capture_per_job, finish, wait_for
from test_search import PAGES

pytestmark = pytest.mark.skipif(postgres_bin() is None and not os.environ.get("CI"),
                                reason="PostgreSQL is not installed (./scripts/setup --test)")
TABLES = ("captures", "resources", "documents", "images", "failures")


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="module")
def multilingual() -> Iterator[SiteServer]:
    with SiteServer(PAGES) as server:
        yield server


def found(runner: Custody, *args: str) -> set[str]:
    result = runner.ok("search", "--json", *args)
    return {h["url"].rsplit("/", 1)[1] for h in json.loads(result.stdout)}


def test_the_postgresql_index_answers_as_custody_db(custody: Custody, multilingual: SiteServer,
                                                    postgres: PostgresServer) -> None:
    custody.archive(*(multilingual.url + p for p in PAGES), extra=("--no-requisites",))
    custody.archive(multilingual.url + "/en.html")  # a second capture of one page
    out = custody.ok("reindex", "--db", postgres.url).stdout
    assert "2 captures copied, 0 removed" in out
    for table in TABLES:
        sql = f"select count(*) as n from {table}"
        here = custody.query(sql)
        there = json.loads(custody.ok("query", "--db", postgres.url, sql, "--json").stdout)
        assert here == there, table
    columns = "url, title, text, language, text_sha256, source, capture_id"
    sql = f"select {columns} from documents order by capture_id, url"
    assert custody.query(sql) == \
        json.loads(custody.ok("query", "--db", postgres.url, sql, "--json").stdout)
    searches = [
        (["ايران"], {"fa.html", "ar-letters.html"}),  # Arabic yeh finds Persian text
        (["کشتار"], {"ar-letters.html"}),  # Persian keheh finds Arabic kaf
        (["۱۲"], {"ar-letters.html"}),  # Persian digits find Arabic-Indic ones
        (["مردم"], {"fa.html", "ar-letters.html"}),  # the text has harakat
        (["میکنیم"], {"fa.html"}),  # the text has a ZWNJ
        (["Ирана"], {"ru.html"}), (["еще"], {"ru.html"}),  # word forms, ё
        (["Massacres"], {"en.html"}),
        (['"information blockade"'], {"en.html"}), (['"blockade information"'], set()),
        (["observers", "AND", "massacre"], {"en.html"}),
        (["observers", "NOT", "massacre"], {"en-other.html"}),
        (["massacre", "OR", "weather"], {"en.html", "en-other.html"}),
        (["blockad*"], {"en.html"}), (["правозащ*"], {"ru.html"}),
        (["互联网"], {"zh.html"}), (["政治犯"], {"zh.html"}),
        (["ایران", "--lang", "fa"], {"fa.html", "ar-letters.html"}),
        (["ایران", "--lang", "ru"], set()),
        (["massacre", "--site", "127.0.0.1"], {"en.html"}),
        (["massacre", "--until", "2000-01-01"], set()),
    ]
    for args, wanted in searches:
        here = found(custody, *args)
        assert here >= wanted and (wanted or not here), args
        assert found(custody, "--db", postgres.url, *args) == here, args  # the same answer
    hits = json.loads(custody.ok("search", "--db", postgres.url, "--json", "Statement").stdout)
    assert len(hits) == 2 and hits[0]["title"] == "Statement"  # both captures, by title
    assert "Reports of massacres" in hits[0]["snippet"]
    # it only reads; a second reindex has nothing to copy
    refused = custody("query", "--db", postgres.url, "delete from captures")
    assert refused.exit_code == 7 and "only reads" in refused.output
    assert "0 captures copied, 0 removed" in custody.ok("reindex", "--db", postgres.url).stdout


def test_bad_postgresql_input_is_one_line(custody: Custody, postgres: PostgresServer) -> None:
    for args, code in [(["query", "--db", "mysql://x/y", "select 1"], 2),
                       (["reindex", "--db", "http://x/"], 2),
                       (["query", "--db", "postgresql://custody@127.0.0.1:1/x", "select 1"], 3),
                       (["query", "--db", postgres.url, "select nonsense from nowhere"], 7),
                       (["search", "--db", postgres.url, "NOT"], 2)]:
        result = custody(*args)
        assert result.exit_code == code, (args, result.output)
        assert len(result.output.strip().splitlines()) == 1, result.output


@pytest.mark.skipif(redis_binary() is None and not os.environ.get("CI"),
                    reason="redis-server is not installed (./scripts/setup --test)")
def test_workers_fill_it_and_never_wait_for_it(tmp_path: Path,
                                               postgres: PostgresServer) -> None:
    host = Host("127.0.0.1", latency=0.05)
    try:
        with RedisServer(tmp_path / "redis") as redis:
            team = Team(tmp_path, redis.url)
            team.add_worker_key("w1")
            jobs = team.enqueue(*host.urls(12), options=("--batch", "2"))["jobs"]
            worker = team.worker("w1", "--db", postgres.url, "--exit-when-idle", "6")

            def in_postgres() -> int:
                done = subprocess.run(["psql", postgres.url, "-tAc",
                                       "select count(*) from captures"],
                                      capture_output=True, text=True)
                return int(done.stdout.strip() or 0) if done.returncode == 0 else -1

            wait_for(lambda: in_postgres() >= 2, what="two captures in PostgreSQL")
            postgres.stop()  # mid-crawl: the worker seals on, into custody.db
            wait_for(lambda: team.status()["totals"]["done"] == 12, what="every job")
            postgres.start()
            late = team.enqueue(host.urls(1, start=20)[0])["jobs"]  # a job after it is back
            out = finish(worker, timeout=120)[0]
            assert "the PostgreSQL index is not reachable" in out
            assert "reachable again" in out
            check_one_capture_per_job(team, jobs + late)
            assert in_postgres() == len(jobs) + 1  # every capture, copied once it came back
            code, report = team.verify()
            assert code == 0, report
    finally:
        host.close()
