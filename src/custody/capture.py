"""A capture, start to finish: crawl into a WARC, extract from it, seal, index.

The order on disk is what makes a crash harmless: the WARC is renamed into place
when complete, then the signature and SHA256SUMS are written, and last the
manifest, whose appearance is the moment the capture exists. Anything left
without a manifest is an unsealed leftover that verify reports but never
mistakes for evidence. The database comes after, and is rebuilt from the sealed
captures if a crash left it behind.
"""

from __future__ import annotations

import os
import platform
import secrets
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import __version__, db, extract, manifest, signing
from .crawl import Crawl, Links, Outcome, Target, css_links, html_links
from .fetch import Exchange, Fetcher
from .root import Archive
from .warc import RecordEntry, WarcWriter, read_payload, warc_date, warcinfo_block

# Decoded (de-chunked, decompressed) bytes read back from a response for extraction or
# links. A larger body -- a gzip bomb, or a huge page -- is stored as sent, never inflated
# beyond this, and not extracted.
DECODE_LIMIT = 16 * 1024 * 1024


@dataclass
class Settings:
    requisites: bool = True
    timeout: float = 30.0
    concurrency: int = 8
    user_agent: str = f"custody/{__version__} (+evidence archiver)"
    ca_bundle: str | None = None
    insecure: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Result:
    capture_id: str
    manifest_path: Path
    status: str
    seeds: list[str]
    final_urls: dict[str, str]
    failures: list[dict[str, str]]
    resources: int
    documents: int
    notes: list[str] = field(default_factory=list)


