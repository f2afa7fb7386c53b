"""Hostile files for `custody check` and `custody import`, made on the spot: a WARC of
very many tiny records, and a WACZ whose members inflate far past their size.

Used by the tests (small counts) and to measure memory with ``/usr/bin/time -v``::

    python -m custody.testing.hostile records 300000 tiny.warc.gz
    python -m custody.testing.hostile bomb 1073741824 bomb.wacz
    python -m custody.testing.hostile bombs 1073741824 bombs.wacz
"""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
import zlib
from pathlib import Path

_HTTP = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n"  # not extracted


def _member(data: bytes) -> bytes:
    """One gzip member, as quickly as zlib makes one."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)
    return packer.compress(data) + packer.flush()


def tiny_record(number: int) -> bytes:
    """A response record of a few dozen bytes, with its sha1 block digest."""
    block = _HTTP + b"r%d" % number
    digest = hashlib.sha1(block).hexdigest()
    head = (f"WARC/1.1\r\nWARC-Type: response\r\n"
            f"WARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-{number:012d}>\r\n"
            f"WARC-Date: 2026-11-21T10:15:00Z\r\n"
            f"WARC-Target-URI: http://example.org/{number}\r\n"
            f"Content-Type: application/http; msgtype=response\r\n"
            f"WARC-Block-Digest: sha1:{digest}\r\n"
            f"Content-Length: {len(block)}\r\n\r\n").encode()
    return head + block + b"\r\n\r\n"


def write_tiny_records(path: Path, count: int, *, broken_every: int = 0) -> None:
    """``count`` records, each its own gzip member; every ``broken_every``-th with a
    block that does not match its digest (0: none)."""
    with open(path, "wb") as out:
        for number in range(count):
            data = tiny_record(number)
            if broken_every and number % broken_every == broken_every - 1:
                data = data.replace(b"\r\n\r\nr", b"\r\n\r\nR", 1)
            out.write(_member(data))


def write_bomb(path: Path, inflated: int, *, members: tuple[str, ...] = (
        "datapackage.json",)) -> None:
    """A WACZ with one small valid WARC whose named members each inflate to ``inflated``
    bytes: valid JSON (or text) padded with spaces, deflated to a thousandth of that.
    (A bomb of datapackage.json leaves datapackage-digest.json's hash wrong: it is
    refused before that matters.)"""
    warc = _member(tiny_record(0))
    pages = b'{"format": "json-pages-1.0", "id": "pages"}\n'
    resources = [{"name": "data.warc.gz", "path": "archive/data.warc.gz",
                  "hash": "sha256:" + hashlib.sha256(warc).hexdigest(), "bytes": len(warc)}]
    head = json.dumps({"profile": "data-package", "wacz_version": "1.1.1",
                       "resources": resources}).encode()
    with zipfile.ZipFile(path, "w") as package:
        package.writestr(zipfile.ZipInfo("archive/data.warc.gz"), warc)  # stored, as WACZ asks
        digest = json.dumps({"path": "datapackage.json",
                             "hash": "sha256:" + hashlib.sha256(head).hexdigest()}).encode()
        contents = {"datapackage.json": head, "datapackage-digest.json": digest,
                    "pages/pages.jsonl": pages,
                    "indexes/index.cdx": b"org,example)/0 20261121101500 {}\n"}
        for name, start in contents.items():
            if name not in members:
                package.writestr(name, start, zipfile.ZIP_DEFLATED)
                continue
            info = zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with package.open(info, "w", force_zip64=True) as out:
                closing = start.endswith(b"}")  # JSON: spaces before its last brace
                out.write(start[:-1] if closing else start)
                pad = b" " * (1 << 20)
                left = inflated - len(start)
                while left > 0:
                    out.write(pad[: min(left, len(pad))])
                    left -= len(pad)
                if closing:
                    out.write(b"}")


def main(argv: list[str]) -> int:
    kind, size, target = argv[0], int(argv[1]), Path(argv[2])
    if kind == "records":
        write_tiny_records(target, size)
    elif kind == "bomb":
        write_bomb(target, size)
    elif kind == "bombs":
        write_bomb(target, size, members=("datapackage.json", "pages/pages.jsonl",
                                          "indexes/index.cdx"))
    else:
        print(f"unknown kind {kind!r}: records, bomb or bombs", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
