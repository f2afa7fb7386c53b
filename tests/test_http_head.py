"""Where an HTTP head ends: custody's payload digest is the one warcio computes, for heads
with bare LF line ends, lines of white space and text in any encoding; `custody check`
still accepts a digest taken the way custody took it before (after the first CRLF CRLF)."""

from __future__ import annotations

import gzip
import hashlib
import io
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from conftest import Custody, needs_chromium
from custody.browser.relay import Relay
from custody.capture.fetch import Exchange
from custody.check.run import check_file
from custody.testing.raw import RawServer
from custody.warc.http_head import HeadEnd, head_end
from custody.warc.payload import split_head
from custody.warc.records import WarcWriter

WARCIO = str(Path(sys.executable).with_name("warcio"))
ENDS = [b"\r\n", b"\n"]
# lines that are blank to warcio, or look it: white space in ASCII, Latin-1 and UTF-8,
# a bare CR, Persian text, bytes that are not UTF-8
LINES = [b"\r\n", b"\n", b" \r\n", b"\t\n", b"\xc2\xa0\n", b"\xa0\n", b"\xe3\x80\x80\r\n",
         b"\x85\n", b"\xd8\xb3\xd9\x84\xd8\xa7\xd9\x85\n", b"\x1c\n", b"\x0c\r\n", b"\r\r\n",
         b"\xff\xfe\n", b"  \xc2\x85\n", b"\r", b"\xe2\x80\xa8\n", b"\xe2\x80\x8b\n"]


def generated(rng: random.Random) -> bytes:
    block = b"HTTP/1.1 200 OK" + rng.choice(ENDS)
    for _ in range(rng.randint(0, 5)):
        pick = rng.random()
        if pick < 0.5:
            block += b"Content-Type: text/html" + rng.choice(ENDS)
        elif pick < 0.8:
            block += rng.choice(LINES)
        else:
            block += b"X-Odd: " + bytes(rng.randrange(256) for _ in range(6)) + rng.choice(ENDS)
    return block + b"".join(rng.choice([*LINES, b"<p>body</p>", b"\r\n\r\n", b"x" * 40])
                            for _ in range(rng.randint(0, 12)))


def warcio_payloads(path: Path) -> list[str]:
    with open(path, "rb") as fh:
        return [hashlib.sha256(r.raw_stream.read()).hexdigest() for r in ArchiveIterator(fh)
                if r.rec_type == "response"]


