"""An extraction worker that dies (as the OOM killer would kill one) fails nobody's
crawl: the pool is started again, the records it held are extracted again, and the
capture seals with every document, the same as a crawl whose workers lived."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import SEEDS, Custody
from custody.testing.site import SiteServer, crawl_site

CUSTODY = str(Path(sys.executable).with_name("custody"))


def crawl(custody: Custody, url: str, fault: str | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CUSTODY_ROOT=str(custody.root), CUSTODY_KEY=str(custody.key))
    if fault:
        env["CUSTODY_TEST_FAULT"] = fault
    return subprocess.run([CUSTODY, "archive", "--json", "--depth", "1", url], env=env,
                          capture_output=True, text=True, timeout=300)


def texts(custody: Custody, cid: str) -> dict[str, str]:
    return {d["url"].split("/", 3)[3]: d["text_sha256"]
            for d in custody.manifest(cid)["documents"]}


def test_a_dead_extraction_worker_costs_nothing(custody: Custody) -> None:
    with SiteServer(crawl_site(SEEDS, 24)) as site:
        calm = crawl(custody, site.url + "/", None)
        assert calm.returncode == 0, calm.stderr
        # each worker dies as it takes its second batch of records, every time
        killed = crawl(custody, site.url + "/", "extract.worker-batch@2")
    assert killed.returncode == 0, killed.stderr
    assert "Traceback" not in killed.stderr and "BrokenProcessPool" not in killed.stderr
    first, second = json.loads(calm.stdout)["capture_id"], json.loads(killed.stdout)[
        "capture_id"]
    assert json.loads(killed.stdout)["status"] == "success"
    assert len(texts(custody, first)) > 12
    assert texts(custody, second) == texts(custody, first)
    code, report = custody.verify()
    assert code == 0, [c for c in report["checks"] if c["outcome"] != "passed"]
