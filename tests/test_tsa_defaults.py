"""A new archive asks public time-stamping authorities by default (issue 30): `init`
writes them into custody.toml with their three roots, from Mozilla's bundle, copied
beside them; --tsa and --no-tsa choose otherwise; an archive that has settings or
captures keeps them. A token is trusted only through a configured root. No test here
reaches a public authority: local TSAs stand in for them."""

from __future__ import annotations

import hashlib
import json
import tomllib
import warnings
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from conftest import Custody
from custody.seal import timestamp
from custody.seal.authorities import PUBLIC
from custody.testing.site import SiteServer
from custody.testing.tsa import LocalTSA


def _init(root: Path, key: Path, *args: str) -> Custody:
    runner = Custody(root, key)
    runner.ok("init", *args)
    return runner


def _settings(root: Path) -> dict[str, Any]:
    return tomllib.loads((root / "custody.toml").read_text(encoding="utf-8"))["timestamp"]


def _token_checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in report["checks"] if c["check"] == "timestamp"]


def test_a_new_archive_asks_three_public_authorities_on_their_three_roots(
        tmp_path: Path) -> None:
    runner = Custody(tmp_path / "evidence", tmp_path / "key")
    said = runner("init", "--operator", "tester@example.org")
    assert said.exit_code == 0, said.output
    assert "each seal asks 3 time-stamping authorities" in said.stderr
    assert "not in certifi's bundle" not in said.stderr
    settings = _settings(runner.root)
    assert settings["tsa"] == [a.url for a in PUBLIC]
    assert len({url.split("/")[2] for url in settings["tsa"]}) == 3  # three companies
    assert settings["roots"] == ["tsa-roots.pem"]
    pem = (runner.root / "tsa-roots.pem").read_bytes()
    assert pem.startswith(b"# TSA roots of this archive: Mozilla's CA bundle (certifi ")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every root reads cleanly, now and in later versions
        roots = x509.load_pem_x509_certificates(pem)
    # those three roots, no other: a token of any other hierarchy is not trusted
    assert sorted(r.subject.rfc4514_string() for r in roots) == sorted(a.root for a in PUBLIC)
    assert runner.verify()[0] == 0


def test_only_a_configured_root_is_trusted(tmp_path: Path, site: SiteServer,
                                           tsa: Any) -> None:
    """A token whose chain ends at a root of the same name but another key -- as a forger
    would make one, carrying its own root -- is not trusted, and neither is a sound token
    of an authority the archive does not trust: both are unchecked, named, never passed;
    a token that is not sound at all fails. With the archive's roots and a hundred more
    beside, its own authority's token passes."""
    runner = _init(tmp_path / "evidence", tmp_path / "key", "--tsa", tsa.url,
                   "--tsa-roots", str(tsa.root_pem))
    done = runner.archive(site.url + "/en.html", extra=("--no-requisites",))
    code, report = runner.verify(done["capture_id"])
    assert code == 0, report
    with LocalTSA(tmp_path / "forger") as forger:  # its root: the same name, its own key
        other = runner.archive(site.url + "/fa.html", extra=("--no-requisites", "--tsa",
                                                              forger.url))
    code, report = runner.verify(other["capture_id"])
    assert code == 6, report  # incomplete: nothing was found false, nor trusted
    (check,) = [c for c in _token_checks(report) if c["subject"].startswith(other["capture_id"])]
    assert check["outcome"] == "unchecked", check
    assert "its chain ends at CN=custody test TSA root (sha256 " in check["detail"]
    assert "not among the archive's trusted TSA roots" in check["detail"]
    shown = runner.ok("show", other["capture_id"]).output
    assert "verifies  incomplete" in shown and "not among the archive's trusted" in shown
    # the token's own signature broken: no root makes it sound
    token = runner.root / "manifests" / f"{other['capture_id']}.json.tsr"
    data = bytearray(token.read_bytes())
    data[-10] ^= 0x01
    result = timestamp.check_token(bytes(data), bytes(32), [])
    assert result.outcome != "passed"
    roots = x509.load_pem_x509_certificates(tsa.root_pem.read_bytes())
    message = (runner.root / "manifests" / f"{other['capture_id']}.json").read_bytes()
    digest = hashlib.sha256(message).digest()
    assert timestamp.check_token(bytes(data), digest, roots).outcome == "failed"


