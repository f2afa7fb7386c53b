"""Writing and reading WARC/1.1 records (warcio), one gzip member per record.

Blocks are written as they were received, byte for byte: the HTTP status line and
headers are never parsed and written again. A record's WARC header is serialised by
warcio's StatusAndHeaders, with Content-Type and Content-Length last, as warcio's own
writer puts them; its block follows in pieces of a megabyte (warcio's writer copies 16
KB at a time, a Python call each). The digests are custody's own, sha256 in hex: the
block digest over the whole block, the payload digest over what follows the HTTP
head, where ``warcio check`` finds its end (http_head); digests of the same bytes are taken two
at a time (hashing.update_both).
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, BinaryIO

from ..core import faults
from ..core.atomic import replace_durably
from .hashing import update_both
from .http_head import HeadEnd

# warcio is imported where records are written or parsed: `custody verify` reads
# the files with zlib and hashlib alone, and starts faster without it

WARC_VERSION = "WARC/1.1"
_CHUNK = 1024 * 1024


def warc_date(moment: datetime | None = None) -> str:
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}Z"


def new_record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


@dataclass
class RecordEntry:
    """What the manifest says of one record."""

    record_id: str
    type: str
    target_uri: str | None
    offset: int
    length: int  # bytes of the gzip member in the file
    member_sha256: str  # of those bytes: locates a change to a single record
    block_sha256: str
    payload_sha256: str | None
    http_status: int | None
    ip: str | None
    content_type: str | None
    date: str
    warc_path: str
    truncated: str | None = None
    payload_type: str | None = None  # the HTTP Content-Type, for responses

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))  # every field is a plain value: no need for asdict's deep copy


@dataclass
class FileEntry:
    path: str  # relative to the archive root, with forward slashes
    bytes: int
    sha256: str


class _HashingFile:
    """Counts and hashes what warcio writes, so each member's offset and digest are known."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self.position = 0
        self.file_hash = hashlib.sha256()
        self.member_hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._fh.write(data)
        self.position += len(data)
        update_both(self.file_hash, self.member_hash, data)
        return len(data)

    def flush(self) -> None:
        self._fh.flush()


_GZIP_STORED_HEAD = bytes.fromhex("1f8b08000000000004 03")  # as zlib's level 0 writes it
_STORED_MAX = 65535  # bytes in one stored deflate block


class _GzipMember:
    """Compresses what warcio writes; each flush (warcio's end of a record) ends a member.

    ``level`` is read when a member starts: 6 for most records; 0 for a block that does
    not compress, such as a photo or a video, which deflate would only Huffman-code for
    a fraction of a per cent -- slow to write and slow to read back. Level 0 is written
    here, as zlib writes it (stored deflate blocks, the CRC-32 and length after): zlib
    copies it at a third of the speed.
    """

    def __init__(self, out: _HashingFile, level: int = 6) -> None:
        self._out = out
        self.level = level
        self._packer: Any = None
        self._crc: int | None = None  # of a stored member under way
        self._size = 0

    def write(self, data: bytes) -> int:
        if self.level == 0:
            self._store(data)
            return len(data)
        if self._packer is None:
            self._packer = zlib.compressobj(self.level, zlib.DEFLATED, 31)
        self._out.write(self._packer.compress(data))
        return len(data)

    def _store(self, data: bytes) -> None:
        if self._crc is None:
            self._out.write(_GZIP_STORED_HEAD)
            self._crc, self._size = 0, 0
        view = memoryview(data)
        parts: list[bytes | memoryview] = []
        for at in range(0, len(view), _STORED_MAX):
            piece = view[at : at + _STORED_MAX]
            parts += (_STORED_BLOCK.pack(0, len(piece), len(piece) ^ 0xFFFF), piece)
        if parts:
            self._out.write(b"".join(parts))
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)

    def reset(self) -> None:
        """Forget a member left unfinished (its record could not be written whole)."""
        self._packer, self._crc, self._size = None, None, 0

    def flush(self) -> None:
        if self._packer is not None:
            self._out.write(self._packer.flush())
            self._packer = None
        if self._crc is not None:  # a final empty block, then the gzip trailer
            self._out.write(_STORED_BLOCK.pack(1, 0, 0xFFFF)
                            + _GZIP_TAIL.pack(self._crc, self._size & 0xFFFFFFFF))
            self._crc = None
        self._out.flush()


_STORED_BLOCK = struct.Struct("<BHH")  # final bit and type 0; length; its complement
_GZIP_TAIL = struct.Struct("<II")  # CRC-32 and length (mod 2**32) of what it holds


_SAMPLE = 8 * 1024  # bytes of a block tried with deflate to see whether it compresses


def compresses(sample: bytes) -> bool:
    """Whether deflate saves more than 3 per cent on this sample of a block."""
    return len(zlib.compress(sample, 1)) < 0.97 * len(sample)


def _digests(block: IO[bytes], http: bool) -> tuple[str, str | None, int, bool]:
    """sha256 of the block, of its HTTP payload (after the head, where http_head finds
    its end), its length, and whether it is worth compressing (judged on a sample past
    the first 4 KB)."""
    block.seek(0)
    block_hash = hashlib.sha256()
    payload_hash = hashlib.sha256() if http else None
    length = 0
    head = HeadEnd()
    in_payload = not http
    worth = True
    while chunk := block.read(_CHUNK):
        if not length and len(chunk) >= 4096 + _SAMPLE:
            worth = compresses(chunk[-_SAMPLE:])
        length += len(chunk)
        if payload_hash is None:
            block_hash.update(chunk)
            continue
        if in_payload:
            update_both(block_hash, payload_hash, chunk)
            continue
        block_hash.update(chunk)
        end = head.feed(chunk)
        if end is not None:
            in_payload = True
            payload_hash.update(chunk[end:])
    block.seek(0)
    payload = payload_hash.hexdigest() if payload_hash is not None and in_payload else None
    return block_hash.hexdigest(), payload, length, worth