def new_capture_id(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(4)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


class _WarcSink:
    """Writes each exchange as request/response (and TLS metadata) records."""

    def __init__(self, writer: WarcWriter) -> None:
        self.writer = writer

    def store(self, exchange: Exchange, target: Target) -> Links | None:
        date = warc_date(exchange.started_at)
        if not exchange.ok or exchange.response is None:
            block = warcinfo_block(
                {"fetch-error": exchange.error_kind or "network", "reason": exchange.error or ""}
            )
            self.writer.write("metadata", block, target_uri=exchange.url, date=date,
                              content_type="application/warc-fields")
            return None
        extra = [("WARC-Truncated", exchange.truncated)] if exchange.truncated else []
        response = self.writer.write(
            "response", exchange.response, target_uri=exchange.url, date=date,
            content_type="application/http; msgtype=response", headers=extra,
            http_status=exchange.status, ip=exchange.ip,
            payload_type=exchange.headers.get("content-type"),
        )
        concurrent = [("WARC-Concurrent-To", response.record_id)]
        self.writer.write(
            "request", exchange.request_bytes, target_uri=exchange.url, date=date,
            content_type="application/http; msgtype=request", headers=concurrent, ip=exchange.ip,
        )
        if exchange.tls_chain:
            self.writer.write(
                "metadata", _pem_chain(exchange.tls_chain), target_uri=exchange.url, date=date,
                content_type="application/pem-certificate-chain",
                headers=[*concurrent, ("WARC-TLS-Version", exchange.tls_version or ""),
                         ("WARC-TLS-Cipher", exchange.tls_cipher or "")],
            )
        return self._links(response, exchange)

    def _links(self, response: RecordEntry, exchange: Exchange) -> Links | None:
        ctype = exchange.content_type
        if exchange.status is None or not 200 <= exchange.status < 300:
            return None
        if ctype not in extract.HTML_TYPES and ctype != "text/css":
            return None
        payload = read_payload(self.writer.tmp_path, response.offset, DECODE_LIMIT)
        if payload.error or payload.exceeded:
            return None
        text, _, _ = extract.decode(payload.body, extract.header_charset(
            exchange.headers.get("content-type", "")))
        if ctype == "text/css":
            return Links(requisites=css_links(text, exchange.url))
        return html_links(text, exchange.url)


def _pem_chain(chain: list[bytes]) -> bytes:
    import base64

    out = []
    for der in chain:
        b64 = base64.b64encode(der).decode()
        lines = "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
        out.append(f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n")
    return "".join(out).encode()


def documents_from_warc(root: Path, records: list[dict[str, Any]]) -> list[extract.Document]:
    """Extract every 2xx HTML or text response, reading its payload back from the WARC."""
    docs = []
    for record in records:
        status = record.get("http_status")
        if record["type"] != "response" or status is None or not 200 <= status < 300:
            continue
        header = record.get("payload_type") or ""
        ctype = header.split(";")[0].strip().lower()
        if ctype not in extract.EXTRACTABLE:
            continue
        payload = read_payload(root / record["warc_path"], record["offset"], DECODE_LIMIT)
        body = b"" if payload.exceeded else payload.body
        doc = extract.extract(record["target_uri"], ctype, header, body)
        if doc is None:
            continue
        doc.record_id = record["record_id"]
        notes = [doc.note, payload.error]
        if payload.exceeded:
            notes = [f"decoded body exceeds {DECODE_LIMIT} bytes (a gzip bomb?); not extracted"]
        doc.note = "; ".join(n for n in notes if n) or None
        docs.append(doc)
    return docs


def _document_entry(doc: extract.Document) -> dict[str, Any]:
    return {
        "record_id": doc.record_id,
        "url": doc.url,
        "text_sha256": doc.text_sha256,
        "extractor": doc.extractor,
    }


def _texts(docs: list[extract.Document]) -> dict[str, dict[str, Any]]:
    return {doc.record_id or "": doc.to_json() for doc in docs}


def run(
    archive: Archive,
    seeds: list[str],
    *,
    key: Ed25519PrivateKey,
    settings: Settings,
    on_progress: Callable[[Outcome, int], None] | None = None,
) -> Result:
    """Capture the seeds as one sealed capture."""
    with archive.lock():
        database = db.connect(archive.db_path)
        heal_index(archive, database)
        started = datetime.now(UTC)
        capture_id = new_capture_id(started)
        relpath = f"archive/{started:%Y}/{started:%m}/{capture_id}.warc.gz"
        writer = WarcWriter(archive.root, relpath)
        public = key.public_key()
        collector = {
            "software": "custody",
            "version": __version__,
            "python": platform.python_version(),
            "host": socket.gethostname(),
            "operator": archive.principal_for(public) or "unknown",
            "key_fingerprint": signing.fingerprint(public),
        }
        try:
            writer.write("warcinfo", warcinfo_block({
                "software": f"custody/{__version__}",
                "format": "WARC File Format 1.1",
                "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
                "host": collector["host"],
                "operator": collector["operator"],
                "capture-id": capture_id,
                "seeds": " ".join(seeds),
                "settings": " ".join(f"{k}={v}" for k, v in settings.to_json().items()),
            }), target_uri=None, content_type="application/warc-fields",
                headers=[("WARC-Filename", Path(relpath).name)])
            with Fetcher(user_agent=settings.user_agent, timeout=settings.timeout,
                         ca_bundle=settings.ca_bundle, insecure=settings.insecure,
                         max_connections=settings.concurrency) as fetcher:
                crawl = Crawl(fetcher, _WarcSink(writer), requisites=settings.requisites,
                              concurrency=settings.concurrency, on_progress=on_progress)
                outcome = crawl.run(seeds)
            file_entry = writer.close()
        except BaseException:
            writer.abort()
            raise
        finished = datetime.now(UTC)
        records = [r.to_json() for r in writer.records]
        docs = documents_from_warc(archive.root, records)
        responses = [r for r in records if r["type"] == "response"]
        if not responses:
            status = "failed"
        elif outcome.failures:
            status = "partial"
        else:
            status = "complete"
        sequence, previous = manifest.chain_head(archive.manifests_dir)
        content = {
            "format": manifest.FORMAT,
            "capture_id": capture_id,
            "seed_url": seeds[0],
            "seed_urls": seeds,
            "final_url": outcome.final_urls.get(seeds[0], seeds[0]),
            "final_urls": outcome.final_urls,
            "started_at": iso(started),
            "finished_at": iso(finished),
            "status": status,
            "collector": collector,
            "settings": settings.to_json(),
            "warc_files": [asdict(file_entry)],
            "records": records,
            "documents": [_document_entry(d) for d in docs],
            "failures": [f.to_json() for f in outcome.failures],
            "chain": {"sequence": sequence + 1, "previous_sha256": previous},
        }
        data = manifest.to_bytes(content)
        seal(archive, capture_id, data, [(file_entry.path, file_entry.sha256)], key)
        db.index_capture(database, content, manifest.sha256_hex(data), _texts(docs))
        database.conn.close()
        notes = [f"{d.url}: {d.note}" for d in docs if d.note]
        notes += [f"{r['target_uri']}: response truncated ({r['truncated']}), stored as received"
                  for r in responses if r.get("truncated")]
        return Result(
            capture_id=capture_id,
            manifest_path=manifest.manifest_path(archive.manifests_dir, capture_id),
            status=status,
            seeds=seeds,
            final_urls=outcome.final_urls,
            failures=[f.to_json() for f in outcome.failures],
            resources=len(responses),
            documents=len(docs),
            notes=notes,
        )


def seal(archive: Archive, capture_id: str, data: bytes, files: list[tuple[str, str]],
         key: Ed25519PrivateKey) -> None:
    """Signature, then SHA256SUMS, then the manifest itself: the manifest is the commit."""
    path = manifest.manifest_path(archive.manifests_dir, capture_id)
    signature = signing.sign(key, data, signing.MANIFEST_NAMESPACE).encode()
    manifest.write_atomic(path.with_name(path.name + ".sig"), signature)
    sums = [*files, (archive.relative(path), manifest.sha256_hex(data))]
    manifest.write_atomic(archive.manifests_dir / f"{capture_id}.SHA256SUMS",
                          manifest.sha256sums(sums))
    manifest.write_atomic(path, data)


def index_sealed(archive: Archive, database: Any, sealed: manifest.Sealed) -> None:
    content = sealed.content
    if content is None:
        return
    docs = documents_from_warc(archive.root, content["records"])
    db.index_capture(database, content, sealed.sha256, _texts(docs))


def heal_index(archive: Archive, database: Any) -> list[str]:
    """Index sealed captures the database lacks (a crash between sealing and indexing)."""
    known = db.capture_ids(database)
    healed = []
    for sealed in manifest.read_all(archive.manifests_dir):
        if sealed.content is not None and sealed.capture_id not in known:
            index_sealed(archive, database, sealed)
            healed.append(sealed.capture_id)
    return healed


def reindex(archive: Archive) -> int:
    """Rebuild custody.db from the manifests and WARC files alone."""
    with archive.lock():
        tmp = archive.root / ".custody.db.rebuild"
        tmp.unlink(missing_ok=True)
        database = db.connect(tmp)
        count = 0
        for sealed in manifest.read_all(archive.manifests_dir):
            if sealed.content is not None:
                index_sealed(archive, database, sealed)
                count += 1
        database.conn.close()
        os.replace(tmp, archive.db_path)
        return count
