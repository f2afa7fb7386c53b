"""What a record claims of its bytes -- its block and payload digests -- read from its
header, checked as the block streams past (blocks.BlockSink), and compared at its end."""

from __future__ import annotations

from . import digests, headers
from .blocks import BlockSink
from .record import Record

HTTP_TYPES = {"response", "request"}


class Claims:
    """One record's digests: parsed, fed its block, compared."""

    def __init__(self, record: Record, header: headers.Header, keep_sha256: bool) -> None:
        self.record, self.header = record, header
        self.block = claimed(header, "WARC-Block-Digest", record)
        self.payload = None
        if header.type != "revisit":
            self.payload = claimed(header, "WARC-Payload-Digest", record)
        elif header.get("WARC-Payload-Digest") is not None:
            record.digested = True  # the original's payload, not in this record
        content_type = (header.get("Content-Type") or "").lower()
        self.http = header.type in HTTP_TYPES and content_type.startswith("application/http")
        self.sink = BlockSink(self.block, self.payload, self.http, keep_sha256)
        self.feed = self.sink.feed

    def fed(self) -> None:
        """The block has been fed (all of it, or what the file held): what it gave."""
        record, sink = self.record, self.sink
        record.block_sha256 = sink.block_sha256_hex()
        record.payload_sha256 = sink.payload_sha256.hexdigest() if sink.payload_sha256 \
            else None
        record.legacy_payload_sha256 = sink.legacy_sha256.hexdigest() \
            if sink.legacy_sha256 else None
        record.http_status = sink.status
        record.http_type = next((v for k, v in sink.headers if k.lower() == "content-type"),
                                None)

    def compare(self) -> None:
        compare(self.record, self.header, self.sink, self.block, self.payload, self.http)


def claimed(header: headers.Header, name: str, record: Record) -> digests.Labelled | None:
    value = header.get(name)
    if value is None:
        return None
    record.digested = True
    try:
        return digests.parse(value)
    except digests.UnknownAlgorithm as exc:
        record.unchecked.append(f"{name}: {exc} is not one custody computes")
    except digests.Malformed as exc:
        record.failures.append(f"{name} is malformed: {exc}")
    return None


def compare(record: Record, header: headers.Header, sink: BlockSink,
             block: digests.Labelled | None, payload: digests.Labelled | None,
             http: bool) -> None:
    pinned = False  # every byte of the block is as its digest says
    if block is not None and sink.block is not None:
        actual = sink.block.digest()
        pinned = actual == block.digest
        if not pinned:
            record.failures.append(
                f"block digest mismatch: WARC-Block-Digest says {block.label}:"
                f"{digests.spell(block, block.digest)}, the block hashes to "
                f"{block.label}:{digests.spell(block, actual)}")
    if payload is None:
        return
    if http and not sink.head_found:
        record.unchecked.append("WARC-Payload-Digest: the block holds no HTTP header block "
                                "to find the payload after")
        return
    if sink.payload is None:
        return
    actual = sink.payload.digest()
    if actual == payload.digest:
        return
    chunked = sink.dechunked
    if chunked is not None and not chunked.broken and chunked.state == "done" \
            and chunked.hasher.digest() == payload.digest:
        record.notes.append("WARC-Payload-Digest is of the de-chunked entity body (as "
                            "warcprox writes it), not of the chunked message body")
        return
    if pinned and sink.legacy is not None and sink.legacy.digest() == payload.digest:
        # taken the old way; only where the block digest holds every byte to its place,
        # so that the bytes between the two ends are checked all the same
        record.notes.append("WARC-Payload-Digest is of what follows the first CRLF CRLF (as "
                            "custody wrote it before 2026-12-07), not of what follows the "
                            "head's first blank line, where warcio ends the head")
        return
    truncated = header.get("WARC-Truncated")
    if truncated:
        record.unchecked.append(f"WARC-Payload-Digest: the record is marked truncated "
                                f"({truncated.strip()}), so its payload is not all here")
        return
    record.failures.append(
        f"payload digest mismatch: WARC-Payload-Digest says {payload.label}:"
        f"{digests.spell(payload, payload.digest)}, the payload hashes to "
        f"{payload.label}:{digests.spell(payload, actual)}")
