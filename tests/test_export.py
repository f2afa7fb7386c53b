"""custody export: a WACZ that py-wacz validates, pywb replays and standard tools check."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from conftest import PYWB, Custody, capture_id_of
from custody.seal.bundle import verify_commands


def tool(name: str) -> str:
    if not (PYWB / name).exists():
        pytest.skip(f"no {name} at {PYWB}: ./scripts/setup --test installs it")
    return str(PYWB / name)


def export(custody: Custody, out: Path, *ids: str) -> Any:
    return custody("export", *ids, "-o", str(out))


def run_verify_md(folder: Path) -> list[tuple[int, str, str]]:
    """Each command of the package's VERIFY.md, run as written in its folder."""
    results = []
    for command in verify_commands((folder / "custody" / "VERIFY.md").read_text()):
        done = subprocess.run(command, shell=True, cwd=folder, capture_output=True, text=True)
        results.append((done.returncode, command, done.stdout + done.stderr))
    return results


def test_exported_wacz_is_valid_replayable_and_checkable_without_custody(
        sealed: Custody, tmp_path: Path, wayback: Any) -> None:
    cid = capture_id_of(sealed)
    out = tmp_path / "evidence.wacz"
    result = export(sealed, out, cid)
    assert result.exit_code == 0, result.output
    validated = subprocess.run([tool("wacz"), "validate", "-f", str(out)],
                               capture_output=True, text=True)
    assert validated.returncode == 0 and "is valid" in validated.stdout, validated.stdout

    with zipfile.ZipFile(out) as package:
        names = package.namelist()
        warcs = [n for n in names if n.startswith("archive/")]
        assert warcs and all(package.getinfo(n).compress_type == zipfile.ZIP_STORED
                             for n in warcs)  # as the spec asks: seekable in place
        manifest = sealed.manifest(cid)
        for entry in manifest["warc_files"]:  # the sealed files, byte for byte
            inside = package.read("archive/" + Path(entry["path"]).name)
            assert inside == (sealed.root / entry["path"]).read_bytes()
        datapackage = json.loads(package.read("datapackage.json"))
        assert datapackage["wacz_version"] == "1.1.1"
        listed = {r["path"] for r in datapackage["resources"]}
        assert listed == set(names) - {"datapackage.json", "datapackage-digest.json"}
        pages = [json.loads(line) for line in package.read("pages/pages.jsonl").splitlines()]
        assert pages[0]["format"] == "json-pages-1.0"
        assert {p["url"] for p in pages[1:]} >= {manifest["seed_url"]}
        index = package.read("indexes/index.cdx").decode().splitlines()
        assert index == sorted(index)
        assert f"custody/{cid}.manifest.json" in names
        package.extractall(tmp_path / "unpacked")

    # every command VERIFY.md gives passes, with no custody involved
    for code, command, output in run_verify_md(tmp_path / "unpacked"):
        assert code == 0, (command, output)

    # pywb takes it in as a WACZ and replays every response byte for byte
    wayback.add(str(out), wacz=True)
    checked = 0
    for entry in manifest["warc_files"]:
        with open(sealed.root / entry["path"], "rb") as fh:
            for record in ArchiveIterator(fh):
                status = record.http_headers.get_statuscode() if record.http_headers else None
                if record.rec_type == "response" and status == "200":
                    uri = record.rec_headers.get_header("WARC-Target-URI")
                    with urllib.request.urlopen(f"{wayback.base}/id_/{uri}") as answer:
                        assert answer.read() == record.content_stream().read(), uri
                    checked += 1
    assert checked >= 3

    # the export is in the custody log
    log = sealed.ok("log", "--json").stdout
    assert any(event["event"] == "exported" and event["details"]["capture_ids"] == [cid]
               for event in json.loads(log))


