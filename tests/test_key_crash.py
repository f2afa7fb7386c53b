"""`custody key add` and `custody key rotate` killed after each of their writes: the
archive still verifies, nothing signs with a key no event admits, and running the
command again completes it (one event, the files where a finished one leaves them)."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import pytest

from conftest import Custody
from custody.core import keyfile, sshsig
from custody.testing.site import SiteServer
from test_crash import passes, run_custody

ROTATION_STEPS = ["key.new", "key.journal", "key.event", "key.signers", "key.retired",
                  "key.swap"]


@pytest.fixture
def mine(sealed: Custody, tmp_path: Path) -> Custody:
    """The sample archive with a copy of its key, which the test may rotate."""
    key = tmp_path / "key" / "id_ed25519"
    key.parent.mkdir()
    shutil.copy2(sealed.key, key)
    shutil.copy2(sealed.key.with_name("id_ed25519.pub"), key.with_name("id_ed25519.pub"))
    return Custody(sealed.root, key)


def events(custody: Custody, kind: str) -> list[dict]:
    log = custody.root / "manifests" / "ledger" / "log.jsonl"
    return [e for e in map(json.loads, log.read_text().splitlines()) if e["event"] == kind]


@pytest.mark.parametrize("step", ROTATION_STEPS)
def test_a_rotation_killed_at_each_step_is_completed(mine: Custody, site: SiteServer,
                                                     step: str) -> None:
    sealed = mine
    old = sshsig.fingerprint(keyfile.load_key(sealed.key).public_key())
    killed = run_custody(sealed, "key", "rotate", fault=step)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    passes(sealed)  # an interrupted rotation breaks nothing sealed
    if step != "key.new":  # the journal is written: the archive says what to do
        archive = run_custody(sealed, "archive", site.url + "/en.html")
        assert archive.returncode == 4, archive.stderr
        assert "run `custody key rotate` again" in archive.stderr
    again = run_custody(sealed, "key", "rotate")
    assert again.returncode == 0, again.stderr
    assert ("completed an interrupted rotation" in again.stdout) == (step != "key.new")
    new = sshsig.fingerprint(keyfile.load_key(sealed.key).public_key())
    assert new != old
    rotated = events(sealed, "key-rotated")
    assert [(e["details"]["old"], e["details"]["new"]) for e in rotated] == [(old, new)]
    retired = list(sealed.key.parent.glob("id_ed25519.retired-*"))
    assert sorted(p.name.endswith(".pub") for p in retired) == [False, True]
    assert not (sealed.root / ".custody" / "rotating.json").exists()
    assert not list(sealed.key.parent.glob("*.new*"))
    sealed.archive(site.url + "/en.html")  # the new key signs, and verifies
    passes(sealed)


def test_an_admission_killed_before_its_event_is_completed(sealed: Custody,
                                                          tmp_path: Path) -> None:
    other = tmp_path / "other" / "id_ed25519"
    public = keyfile.create_key(other).public_key()
    pub = other.with_name("id_ed25519.pub")
    args = ("key", "add", str(pub), "--operator", "B. Researcher <br@example.org>")
    killed = run_custody(sealed, *args, fault="key.signer-line")
    assert killed.returncode == -signal.SIGKILL
    passes(sealed)
    again = run_custody(sealed, *args)
    assert again.returncode == 0, again.stderr
    added = [e for e in events(sealed, "key-added")
             if e["details"]["key"] == sshsig.fingerprint(public)]
    assert len(added) == 1
    twice = run_custody(sealed, *args)
    assert twice.returncode == 2 and "already" in twice.stderr
    passes(sealed)


@pytest.mark.parametrize("command", ["bundle", "report", "export"])
@pytest.mark.parametrize("fault", ["log.event", "log.head"])
def test_a_handover_killed_while_logging_it_is_whole_after(sealed: Custody, tmp_path: Path,
                                                          command: str, fault: str) -> None:
    """bundle, report and export log what they hand over: killed after the event, before
    or after its signed head, the archive verifies (the event past the head a note), and
    the next command that writes signs the head over it."""
    from conftest import capture_id_of

    cid = capture_id_of(sealed)
    def args(name: str) -> tuple[str, ...]:
        target = tmp_path / name
        return {"bundle": ("bundle", cid, "-o", str(target)),
                "report": ("report", cid, "-o", f"{target}.html"),
                "export": ("export", cid, "-o", f"{target}.wacz")}[command]

    killed = run_custody(sealed, *args("first"), fault=fault)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # the capture alone, first (a verify with the key at hand logs, and signs the head
    # over what is before): its event past the head is said
    code, named = sealed.verify(cid)
    assert code == 0, [c for c in named["checks"] if c["outcome"] != "passed"]
    past = [n for n in named["notes"] if "is after the log's signed head" in n]
    assert len(past) == (fault == "log.event"), named["notes"]
    code, report = sealed.verify()
    assert code == 0, [c for c in report["checks"] if c["outcome"] != "passed"]
    handed = {"bundle": "bundled", "report": "reported", "export": "exported"}[command]
    assert len(events(sealed, handed)) == 1
    again = run_custody(sealed, *args("again"))
    assert again.returncode == 0, again.stderr
    passes(sealed)
    assert len(events(sealed, handed)) == 2


@pytest.mark.parametrize("command", ["bundle", "report", "export"])
def test_a_handover_killed_before_its_event_leaves_no_copy(sealed: Custody, tmp_path: Path,
                                                         command: str) -> None:
    """Killed once its copy is written and before the custody log records it, a hand-over
    leaves no copy under the name asked for (only a hidden partial one, which the next
    attempt removes): no finished copy goes out unrecorded. Run again, it hands over
    once, and its event names the copy's sha256."""
    import hashlib

    from conftest import capture_id_of

    cid = capture_id_of(sealed)
    target = tmp_path / {"bundle": "b", "report": "r.html", "export": "e.wacz"}[command]
    args = {"bundle": ("bundle", cid, "-o", str(target)),
            "report": ("report", cid, "-o", str(target)),
            "export": ("export", cid, "-o", str(target))}[command]
    handed = {"bundle": "bundled", "report": "reported", "export": "exported"}[command]
    before = len(events(sealed, handed))
    killed = run_custody(sealed, *args, fault="handover.written")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == \
        [f".{target.name}.custody-partial"]
    assert len(events(sealed, handed)) == before
    passes(sealed)
    again = run_custody(sealed, *args)
    assert again.returncode == 0, again.stderr
    assert target.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    (event,) = events(sealed, handed)[before:]
    sums = target / "SHA256SUMS" if command == "bundle" else target
    assert event["details"]["sha256sums" if command == "bundle" else "sha256"] == \
        hashlib.sha256(sums.read_bytes()).hexdigest()


def test_a_handover_to_a_link_or_to_here_is_said_before_anything_is_logged(
        sealed: Custody, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bundle into a symbolic link to a folder is refused before anything is written
    or logged (a copy logged and then lost would be worse than none); `-o .` in an empty
    folder is that folder."""
    from conftest import capture_id_of

    cid = capture_id_of(sealed)
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    before = len(events(sealed, "bundled"))
    for name in ("link", "dangling"):
        refused = run_custody(sealed, "bundle", cid, "-o", str(tmp_path / name))
        assert refused.returncode == 2 and "symbolic link" in refused.stderr, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    assert len(events(sealed, "bundled")) == before
    assert not list((tmp_path / "real").iterdir())
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    done = run_custody(sealed, "bundle", cid, "-o", ".")
    assert done.returncode == 0, done.stderr
    assert (here / "SHA256SUMS").exists() and len(events(sealed, "bundled")) == before + 1
    passes(sealed)