def payload_sha256(block: IO[bytes]) -> str | None:
    """sha256 of an HTTP block's payload, as a record of it would say (None: no payload,
    the head never ended)."""
    return _digests(block, True)[1]


class WarcWriter:
    """One WARC file, written under a temporary name and renamed into place when complete."""

    def __init__(self, root: Path, relpath: str, *, resume_at: int | None = None) -> None:
        """A new file; or, with ``resume_at``, the partial file cut back to that many bytes
        (the end of its last committed record) and continued."""
        self.root = root
        self.relpath = relpath
        self.path = root / relpath
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp_path = partial_path(self.path)
        self._fh: BinaryIO
        if resume_at is None:
            self._fh = open(self.tmp_path, "xb")  # noqa: SIM115 - closed in close()
            self._out = _HashingFile(self._fh)
        else:
            self._fh = open(self.tmp_path, "r+b")  # noqa: SIM115 - closed in close()
            self._fh.truncate(resume_at)
            self._out = _HashingFile(self._fh)
            while chunk := self._fh.read(_CHUNK):
                self._out.file_hash.update(chunk)
                self._out.position += len(chunk)
        # warcio's own gzip wrapper compresses at level 9, several times slower than 6 for
        # a few per cent; ours makes the same thing, one member per record
        self._gzip = _GzipMember(self._out)
        self.count = 0

    @property
    def size(self) -> int:
        return self._out.position

    def write(
        self,
        rec_type: str,
        block: IO[bytes] | bytes,
        *,
        target_uri: str | None,
        content_type: str,
        headers: list[tuple[str, str]] | None = None,
        date: str | None = None,
        record_id: str | None = None,
        http_status: int | None = None,
        ip: str | None = None,
        payload_type: str | None = None,
    ) -> RecordEntry:
        stream = io.BytesIO(block) if isinstance(block, bytes) else block
        is_http = content_type.startswith("application/http")
        block_sha, payload_sha, length, worth = _digests(stream, is_http)
        record_id = record_id or new_record_id()
        date = date or warc_date()
        fields: list[tuple[str, str]] = [("WARC-Type", rec_type), ("WARC-Record-ID", record_id)]
        fields.append(("WARC-Date", date))
        if target_uri is not None:
            fields.append(("WARC-Target-URI", target_uri))
        fields.extend(headers or [])
        if ip:
            fields.append(("WARC-IP-Address", ip))
        fields.append(("WARC-Block-Digest", f"sha256:{block_sha}"))
        if payload_sha is not None and rec_type in ("response", "request", "resource"):
            fields.append(("WARC-Payload-Digest", f"sha256:{payload_sha}"))
        elif not is_http and rec_type not in ("warcinfo", "revisit") and not any(
                name.lower() == "warc-payload-digest" for name, _ in headers or []):
            # no HTTP head: the payload is the whole block, as warcio (which once wrote
            # these records, with a sha1 of its own) and `warcio check` take it; an
            # HTTP block whose head never ended has no payload, and no payload digest
            fields.append(("WARC-Payload-Digest", f"sha256:{block_sha}"))
        from warcio.statusandheaders import StatusAndHeaders

        warc_headers = StatusAndHeaders("", fields, protocol=WARC_VERSION)
        warc_headers.replace_header("Content-Type", content_type)
        warc_headers.replace_header("Content-Length", str(length))
        offset = self._out.position
        file_hash = self._out.file_hash.copy()  # as it was before this record
        self._out.member_hash = hashlib.sha256()
        self._gzip.level = 6 if worth else 0
        try:
            self._gzip.write(warc_headers.to_bytes(encoding="utf-8"))
            while chunk := stream.read(_CHUNK):
                self._gzip.write(chunk)
            self._gzip.write(b"\r\n\r\n")
            self._gzip.flush()
        except BaseException:
            # the block could not be read to its end: the file goes back to where the
            # record began, the next one starts a member of its own there
            self._gzip.reset()
            self._fh.seek(offset)
            self._fh.truncate()
            self._out.position, self._out.file_hash = offset, file_hash
            raise
        if faults.armed("warc.torn-record"):  # a test: die with this record half on disk
            self._fh.flush()
            self._fh.truncate(offset + (self._out.position - offset) // 2)
            os.fsync(self._fh.fileno())
            faults.kill()
        truncated = dict(headers or []).get("WARC-Truncated")
        entry = RecordEntry(
            record_id=record_id,
            type=rec_type,
            target_uri=target_uri,
            offset=offset,
            length=self._out.position - offset,
            member_sha256=self._out.member_hash.hexdigest(),
            block_sha256=block_sha,
            payload_sha256=payload_sha if rec_type in ("response", "resource") else None,
            http_status=http_status,
            ip=ip,
            content_type=content_type,
            date=date,
            warc_path=self.relpath,
            truncated=truncated,
            payload_type=payload_type,
        )
        self.count += 1
        return entry

    def flush(self) -> None:
        """What is written so far, on disk for a reader (not synced: no promise)."""
        self._fh.flush()

    def close(self) -> FileEntry:
        """fsync and rename into place; the file is complete only after this."""
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        replace_durably(self.tmp_path, self.path)
        return FileEntry(self.relpath, self._out.position, self._out.file_hash.hexdigest())


def partial_path(path: Path) -> Path:
    """Where a WARC file is written until it is complete."""
    return path.with_name(path.name + ".partial")


def warcinfo_block(fields: dict[str, str]) -> bytes:
    return "".join(f"{k}: {v}\r\n" for k, v in fields.items()).encode("utf-8")
