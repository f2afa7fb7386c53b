"""A page's text is that of its final answer: interim answers (103 Early Hints, 100
Continue) before it are kept in the record as sent but passed over, as a browser passes
them, a head is read as an HTTP client reads it (a line of white space continues a
field, where warcio ends the head), and the body ends where its Content-Length says, so
that no header line, and nothing sent after the answer, becomes page text. A server that
sends more than its answer on a kept-alive connection does not make those bytes the next
request's answer."""

from __future__ import annotations

import gzip
import socket
import zlib
from pathlib import Path

from conftest import Custody
from custody.extract.workers import REFRAMED
from custody.testing.raw import Loopback, RawServer, read_request
from custody.warc.payload import read_payload

PAGE = (b"<html><head><title>Statement of the ministry</title></head><body><article>"
        b"<p>The convoy was stopped at the border crossing near the river on Tuesday.</p>"
        b"<p>Witnesses confirmed the account to reporters the same evening.</p>"
        b"</article></body></html>")
EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"


def final(extra: bytes = b"", body: bytes = PAGE) -> bytes:
    packed = gzip.compress(body)
    return (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n" + extra
            + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(packed) + packed)


def test_a_page_after_early_hints_has_its_own_text(custody: Custody) -> None:
    with RawServer(EARLY_HINTS + final()) as url:
        result = custody.archive(url, extra=("--no-requisites",))
    (doc,) = custody.query("select title, text, language, extractor from documents")
    assert doc["title"] == "Statement of the ministry"
    assert doc["text"].startswith("The convoy was stopped") and "HTTP/1.1" not in doc["text"]
    assert doc["language"] == "en" and REFRAMED in doc["extractor"]
    assert "Statement" in custody.ok("search", "convoy").output
    assert "no matches" in custody.ok("search", "Encoding").output
    (response,) = [r for r in custody.manifest(result["capture_id"])["records"]
                   if r["type"] == "response"]
    assert response["http_status"] == 200
    assert custody.verify()[0] == 0
    custody.ok("reindex")  # the same text, read back from the WARC again
    assert custody.verify()[0] == 0


def test_a_line_of_white_space_in_the_head_is_no_end_of_it(custody: Custody) -> None:
    with RawServer(final(extra=b"X-Trace: a\r\n \r\n")) as url:
        custody.archive(url, extra=("--no-requisites",))
    (doc,) = custody.query("select title, text from documents")
    assert doc["title"] == "Statement of the ministry" and "Content-Length" not in doc["text"]
    assert custody.verify()[0] == 0


def stored(tmp_path: Path, block: bytes) -> Path:
    """A WARC file of one response record whose block is ``block``, byte for byte."""
    path = tmp_path / "one.warc"
    path.write_bytes(b"WARC/1.1\r\nWARC-Type: response\r\n"
                     b"WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-000000000001>\r\n"
                     b"WARC-Date: 2026-12-07T00:00:00Z\r\n"
                     b"WARC-Target-URI: http://example.org/\r\n"
                     b"Content-Type: application/http; msgtype=response\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(block) + block + b"\r\n\r\n")
    return path


def test_the_payload_read_back_is_the_final_answers(tmp_path: Path) -> None:
    packed = zlib.compress(PAGE)
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(packed), packed)
    cases = {  # block: (status, reframed)
        final(): (200, False),
        EARLY_HINTS + b"HTTP/1.1 100 Continue\n\n" + final(): (200, True),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n chunked\r\nContent-Encoding: deflate\r\n"
        b"\t\r\n\r\n" + chunked: (200, True),
    }
    for block, (status, reframed) in cases.items():
        payload = read_payload(stored(tmp_path, block), 0, 1 << 20)
        assert (payload.status, payload.body, payload.reframed) == (status, PAGE, reframed)
    cut = read_payload(stored(tmp_path, EARLY_HINTS), 0, 1 << 20)
    assert (cut.status, cut.body, cut.reframed) == (103, b"", False)
    after = read_payload(stored(tmp_path, EARLY_HINTS + b"not a head"), 0, 1 << 20)
    assert (after.status, after.body, after.past_end) == (103, b"", 10)  # no answer
    short = read_payload(stored(tmp_path, b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n"
                                           b"<p>shown</p>and what no browser shows"), 0, 1 << 20)
    assert (short.body, short.past_end, short.reframed) == (b"<p>shown</p>", 25, True)
    for head in (b"HTTP/1.1 204 No Content\r\n\r\n", b"HTTP/1.1 304 Not Modified\r\n"
                 b"Content-Length: 40\r\n\r\n", b"HTTP/1.1 101 Switching Protocols\r\n"
                 b"Upgrade: websocket\r\n\r\n"):  # no body, as a client frames it
        none = read_payload(stored(tmp_path, head + b"<p>no browser shows this</p>"), 0, 1 << 20)
        assert (none.body, none.past_end) == (b"", 28), head
    bare = read_payload(stored(tmp_path, b"no head at all"), 0, 1 << 20)  # as warcio reads it
    assert bare.status is None and not bare.reframed


STOWAWAY = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nstowaway!"


class TooMuch(Loopback):
    """Keeps each connection alive; after its answer to ``/`` sends a second answer
    nobody asked for, in the same packet."""

    def answer(self, conn: socket.socket) -> None:
        while (request := read_request(conn)) is not None:
            path = request.split(b" ")[1].decode()
            body = (f"<html><head><title>page {path}</title></head><body><p>The answer "
                    f"for {path} alone.</p><a href='/a'>a</a></body></html>").encode()
            extra = STOWAWAY if path == "/" else b""
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body + extra)


def test_an_answer_nobody_asked_for_is_not_the_next_pages(custody: Custody) -> None:
    server = TooMuch()
    server.start()
    try:
        result = custody.archive(server.base + "/", extra=("--depth", "1", "--concurrency", "1",
                                                            "--no-requisites"))
    finally:
        server.close()
    assert result["status"] == "success", result
    docs = {d["url"].removeprefix(server.base): d for d in custody.query(
        "select url, title, text, note from documents")}
    assert docs["/a"]["title"] == "page /a" and "The answer for /a alone." in docs["/a"]["text"]
    assert "stowaway" not in docs["/"]["text"] and "stowaway" not in docs["/a"]["text"]
    assert f"{len(STOWAWAY)} bytes after the body's end" in docs["/"]["note"]
    records = {r["target_uri"].removeprefix(server.base): r for r in custody.manifest(
        result["capture_id"])["records"] if r["type"] == "response"}
    assert records["/a"]["length"] > 200  # its own answer, not an empty block
    assert custody.verify()[0] == 0