def test_init_names_its_own_authority_or_none_and_timestamp_catches_up(
        tmp_path: Path, site: SiteServer, tsa: Any) -> None:
    own = _init(tmp_path / "own", tmp_path / "key", "--tsa", tsa.url, "--tsa", tsa.url + "?b",
                "--tsa-roots", str(tsa.root_pem))
    assert _settings(own.root)["tsa"] == [tsa.url, tsa.url + "?b"]
    assert (own.root / "tsa-roots.pem").read_bytes().endswith(tsa.root_pem.read_bytes())
    done = own.archive(site.url + "/en.html", extra=("--no-requisites",))
    manifests = own.root / "manifests"
    assert (manifests / f"{done['capture_id']}.json.2.tsr").exists()  # one from each
    # the checkpoint's date needs one token: each authority is asked once per capture
    assert len(list((manifests / "ledger" / "checkpoints").glob("*.tsr"))) == 1
    assert own.verify()[0] == 0

    none = Custody(tmp_path / "none", tmp_path / "key")
    said = none("init", "--no-tsa")
    assert "no time-stamping authority is asked" in said.stderr
    assert _settings(none.root)["tsa"] == []
    result = none("archive", "--json", "--no-requisites", site.url + "/en.html")
    assert "custody: note: no RFC 3161 timestamp" in result.stderr
    capture_id = json.loads(result.stdout)["capture_id"]
    assert "timestamp none: no RFC 3161 token" in none.ok("show", capture_id).output
    # a wrong address, or an authority that does not answer: said, and nothing owed after
    wrong = none("timestamp", capture_id, "--tsa", "notaurl")
    assert wrong.exit_code == 2 and "http:// or https://" in wrong.output, wrong.output
    failed = none("timestamp", capture_id, "--tsa", "http://127.0.0.1:1/no-tsa")
    assert failed.exit_code == 5 and "custody: failed:" in failed.output, failed.output
    assert not list((none.root / "manifests").glob("*.pending"))
    assert none.verify()[0] == 0 and "timestamp none" in none.ok("show", capture_id).output
    (none.root / "tsa-roots.pem").write_bytes(tsa.root_pem.read_bytes())  # unnamed: used
    none.ok("timestamp", capture_id, "--tsa", tsa.url)
    assert "genTime" in none.ok("show", capture_id).output
    assert none.verify()[0] == 0


def test_an_authority_that_does_not_answer_is_asked_once(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/tsr"  # nothing listens there
    with pytest.raises(timestamp.Unavailable, match="refused"):
        timestamp.request_token(url, b"a manifest")
    with pytest.raises(timestamp.Unavailable, match="not asked again yet"):
        timestamp.request_token(url, b"its checkpoint")


def test_timestamp_offline_says_each_authority_once_and_what_is_left(
        tmp_path: Path, site: SiteServer) -> None:
    runner = _init(tmp_path / "a", tmp_path / "key", "--tsa", "http://127.0.0.1:9/tsr")
    for page in ("/en.html", "/fa.html", "/ru.html"):
        done = runner("archive", "--no-requisites", site.url + page)
        assert done.exit_code == 0, done.output
    again = runner("timestamp")  # every pending capture, the authority still away
    assert again.exit_code == 5
    lines = again.stderr.strip().splitlines()
    assert len(lines) == 2, lines  # the authority's failure once, then what is left
    assert lines[0].startswith("custody: failed: http://127.0.0.1:9/tsr")
    assert lines[1] == ("custody: 3 of 3 capture(s) still without a token: `custody "
                        "timestamp` asks again")


def test_settings_an_archive_has_are_kept_and_bad_choices_refused(
        tmp_path: Path, site: SiteServer, tsa: Any) -> None:
    key = tmp_path / "key"
    old = _init(tmp_path / "old", key, "--no-tsa")
    old.archive(site.url + "/en.html", extra=("--no-requisites",))
    (old.root / "custody.toml").unlink()
    old.ok("init")  # an archive with captures: its settings stay as they are (none)
    assert not (old.root / "custody.toml").exists()
    for args in (("--no-tsa",), ("--tsa", tsa.url)):  # asked to change them: said, not done
        result = old("init", *args)
        assert result.exit_code == 2 and "edit custody.toml" in result.output, result.output
    assert not (old.root / "custody.toml").exists()

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "custody.toml").write_text('[timestamp]\ntsa = ["https://tsa.example/tsr"]\n')
    _init(mine, key)
    assert _settings(mine) == {"tsa": ["https://tsa.example/tsr"]}
    assert not (mine / "tsa-roots.pem").exists()

    placed = tmp_path / "placed"  # a folder given its roots before init: they are kept
    placed.mkdir()
    (placed / "tsa-roots.pem").write_bytes(tsa.root_pem.read_bytes())
    said = Custody(placed, key)("init")
    assert "tsa-roots.pem kept as it was" in said.stderr
    assert (placed / "tsa-roots.pem").read_bytes() == tsa.root_pem.read_bytes()
    assert _settings(placed)["tsa"] == [a.url for a in PUBLIC]

    fresh = Custody(tmp_path / "fresh", key)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("no certificate here\n")
    for args in (("--no-tsa", "--tsa", "https://tsa.example/tsr"),
                 ("--tsa-roots", str(tsa.root_pem)), ("--tsa", "ftp://tsa.example"),
                 ("--tsa", "not a url"), ("--tsa", "http://[::1"),
                 ("--tsa", "http://tsa.example:99999/"),
                 ("--tsa", "https://user:secret@tsa.example/tsr"),
                 ("--tsa", "http://a\udcff.example/"),
                 ("--tsa", tsa.url, "--tsa-roots", str(garbage)),
                 ("--tsa", tsa.url, "--tsa-roots", str(tmp_path / "absent.pem"))):
        result = fresh("init", *args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.startswith("custody: error:") and \
            len(result.output.strip().splitlines()) == 1, result.output
        assert "secret" not in result.output
    assert not (tmp_path / "fresh").exists()

    half = tmp_path / "half"  # an init that stopped after making the folders
    (half / "manifests").mkdir(parents=True)
    _init(half, key, "--no-tsa")
    assert _settings(half)["tsa"] == []

    (mine / "custody.toml").write_text("timestamp = 1\n")
    result = Custody(mine, key)("archive", site.url + "/en.html")
    assert result.exit_code == 2 and "[timestamp] must be a table" in result.output, \
        result.output
