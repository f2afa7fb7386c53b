"""A new archive asks public time-stamping authorities by default (issue 30): `init`
writes them into custody.toml with Mozilla's roots copied beside them; --tsa and
--no-tsa choose otherwise; an archive that has settings or captures keeps them. No
test here reaches a public authority: the local TSA stands in for one."""

from __future__ import annotations

import json
import tomllib
import warnings
from pathlib import Path
from typing import Any

from cryptography import x509

from conftest import Custody
from custody.seal.authorities import PUBLIC
from custody.testing.site import SiteServer


def _init(root: Path, key: Path, *args: str) -> Custody:
    runner = Custody(root, key)
    runner.ok("init", *args)
    return runner


def _settings(root: Path) -> dict[str, Any]:
    return tomllib.loads((root / "custody.toml").read_text(encoding="utf-8"))["timestamp"]


def test_a_new_archive_asks_three_public_authorities_on_mozillas_roots(tmp_path: Path) -> None:
    runner = Custody(tmp_path / "evidence", tmp_path / "key")
    said = runner("init", "--operator", "tester@example.org")
    assert said.exit_code == 0, said.output
    assert "each seal asks 3 time-stamping authorities" in said.stderr
    settings = _settings(runner.root)
    assert settings["tsa"] == [url for url, _ in PUBLIC]
    assert len({url.split("/")[2] for url in settings["tsa"]}) == 3  # three companies
    assert settings["roots"] == ["tsa-roots.pem"]
    pem = (runner.root / "tsa-roots.pem").read_bytes()
    assert pem.startswith(b"# TSA roots of this archive: Mozilla's CA bundle (certifi ")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every root reads cleanly, now and in later versions
        roots = x509.load_pem_x509_certificates(pem)
    names = {r.subject.rfc4514_string() for r in roots}
    assert len(roots) > 100
    for root in ("CN=DigiCert Trusted Root G4", "CN=USERTrust RSA Certification Authority",
                 "OU=GlobalSign Root CA - R6"):  # where the three authorities chain
        assert any(root in name for name in names), root
    assert runner.verify()[0] == 0


def test_a_token_is_checked_against_the_root_that_issued_it_among_many(
        tmp_path: Path, site: SiteServer, tsa: Any) -> None:
    """With a hundred roots trusted, a token still verifies against the one that issued
    its chain, and fails where none did."""
    runner = _init(tmp_path / "evidence", tmp_path / "key", "--operator", "t@example.org")
    bundle = (runner.root / "tsa-roots.pem").read_bytes()
    (runner.root / "tsa-roots.pem").write_bytes(bundle + tsa.root_pem.read_bytes())
    done = runner.archive(site.url + "/en.html", extra=("--tsa", tsa.url, "--no-requisites"))
    code, report = runner.verify(done["capture_id"])
    assert code == 0, report
    shown = runner.ok("show", done["capture_id"]).output
    assert "CN=custody test TSA" in shown, shown
    (runner.root / "tsa-roots.pem").write_bytes(bundle)  # its root no longer trusted
    code, report = runner.verify(done["capture_id"])
    assert code != 0
    failed = [c for c in report["checks"] if c["outcome"] == "failed"]
    assert any("no configured root issued it" in c["detail"] for c in failed), failed


def test_init_names_its_own_authority_or_none_and_timestamp_catches_up(
        tmp_path: Path, site: SiteServer, tsa: Any) -> None:
    own = _init(tmp_path / "own", tmp_path / "key", "--tsa", tsa.url,
                "--tsa-roots", str(tsa.root_pem))
    assert _settings(own.root)["tsa"] == [tsa.url]
    assert (own.root / "tsa-roots.pem").read_bytes() == tsa.root_pem.read_bytes()
    done = own.archive(site.url + "/en.html", extra=("--no-requisites",))
    assert (own.root / "manifests" / f"{done['capture_id']}.json.tsr").exists()
    assert own.verify()[0] == 0

    none = Custody(tmp_path / "none", tmp_path / "key")
    said = none("init", "--no-tsa")
    assert "no time-stamping authority is asked" in said.stderr
    assert _settings(none.root)["tsa"] == []
    result = none("archive", "--json", "--no-requisites", site.url + "/en.html")
    assert "custody: note: no RFC 3161 timestamp" in result.stderr
    capture_id = json.loads(result.stdout)["capture_id"]
    assert "timestamp none: no RFC 3161 token" in none.ok("show", capture_id).output
    (none.root / "tsa-roots.pem").write_bytes(tsa.root_pem.read_bytes())  # unnamed: used
    none.ok("timestamp", capture_id, "--tsa", tsa.url)
    assert "genTime" in none.ok("show", capture_id).output
    assert none.verify()[0] == 0


def test_settings_an_archive_has_are_kept_and_bad_choices_refused(tmp_path: Path,
                                                                  site: SiteServer) -> None:
    key = tmp_path / "key"
    old = _init(tmp_path / "old", key, "--no-tsa")
    old.archive(site.url + "/en.html", extra=("--no-requisites",))
    (old.root / "custody.toml").unlink()
    old.ok("init")  # an archive with captures: its settings stay as they are (none)
    assert not (old.root / "custody.toml").exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "custody.toml").write_text('[timestamp]\ntsa = ["https://tsa.example/tsr"]\n')
    _init(mine, key)
    assert _settings(mine) == {"tsa": ["https://tsa.example/tsr"]}
    assert not (mine / "tsa-roots.pem").exists()
    fresh = Custody(tmp_path / "fresh", key)
    for args in (("--no-tsa", "--tsa", "https://tsa.example/tsr"),
                 ("--tsa-roots", str(mine / "custody.toml")), ("--tsa", "ftp://tsa.example"),
                 ("--tsa", "not a url")):
        result = fresh("init", *args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.startswith("custody: error:") and \
            len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "fresh").exists()
    (mine / "custody.toml").write_text("timestamp = 1\n")
    result = Custody(mine, key)("archive", site.url + "/en.html")
    assert result.exit_code == 2 and "[timestamp] is a table" in result.output, result.output