def test_a_changed_byte_inside_the_wacz_shows(sealed: Custody, tmp_path: Path) -> None:
    cid = capture_id_of(sealed)
    out = tmp_path / "evidence.wacz"
    assert export(sealed, out, cid).exit_code == 0
    with zipfile.ZipFile(out) as package:
        package.extractall(tmp_path / "unpacked")
    warc = next((tmp_path / "unpacked" / "archive").iterdir())
    data = bytearray(warc.read_bytes())
    data[len(data) // 2] ^= 1
    warc.write_bytes(bytes(data))
    outcomes = run_verify_md(tmp_path / "unpacked")
    assert any(code != 0 and "files OK" in command for code, command, _ in outcomes)
    changed = tmp_path / "changed.wacz"
    shutil.make_archive(str(changed.with_suffix("")), "zip", tmp_path / "unpacked")
    changed.with_suffix(".zip").rename(changed)
    validated = subprocess.run([tool("wacz"), "validate", "-f", str(changed)],
                               capture_output=True, text=True)
    assert validated.returncode != 0


def test_export_refuses_what_it_cannot_stand_behind(sealed: Custody, tmp_path: Path) -> None:
    cid = capture_id_of(sealed)
    out = tmp_path / "evidence.wacz"
    out.write_bytes(b"kept")
    exists = export(sealed, out, cid)
    assert exists.exit_code == 2 and out.read_bytes() == b"kept"  # nothing overwritten
    missing = export(sealed, tmp_path / "none.wacz", "20991231T000000Z-00000000")
    assert missing.exit_code == 8
    warc = sealed.root / sealed.manifest(cid)["warc_files"][0]["path"]
    data = bytearray(warc.read_bytes())
    data[-10] ^= 1
    warc.write_bytes(bytes(data))
    tampered = export(sealed, tmp_path / "tampered.wacz", cid)
    assert tampered.exit_code == 1 and "not the file its manifest seals" in tampered.output
    assert not list(tmp_path.glob("*tampered*"))  # no file, no partial one
    assert sorted(p.name for p in tmp_path.glob("*.wacz*")) == ["evidence.wacz"]


def test_timestamped_captures_export_with_their_tokens(stamped: Custody, tmp_path: Path) -> None:
    """Several captures in one package, each with its RFC 3161 token, which openssl
    checks against the TSA roots the package carries."""
    ids = [p.stem for p in sorted((stamped.root / "manifests").glob("*.json"))]
    out = tmp_path / "three.wacz"
    assert export(stamped, out, *ids).exit_code == 0
    with zipfile.ZipFile(out) as package:
        names = set(package.namelist())
        package.extractall(tmp_path / "unpacked")
    for cid in ids:
        assert {f"custody/{cid}.manifest.json", f"custody/{cid}.manifest.json.tsr",
                f"custody/{cid}.inclusion-proof.json"} <= names
    outcomes = run_verify_md(tmp_path / "unpacked")
    assert sum(1 for _, command, _ in outcomes if command.startswith("openssl ts -verify")) \
        == len(ids)
    for code, command, output in outcomes:
        assert code == 0, (command, output)


def test_request_records_name_the_page_so_peers_find_pages(sealed: Custody,
                                                           tmp_path: Path) -> None:
    """Requisites are fetched with the Referer a browser sends, so `wacz create
    --detect-pages` (which counts a page when another request names it) finds the pages."""
    cid = capture_id_of(sealed)
    warcs = [str(sealed.root / e["path"]) for e in sealed.manifest(cid)["warc_files"]]
    referers = {}
    for path in warcs:
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type == "request":
                    referers[record.rec_headers.get_header("WARC-Target-URI")] = \
                        record.http_headers.get_header("Referer")
    content = sealed.manifest(cid)
    seeds = {*content["seed_urls"], *content["final_urls"].values()}  # navigations
    assert all(referer is None for url, referer in referers.items() if url in seeds)
    needed = {url: referer for url, referer in referers.items()  # the sample's requisites
              if url not in seeds and ("/static/" in url or url.endswith("/embed.html"))}
    assert needed and all(needed.values()), needed  # each requisite names who needs it
    out = tmp_path / "detected.wacz"
    made = subprocess.run([tool("wacz"), "create", "-o", str(out), "--detect-pages", *warcs],
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stdout + made.stderr
    with zipfile.ZipFile(out) as package:
        lines = package.read("pages/pages.jsonl").decode().splitlines()[1:]
    detected = {json.loads(line)["url"] for line in lines}
    # the pages their requisites name (which page asked first for a shared stylesheet
    # depends on which was fetched first)
    assert detected and detected <= set(needed.values()), (detected, needed)


def test_index_keys_are_the_ones_pywb_makes(custody: Custody, tmp_path: Path) -> None:
    """The WACZ's CDXJ keys, for URLs whose SURT form takes canonicalising (escapes,
    dot segments, a doubled slash, a query's order, a trailing slash), are those pywb's
    own indexer makes from the same WARC files: a key that differed would break
    lookups in the tools that read the WACZ."""
    from custody.testing.site import Page, SiteServer

    paths = ["/%7Euser/", "/caf%C3%A9?b=2&a=1", "/a/./b/../c", "//double", "/Upper/Case?Z=1",
             "/sp%20ace", "/q?x=%41&y"]
    pages = {"/": Page(("<html><body>" + "".join(f'<a href="{p}">{p}</a>' for p in paths) +
                        "</body></html>").encode(), "text/html; charset=utf-8")}
    for path in paths:
        pages[path] = Page(b"<html><body>page</body></html>", "text/html; charset=utf-8")
    with SiteServer(pages) as site:
        custody.archive(site.url + "/", *(site.url + p for p in paths))
    out = tmp_path / "out.wacz"
    assert export(custody, out, capture_id_of(custody)).exit_code == 0
    with zipfile.ZipFile(out) as wacz:
        index = next(n for n in wacz.namelist() if n.startswith("indexes/"))
        ours = {tuple(line.split(" ", 2)[:2]) for line in
                wacz.read(index).decode().splitlines() if line}
    warcs = [str(p) for p in (custody.root / "archive").rglob("*.warc.gz")]
    theirs_text = subprocess.run([tool("cdxj-indexer"), *warcs], capture_output=True,
                                 text=True, check=True).stdout
    theirs = {tuple(line.split(" ", 2)[:2]) for line in theirs_text.splitlines()
              if line and not line.startswith("!")}
    assert ours and ours <= theirs, sorted(ours - theirs)
