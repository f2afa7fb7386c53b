"""The warm worker (extract/warm.py): `custody archive` extracts its documents in a
worker forked at its start (the first of its workers), and what it seals is what
extraction in its own process gives, whether the worker lives or dies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import Custody
from custody.extract.workers import document_entry, extract_record, extractable
from custody.testing.site import SiteServer

CUSTODY = str(Path(sys.executable).with_name("custody"))
PAGES = ("/en.html", "/fa.html", "/ru.html", "/letter.html", "/signatories.html")

# run in a process of its own, as `custody archive` is: one thread, lingua not loaded
WARM = """
import json, os, signal, sys
from custody.extract.warm import WarmWorker
from custody.extract.workers import Extractor
root, records, kill = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
warm = WarmWorker.fork()
assert warm is not None
stored = []
class Store:
    def add_document(self, record_id, entry, document):
        stored.append(entry)
    def add_image(self, image):
        stored.append(image)
from pathlib import Path
extractor = Extractor(Path(root), warm=warm)
for i, record in enumerate(records):
    extractor.submit(record)
    if i == kill:  # the worker dies with some done, some sent, some not
        os.kill(warm.pid, signal.SIGKILL)
extractor.drain(Store())
assert extractor.warm is None and warm.pid is None  # ended, and waited for
print(json.dumps(stored))
"""


def archived(custody: Custody, site: SiteServer) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A capture made by the `custody` command (with its warm worker), and its records
    that were extracted."""
    env = dict(os.environ, CUSTODY_ROOT=str(custody.root), CUSTODY_KEY=str(custody.key))
    done = subprocess.run([CUSTODY, "archive", "--json", "--no-requisites",
                           *(site.url + p for p in PAGES)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    manifest = custody.manifest(json.loads(done.stdout)["capture_id"])
    return manifest, [r for r in manifest["records"] if extractable(r)]


def in_process(root: Path, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for record in records:
        doc = extract_record(root, record)
        assert doc is not None
        out.append(document_entry(doc))
    return out


def test_what_the_command_seals_is_what_extraction_here_gives(custody: Custody,
                                                               site: SiteServer) -> None:
    manifest, records = archived(custody, site)
    assert len(records) == len(PAGES)
    assert {d["metadata"]["language"] for d in manifest["documents"]} == {"en", "fa", "ru"}
    by_record = {d["record_id"]: d for d in manifest["documents"]}
    assert [by_record[r["record_id"]] for r in records] == in_process(custody.root, records)


def run_warm(root: Path, records: list[dict[str, Any]], kill: int = -1,
             fault: str | None = None) -> list[dict[str, Any]]:
    """What the extractor stores, its warm worker killed as the record ``kill`` is
    submitted (-1: never)."""
    env = dict(os.environ, **({"CUSTODY_TEST_FAULT": fault} if fault else {}))
    done = subprocess.run([sys.executable, "-c", WARM, str(root), json.dumps(records),
                           str(kill)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def test_the_worker_gives_what_extraction_here_gives_alive_or_killed(
        custody: Custody, site: SiteServer) -> None:
    _, records = archived(custody, site)
    expected = in_process(custody.root, records)
    assert run_warm(custody.root, records) == expected
    assert run_warm(custody.root, records, kill=1) == expected
    # a crawl's worth, past the handful a small capture has: the warm worker goes on as
    # one of the workers (with others, on more cores, whose answers come in any order)
    many, in_any_order = records * 6, sorted(json.dumps(e) for e in expected * 6)
    for kill in (-1, 2, 20):
        got = run_warm(custody.root, many, kill)
        assert sorted(json.dumps(e) for e in got) == in_any_order, kill


def test_an_answer_that_cannot_be_read_is_extracted_here(custody: Custody,
                                                          site: SiteServer) -> None:
    """Whatever reading the worker's answers raises (here MemoryError, as a huge answer
    might), the worker is ended and what it had not answered is extracted in the
    capture's process: nothing waits for an answer that will not come."""
    _, records = archived(custody, site)
    expected = sorted(json.dumps(e) for e in in_process(custody.root, records) * 6)
    got = run_warm(custody.root, records * 6, fault="extract.warm-answer@2:nomem")
    assert sorted(json.dumps(e) for e in got) == expected


# the worker stopped, as one far behind the crawl is busy: batches of a record padded to
# 20 kB each, 4 MB in all, far more than a socket holds
STOPPED = """
import json, os, signal, sys, time
from custody.extract.warm import WarmWorker
root, record = sys.argv[1], json.loads(sys.argv[2])
warm = WarmWorker.fork()
assert warm is not None
os.kill(warm.pid, signal.SIGSTOP)
began = time.monotonic()
futures = [warm.submit(root, [dict(record, padding="x" * 20_000)]) for _ in range(200)]
took = time.monotonic() - began
os.kill(warm.pid, signal.SIGCONT)
answers = [json.dumps(f.result(timeout=100)) for f in futures]
warm.close()
print(json.dumps({"took": took, "answers": len(answers), "alike": len(set(answers))}))
"""


def test_a_busy_worker_never_holds_the_crawl(custody: Custody, site: SiteServer) -> None:
    """Sending to a worker that does not read (busy far behind, here stopped) returns at
    once: the crawl is never held in the middle of storing a response, where a second
    Ctrl-C would leave it stored and not marked done, to be sealed twice by --resume."""
    _, records = archived(custody, site)
    done = subprocess.run([sys.executable, "-c", STOPPED, str(custody.root),
                           json.dumps(records[0])],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["took"] < 5, result
    assert (result["answers"], result["alike"]) == (200, 1)


def test_no_worker_is_forked_beside_threads_or_a_loaded_lingua() -> None:
    script = """
import sys, threading
from custody.extract.warm import WarmWorker
if sys.argv[1] == "thread":
    threading.Thread(target=threading.Event().wait, daemon=True).start()
else:
    import lingua
print(WarmWorker.fork() is None)
"""
    for case in ("thread", "lingua"):
        done = subprocess.run([sys.executable, "-c", script, case], capture_output=True,
                              text=True, timeout=60)
        assert done.stdout.strip() == "True", done.stderr
