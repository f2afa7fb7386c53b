"""The WARC writer's gzip members: compressed where it pays, stored where it does not."""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from custody.warc.records import WarcWriter, compresses
from custody.warc.scan import scan


def response(body: bytes, media_type: str) -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Type: {media_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def first_block_type(member: bytes) -> int:
    """BTYPE of the first deflate block after a plain 10-byte gzip header: 0 stored."""
    assert member[:3] == b"\x1f\x8b\x08" and member[3] == 0  # no optional gzip fields
    return (member[10] >> 1) & 0b11


def test_photos_are_stored_and_text_is_compressed(tmp_path: Path) -> None:
    photo = os.urandom(200_000)  # as incompressible as a JPEG's entropy-coded data
    page = b"<html><body>" + b"<p>The statement was edited on the third day.</p>" * 3000
    writer = WarcWriter(tmp_path, "a.warc.gz")
    entries = [writer.write("response", response(photo, "image/jpeg"), target_uri="http://x/p.jpg",
                            content_type="application/http; msgtype=response"),
               writer.write("response", response(page, "text/html"), target_uri="http://x/",
                            content_type="application/http; msgtype=response")]
    sealed = writer.close()
    data = (tmp_path / "a.warc.gz").read_bytes()
    stored, packed = (data[e.offset : e.offset + e.length] for e in entries)
    assert first_block_type(stored) == 0 and len(stored) > len(photo)
    assert first_block_type(packed) != 0 and len(packed) < len(page) / 20
    for member, entry in ((stored, entries[0]), (packed, entries[1])):
        assert zlib.decompress(member, wbits=31).count(b"\r\n\r\n") >= 2
        assert entry.block_sha256 in zlib.decompress(member, wbits=31).decode("latin-1")
    # standard readers and custody's own reader see the same two records
    with open(tmp_path / "a.warc.gz", "rb") as fh:
        assert [r.rec_headers.get_header("WARC-Target-URI") for r in ArchiveIterator(fh)] == [
            "http://x/p.jpg", "http://x/"]
    warcio = Path(sys.executable).with_name("warcio")
    subprocess.run([str(warcio), "check", str(tmp_path / "a.warc.gz")], check=True,
                   capture_output=True)
    found = scan(tmp_path / "a.warc.gz", sealed.sha256,
                 [(e.offset, e.length) for e in entries])
    assert [m.block_sha256 for m in found.members] == [e.block_sha256 for e in entries]


def test_compressibility_is_judged_on_a_sample() -> None:
    assert not compresses(os.urandom(8192))
    assert compresses(b"abc " * 2048)
    assert compresses(bytes(8192))


def test_every_digest_is_sha256_and_right_for_large_and_odd_blocks(tmp_path: Path) -> None:
    """Blocks larger than the pieces digested two at a time, a resource, a metadata
    record and an HTTP block whose head never ended: each record's digests are sha256,
    as hashlib gives them, and `warcio check -v` passes every one."""
    import hashlib
    import io

    video = os.urandom(3 * 1024 * 1024 + 17)
    blocks = [("response", response(video, "video/mp4"), "application/http; msgtype=response"),
              ("resource", video, "video/mp4"),
              ("metadata", b"via: yt-dlp\r\n", "application/warc-fields"),
              ("response", b"HTTP/1.1 200 OK\r\nContent-Ty", "application/http; msgtype=response")]
    writer = WarcWriter(tmp_path, "a.warc.gz")
    entries = [writer.write(kind, io.BytesIO(block) if i % 2 else block, target_uri="http://x/",
                            content_type=ctype) for i, (kind, block, ctype) in enumerate(blocks)]
    sealed = writer.close()
    data = (tmp_path / "a.warc.gz").read_bytes()
    assert sealed.sha256 == hashlib.sha256(data).hexdigest()
    for entry, (_, block, _) in zip(entries, blocks, strict=True):
        member = data[entry.offset : entry.offset + entry.length]
        assert entry.member_sha256 == hashlib.sha256(member).hexdigest()
        assert entry.block_sha256 == hashlib.sha256(block).hexdigest()
    assert entries[0].payload_sha256 == hashlib.sha256(video).hexdigest()
    with open(tmp_path / "a.warc.gz", "rb") as fh:
        said = [r.rec_headers.get_header("WARC-Payload-Digest") for r in ArchiveIterator(fh)]
    payload = hashlib.sha256(video).hexdigest()
    assert said == [f"sha256:{payload}", f"sha256:{payload}",
                    f"sha256:{entries[2].block_sha256}", None]
    warcio = Path(sys.executable).with_name("warcio")
    checked = subprocess.run([str(warcio), "check", "-v", str(tmp_path / "a.warc.gz")],
                             capture_output=True, text=True, check=True).stdout
    assert checked.count("digest pass") == 4, checked


def test_a_payload_digest_the_caller_gives_is_the_only_one(tmp_path: Path) -> None:
    writer = WarcWriter(tmp_path, "a.warc.gz")
    writer.write("resource", b"payload", target_uri="urn:x", content_type="text/plain",
                 headers=[("WARC-Payload-Digest", "sha1:FKXGYNOJJ7H3IFO35FPUBC445EPOQRXN")])
    writer.close()
    with open(tmp_path / "a.warc.gz", "rb") as fh:
        [record] = list(ArchiveIterator(fh))
    said = [v for k, v in record.rec_headers.headers if k == "WARC-Payload-Digest"]
    assert said == ["sha1:FKXGYNOJJ7H3IFO35FPUBC445EPOQRXN"]


def test_stored_members_read_back_whole_at_every_block_edge(tmp_path: Path) -> None:
    """A block that does not compress is written as stored deflate blocks of at most
    65,535 bytes: sizes at and around that edge, and a record larger than a piece, read
    back byte for byte with zlib, Python's gzip, the gzip tool and warcio."""
    import gzip
    import shutil

    sizes = [0, 1, 65_534, 65_535, 65_536, 2 * 65_535, 1024 * 1024 + 3]
    writer = WarcWriter(tmp_path, "a.warc.gz")
    blocks = [os.urandom(20_000) + os.urandom(size) for size in sizes]
    entries = [writer.write("resource", block, target_uri=f"urn:x:{i}",
                            content_type="application/octet-stream")
               for i, block in enumerate(blocks)]
    writer.close()
    data = (tmp_path / "a.warc.gz").read_bytes()
    for entry, block in zip(entries, blocks, strict=True):
        member = data[entry.offset : entry.offset + entry.length]
        assert first_block_type(member) == 0
        whole = zlib.decompress(member, wbits=31)
        assert whole == gzip.decompress(member)
        assert block in whole and whole.endswith(block + b"\r\n\r\n")
    tool = shutil.which("gzip")
    assert tool, "gzip, part of every Debian system, is missing"
    subprocess.run([tool, "-t", str(tmp_path / "a.warc.gz")], check=True)
    warcio = Path(sys.executable).with_name("warcio")
    checked = subprocess.run([str(warcio), "check", "-v", str(tmp_path / "a.warc.gz")],
                             capture_output=True, text=True, check=True).stdout
    assert checked.count("digest pass") == len(sizes) and "fail" not in checked, checked


def test_a_block_that_fails_midway_leaves_no_trace_in_the_file(tmp_path: Path) -> None:
    """A block whose reading fails partway (a spool gone bad) is not left half-written:
    the file goes back to where its record began, and the next record, and the file's
    digest, are as if it had never been tried."""
    import hashlib
    import io

    class Failing(io.BytesIO):
        def __init__(self, data: bytes) -> None:
            super().__init__(data)
            self.reads = 0

        def read(self, size: int | None = -1) -> bytes:
            self.reads += 1
            if self.reads > 4:  # past the digests' pass: during the writing
                raise OSError("the spool went bad")
            return super().read(size)

    photo = os.urandom(3 * 1024 * 1024)
    for level_block in (photo, b"<p>words</p>" * 300_000):
        writer = WarcWriter(tmp_path, "a.warc.gz")
        first = writer.write("resource", b"first", target_uri="urn:1", content_type="text/plain")
        try:
            writer.write("resource", Failing(level_block), target_uri="urn:x",
                         content_type="application/octet-stream")
        except OSError:
            pass
        else:
            raise AssertionError("the failing block was written")
        second = writer.write("resource", b"second", target_uri="urn:2",
                              content_type="text/plain")
        sealed = writer.close()
        data = (tmp_path / "a.warc.gz").read_bytes()
        assert second.offset == first.offset + first.length
        assert len(data) == second.offset + second.length == sealed.bytes
        assert sealed.sha256 == hashlib.sha256(data).hexdigest()
        tool = subprocess.run(["gzip", "-t", str(tmp_path / "a.warc.gz")])
        assert tool.returncode == 0
        (tmp_path / "a.warc.gz").unlink()