def test_payload_digest_is_warcios_on_every_kind_of_head(tmp_path: Path) -> None:
    rng = random.Random(20261207)
    blocks = [generated(rng) for _ in range(600)]
    writer = WarcWriter(tmp_path, "heads.warc.gz")
    entries = [writer.write("response", block, target_uri="http://example.org/",
                            content_type="application/http; msgtype=response")
               for block in blocks]
    writer.close()
    path = tmp_path / "heads.warc.gz"
    peer = warcio_payloads(path)
    empty = hashlib.sha256(b"").hexdigest()
    for block, entry, theirs in zip(blocks, entries, peer, strict=True):
        # a head that never ends gets no payload digest; warcio then reads no payload
        assert entry.payload_sha256 in (theirs, None), block
        assert entry.payload_sha256 is not None or theirs == empty, block
        end = head_end(block)
        finder, fed, found = HeadEnd(), 0, None  # the same end, fed in any pieces
        while found is None and fed < len(block):
            step = rng.randint(1, 9)
            at = finder.feed(memoryview(block)[fed : fed + step])
            found = None if at is None else fed + at
            fed += step
        assert found == end, block
    assert sum(e.payload_sha256 is None for e in entries) < 60  # most heads end
    assert len({block[: head_end(block)] for block in blocks if head_end(block)}) > 300
    ok = subprocess.run([WARCIO, "check", "-v", str(path)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout
    assert "payload digest failed" not in ok.stdout
    assert check_file(path).status == "passed"


def record(block: bytes, payload: bytes) -> bytes:
    fields = [("WARC-Type", "response"),
              ("WARC-Record-ID", "<urn:uuid:00000000-0000-4000-8000-000000000001>"),
              ("WARC-Date", "2026-11-21T10:15:00Z"), ("WARC-Target-URI", "http://example.org/"),
              ("WARC-Block-Digest", "sha256:" + hashlib.sha256(block).hexdigest()),
              ("WARC-Payload-Digest", "sha256:" + hashlib.sha256(payload).hexdigest()),
              ("Content-Type", "application/http; msgtype=response"),
              ("Content-Length", str(len(block)))]
    head = "WARC/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields) + "\r\n"
    return head.encode() + block + b"\r\n\r\n"


def test_check_accepts_the_old_digest_with_a_note_and_nothing_else(tmp_path: Path) -> None:
    head = b"HTTP/1.1 200 OK\nContent-Type: text/html\n\n"
    body = b"<html>\r\n\r\n<p>\xd8\xa8\xdb\x8c\xd8\xa7\xd9\x86\xdb\x8c\xd9\x87</p>"
    block = head + body
    path = tmp_path / "one.warc"
    outcomes = {}
    for name, payload in (("warcio", body), ("old", body[len(b"<html>\r\n\r\n"):]),
                          ("neither", body[1:]), ("whole", block)):
        path.write_bytes(record(block, payload))
        checked = check_file(path)
        notes = [n for n in checked.report.notes if "first CRLF CRLF" in n]
        outcomes[name] = (checked.status, len(notes))
    assert outcomes == {"warcio": ("passed", 0), "old": ("passed", 1),
                        "neither": ("failed", 0), "whole": ("failed", 0)}
    path.write_bytes(record(block, body))
    assert subprocess.run([WARCIO, "check", str(path)]).returncode == 0


# a page whose server ends its head's lines with a bare LF, a blank CRLF line in its body
BARE_LF_BODY = (b"<html><head><title>LF</title></head>\r\n\r\n<body><p>Bayanieh: "
                b"\xd8\xa8\xdb\x8c\xd8\xa7\xd9\x86\xdb\x8c\xd9\x87</p></body></html>")
BARE_LF_WIRE = (b"HTTP/1.1 200 OK\nContent-Type: text/html; charset=utf-8\n"
                b"Content-Length: %d\n\n" % len(BARE_LF_BODY)) + BARE_LF_BODY


def test_a_bare_lf_server_is_archived_as_sent_and_checks_everywhere(custody: Custody) -> None:
    body, wire = BARE_LF_BODY, BARE_LF_WIRE
    with RawServer(wire) as url:
        result = custody.archive(url, extra=("--no-requisites",))
    manifest = custody.manifest(result["capture_id"])
    (response,) = [r for r in manifest["records"] if r["type"] == "response"]
    assert response["payload_sha256"] == hashlib.sha256(body).hexdigest()
    (row,) = custody.query("select payload_sha256 from resources")
    assert row["payload_sha256"] == response["payload_sha256"]
    (doc,) = custody.query("select text from documents")
    assert "بیانیه" in doc["text"]
    files = [str(custody.root / f["path"]) for f in manifest["warc_files"]]
    ok = subprocess.run([WARCIO, "check", "-v", *files], capture_output=True, text=True)
    assert ok.returncode == 0 and "payload digest failed" not in ok.stdout, ok.stdout
    assert custody.verify()[0] == 0
    assert custody("check", *files).exit_code == 0


@needs_chromium
def test_the_browser_is_given_a_bare_lf_head_as_its_head(custody: Custody) -> None:
    """The recording proxy passes such a head on as a head (once 502, or body text)."""
    with RawServer(BARE_LF_WIRE) as url:
        result = custody.archive(url, extra=("--browser", "--page-timeout", "10",
                                             "--no-requisites"))
    assert result["status"] == "success", result
    texts = [row["text"] for row in custody.query("select text from documents")]
    assert texts and all(text == "Bayanieh: بیانیه" for text in texts), texts
    assert custody.verify()[0] == 0


def test_the_browser_gets_the_head_an_http_client_reads() -> None:
    """A line of white space alone continues the field before it, to h11 and browsers;
    the head passed on is framed so (warcio's end is for the payload digest alone), and
    found in linear time however the head is split."""
    body = b"<p>first</p>\r\n\r\n<p>second</p>"
    wire = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-A: a\r\n \r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body
    out = io.BytesIO()
    relay = Relay(out, head_only=False, most=None)
    for i in range(len(wire)):
        relay(wire[i : i + 1])
    sent = out.getvalue()
    assert sent.endswith(b"\r\n\r\n" + body), sent
    assert b"Content-Length: %d\r\n" % len(body) in sent and b"X-A: a\r\n \r\n" in sent
    hostile = Relay(io.BytesIO(), head_only=False, most=None)
    hostile(b"HTTP/1.1 200 OK\n")
    began = time.process_time()
    for _ in range(20_000):  # lines that may be blank, a byte at a time
        hostile(b"\x80")
        hostile(b"\n")
    assert time.process_time() - began < 5


def test_interim_answers_are_not_passed_on_and_a_sites_407_is_a_failed_load() -> None:
    body = b"<p>final</p>"
    final = b"HTTP/1.1 200 OK\nContent-Length: %d\n\n" % len(body) + body
    for interim in (b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 103 Early Hints\n"
                    b"Link: </s.css>; rel=preload\n\nHTTP/1.1 102 Processing\r\n\r\n"):
        sent = whole_answer(interim + final)
        assert sent.startswith(b"HTTP/1.1 200 OK\r\n") and sent.endswith(b"\r\n\r\n" + body)
    sent = whole_answer(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                        b"Proxy-Authenticate: Basic realm=\"x\"\r\nContent-Length: 4\r\n\r\nnope")
    assert sent.startswith(b"HTTP/1.1 502 ") and sent.endswith(b"\r\n\r\n"), sent


def whole_answer(raw: bytes) -> bytes:
    exchange = Exchange(url="http://example.org/", status=200, response=io.BytesIO(raw),
                        response_size=len(raw))
    out = io.BytesIO()
    relay = Relay(out, head_only=False, most=None)
    relay(raw)
    relay.finish(exchange)
    return out.getvalue()


def test_a_digest_taken_the_old_way_needs_the_block_digest_to_hold(tmp_path: Path) -> None:
    block = b"HTTP/1.1 200 OK\nContent-Type: text/html\n\nA\r\n\r\nshared tail"
    path = tmp_path / "old.warc"
    path.write_bytes(record(block, b"shared tail"))
    assert check_file(path).status == "passed"
    unpinned = record(block, b"shared tail").replace(
        b"WARC-Block-Digest: sha256:" + hashlib.sha256(block).hexdigest().encode() + b"\r\n",
        b"")
    path.write_bytes(unpinned)
    assert check_file(path).status == "failed"


def test_an_archives_own_records_digested_the_old_way_are_found_held(
        custody: Custody, tmp_path: Path) -> None:
    """A WARC file the archive holds, written before 2026-12-07 with the old digest,
    imported again: its records are the archive's own, not records of another payload."""
    body = b"<html><body><p>held already</p>\r\n\r\n<p>tail</p></body></html>"
    wire = (b"HTTP/1.1 200 OK\nContent-Type: text/html\nContent-Length: %d\n\n" % len(body)
            + body)
    with RawServer(wire) as url:
        result = custody.archive(url, extra=("--no-requisites",))
    manifest = custody.manifest(result["capture_id"])
    (entry,) = manifest["warc_files"]
    old = hashlib.sha256(body[body.index(b"\r\n\r\n") + 4 :]).hexdigest()
    conn = sqlite3.connect(custody.root / "custody.db")  # as an archive made then holds it
    with conn:
        conn.execute("UPDATE resources SET payload_sha256 = ?", [old])
    conn.close()
    copy = tmp_path / "again.warc"
    with gzip.open(custody.root / entry["path"]) as fh:
        copy.write_bytes(fh.read().replace(
            b"WARC-Payload-Digest: sha256:" + hashlib.sha256(body).hexdigest().encode(),
            b"WARC-Payload-Digest: sha256:" + old.encode()))
    again = custody("import", str(copy))
    assert again.exit_code != 0 and "in the archive already" in again.stderr, again.output


def test_a_record_matching_only_by_the_old_digest_is_no_copy(custody: Custody,
                                                              tmp_path: Path) -> None:
    """The old rule leaves the bytes between the two ends of a head out: a record of a
    held record's id, its payload after the first CRLF CRLF the same but other bytes
    before it, is imported as another payload, not refused as a copy."""
    body = b"<html><body><p>The original statement.</p></body></html>"
    wire = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n"
            % len(body) + body)
    with RawServer(wire) as url:
        result = custody.archive(url, extra=("--no-requisites",))
    (held,) = [r for r in custody.manifest(result["capture_id"])["records"]
               if r["type"] == "response"]
    forged = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n \r\n<h1>FORGED</h1>\r\n\r\n"
              + body)
    raw = record(forged, body).replace(b"<urn:uuid:00000000-0000-4000-8000-000000000001>",
                                        held["record_id"].encode())
    path = tmp_path / "forged.warc"
    path.write_bytes(raw.replace(b"http://example.org/", url.encode()))
    assert check_file(path).status == "passed"  # every digest holds, one the old way
    imported = custody("import", str(path))
    assert imported.exit_code == 0, imported.output
    assert "another payload" in imported.stderr + imported.stdout, imported.output


def test_a_folded_line_continues_its_field() -> None:
    """obs-fold (RFC 9112 5.2): " Transfer-Encoding: chunked" under X-A is X-A's value, as
    a browser reads it; taken for a field of its own, the browser was told the body is
    framed and waited on the connection until the page's time ran out."""
    head = b"HTTP/1.1 200 OK\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\nContent-Type: t\r\n\r\n"
    parsed = split_head(head + b"body", wire=True)
    assert parsed == (200, [("X-A", "1 Transfer-Encoding: chunked"), ("Content-Type", "t")],
                      b"body")
    out = io.BytesIO()
    Relay(out, head_only=False, most=None)(head + b"body")
    assert out.getvalue().endswith(b"Connection: close\r\n\r\nbody")
