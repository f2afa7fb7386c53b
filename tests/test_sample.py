"""The committed sample archive must keep verifying: a golden test of the on-disk format."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import Custody

REPO = Path(__file__).parent.parent


def copy_sample(tmp_path: Path) -> Custody:
    root = tmp_path / "sample"
    root.mkdir()
    for name in ("archive", "manifests"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "allowed_signers", root / "allowed_signers")
    return Custody(root, tmp_path / "no-key-needed")


def test_sample_archive_verifies(tmp_path: Path) -> None:
    sample = copy_sample(tmp_path)
    code, report = sample.verify()
    # no database is committed: everything else passes, the database is not checkable
    assert code == 6, report
    assert report["summary"]["failed"] == 0
    sample.ok("reindex")
    code, report = sample.verify()
    assert code == 0, [c for c in report["checks"] if c["outcome"] != "passed"]
    assert report["summary"]["passed"] > 30


def test_sample_is_signed_by_the_demo_key() -> None:
    demo_pub = (REPO / "tests" / "data" / "demo-key" / "id_ed25519.pub").read_text().split()[1]
    assert demo_pub in (REPO / "allowed_signers").read_text()


def test_sample_holds_the_seed_pages_in_every_language(tmp_path: Path) -> None:
    sample = copy_sample(tmp_path)
    sample.ok("reindex")
    langs = {r["language"] for r in sample.query("select language from documents")}
    assert {"en", "fa", "ru"} <= langs
