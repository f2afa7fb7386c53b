"""Where a capture's exchanges go: WARC records, in a series of files.

``WarcSeries`` starts a new file whenever the current one passes its size (each file
opens with its warcinfo record); ``WarcSink`` writes each exchange as its response,
request and TLS metadata records, hands stored responses to extraction, and returns
the links of pages and stylesheets, read from the bytes that were stored.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import IO, Any, Protocol

from ..core.archive import Archive
from ..extract import content as extract
from ..extract import feeds
from ..extract.sources import POST
from ..extract.workers import (
    DECODE_LIMIT,
    Extractor,
    describable,
    extractable,
    read_stored_payload,
)
from ..warc.payload import decode, read_payload
from ..warc.records import WarcWriter, partial_path, warc_date, warcinfo_block
from .fetch import Exchange
from .links import Links, css_links, html_links
from .redact import Redactor, declared
from .state import CrawlState, Target


class Sink(Protocol):
    """Where the crawl puts each exchange; returns the links the stored response offers."""

    last_response: dict[str, Any] | None

    def store(self, exchange: Exchange, target: Target, *,
              extract: bool = True) -> Links | None: ...

    def store_renders(self, url: str, renders: list[tuple[str, str, bytes]],
                      page: dict[str, Any] | None, date: str) -> dict[str, str]: ...

    def store_resource(self, target_uri: str, media_type: str, block: IO[bytes] | bytes, *,
                       date: str, headers: list[tuple[str, str]],
                       payload_type: str | None = None) -> dict[str, Any]: ...

    def links_of(self, record: dict[str, Any]) -> Links | None: ...

    def redacted(self, record: dict[str, Any], items: list[dict[str, str]]) -> None: ...

    def poll(self) -> None: ...


class WarcSeries:
    """The capture's WARC files: a new one whenever the current one passes ``max_size``."""

    def __init__(self, archive: Archive, state: CrawlState, capture_id: str, started: datetime,
                 max_size: int, warcinfo: dict[str, str]) -> None:
        self.archive, self.state, self.capture_id = archive, state, capture_id
        self.folder = f"archive/{started:%Y}/{started:%m}"
        self.max_size = max_size
        self.warcinfo = warcinfo
        self.current: WarcWriter | None = None
        for entry in state.warc_files():
            if entry["complete"]:
                continue
            final = archive.root / entry["path"]
            if not partial_path(final).exists() and final.exists():
                # renamed into place, then killed before the state said so: it is whole
                from ..warc.scan import file_sha256

                size, digest = file_sha256(final)
                state.complete_warc(entry["path"], size, digest)
                continue
            # interrupted: continue it after its last committed record
            self.current = WarcWriter(archive.root, entry["path"],
                                      resume_at=state.committed_end(entry["path"]))

    def writer(self) -> WarcWriter:
        if self.current is not None and self.current.size >= self.max_size:
            self.close()
        if self.current is None:
            number = len(self.state.warc_files())
            relpath = f"{self.folder}/{self.capture_id}-{number:05d}.warc.gz"
            # a .partial already there was begun by this capture, but its state was never
            # committed (a full disk, a kill at the wrong instant): no record of it counts
            begun = partial_path(self.archive.root / relpath).exists()
            self.current = WarcWriter(self.archive.root, relpath, resume_at=0 if begun else None)
            self.state.add_warc(relpath)
            entry = self.current.write(
                "warcinfo", warcinfo_block(self.warcinfo), target_uri=None,
                content_type="application/warc-fields",
                headers=[("WARC-Filename", Path(relpath).name)])
            self.state.add_record(entry.to_json())
        return self.current

    def readable(self) -> list[tuple[str, Path]]:
        """The capture's WARC files as a reader finds them now, each (its path in the
        archive, where it lies: the one being written under its partial name), what is
        written flushed."""
        if self.current is not None:
            self.current.flush()
        return [(entry["path"], self.archive.root / entry["path"] if entry["complete"]
                 else partial_path(self.archive.root / entry["path"]))
                for entry in self.state.warc_files()]

    def close(self) -> None:
        if self.current is not None:
            done = self.current.close()
            self.state.complete_warc(done.path, done.bytes, done.sha256)
            self.current = None


class WarcSink:
    """Writes each exchange as request/response (and TLS metadata) records."""

    def __init__(self, series: WarcSeries, state: CrawlState, extractor: Extractor,
                 redactor: Redactor | None = None) -> None:
        """``redactor``: in a capture with the archivist's session, what replaces its
        credentials in the records (redact.py)."""
        self.series, self.state, self.extractor = series, state, extractor
        self.redactor = redactor
        self._posts: set[str] = set()  # feed posts stored already (pages overlap)
        self.last_response: dict[str, Any] | None = None  # the latest response record
        self.band = ""  # what a screenshot's band says besides its URL and time

    def store_renders(self, url: str, renders: list[tuple[str, str, bytes]],
                      page: dict[str, Any] | None, date: str) -> dict[str, str]:
        """What a browser made of a page -- (name, media type, bytes): screenshots, PDF,
        DOM -- as resource records tied to the page's response record; their record ids
        by name. The rendered DOM goes to extraction."""
        writer = self.series.writer()
        tied: list[tuple[str, str]] = []
        if page is not None:
            tied = [("WARC-Concurrent-To", page["record_id"]), *refers_to(page)]
        ids = {}
        for name, media_type, data in renders:
            entry = self._write(writer, "resource", data, target_uri=f"urn:{name}:{url}",
                                date=date, content_type=media_type, headers=tied,
                                payload_type=media_type)
            ids[name] = entry["record_id"]
            if extractable(entry):
                self.extractor.submit(entry)
        return ids

    def store_resource(self, target_uri: str, media_type: str, block: IO[bytes] | bytes, *,
                       date: str, headers: list[tuple[str, str]],
                       payload_type: str | None = None) -> dict[str, Any]:
        """One resource record (a media file, yt-dlp's info JSON), streamed from ``block``
        when it is a file; its entry. What custody extracts goes to extraction."""
        entry = self._write(self.series.writer(), "resource", block, target_uri=target_uri,
                            date=date, content_type=media_type, headers=headers,
                            payload_type=payload_type or media_type)
        if extractable(entry):
            self.extractor.submit(entry)
        return entry

    def poll(self) -> None:
        self.extractor.poll(self.state)

    def _write(self, writer: WarcWriter, rec_type: str, block: Any,
               **kwargs: Any) -> dict[str, Any]:
        entry = writer.write(rec_type, block, **kwargs).to_json()
        self.state.add_record(entry)
        return entry

    def store(self, exchange: Exchange, target: Target, *,
              extract: bool = True) -> Links | None:
        date = warc_date(exchange.started_at)
        writer = self.series.writer()  # an exchange's records stay together in one file
        request_bytes = exchange.request_bytes
        hidden: list[dict[str, str]] = []
        shown: list[dict[str, str]] = []
        if self.redactor is not None:
            request_bytes, hidden = self.redactor.request(exchange.request_bytes)
            if exchange.response is not None:  # bytes that are not HTTP too: as they parse
                exchange.response, exchange.response_size, shown = self.redactor.response(
                    exchange.response, exchange.response_size)
        if not exchange.ok or exchange.response is None:
            block = warcinfo_block(
                {"fetch-error": exchange.error_kind or "network", "reason": exchange.error or ""}
            )
            tied: list[tuple[str, str]] = []
            if exchange.response is not None:
                # bytes that are not an HTTP response (HTTP/0.9, another protocol, a status
                # line cut short): kept as they came, as a resource record -- a response
                # record is read as HTTP by every tool, and these bytes are not
                reply = self._write(writer, "resource", exchange.response,
                                    target_uri=exchange.url, date=date,
                                    content_type="application/octet-stream", ip=exchange.ip,
                                    headers=declared(shown))
                self.redacted(reply, shown)
                tied = [("WARC-Concurrent-To", reply["record_id"])]
                request = self._write(writer, "request", request_bytes,
                                      target_uri=exchange.url, date=date,
                                      content_type="application/http; msgtype=request",
                                      headers=tied + declared(hidden), ip=exchange.ip)
                self.redacted(request, hidden + self._url_secrets(exchange))
            self._write(writer, "metadata", block, target_uri=exchange.url, date=date,
                        content_type="application/warc-fields", headers=tied)
            return None
        extra = [("WARC-Truncated", exchange.truncated)] if exchange.truncated else []
        extra += declared(shown)
        response = self.last_response = self._write(
            writer, "response", exchange.response, target_uri=exchange.url, date=date,
            content_type="application/http; msgtype=response", headers=extra,
            http_status=exchange.status, ip=exchange.ip,
            payload_type=exchange.headers.get("content-type"),
        )
        self.redacted(response, shown + self._url_secrets(exchange, location=True))
        concurrent = [("WARC-Concurrent-To", response["record_id"])]
        request = self._write(writer, "request", request_bytes, target_uri=exchange.url,
                              date=date, content_type="application/http; msgtype=request",
                              headers=concurrent + declared(hidden), ip=exchange.ip)
        self.redacted(request, hidden + self._url_secrets(exchange))
        if exchange.tls_chain:
            self._write(
                writer, "metadata", _pem_chain(exchange.tls_chain), target_uri=exchange.url,
                date=date, content_type="application/pem-certificate-chain",
                headers=[*concurrent, ("WARC-TLS-Version", exchange.tls_version or ""),
                         ("WARC-TLS-Cipher", exchange.tls_cipher or "")],
            )
        if extract and (extractable(response) or describable(response)):
            self.extractor.submit(response)
        elif not extract:
            self.state.not_extracted(response["record_id"])
        return self._links(writer, response, exchange)

    def redacted(self, record: dict[str, Any], items: list[dict[str, str]]) -> None:
        """Credentials replaced in a record, and session values its URL carries, for the
        manifest and the credentials file."""
        if items:
            self.state.add_redactions(record["record_id"], items)

    def _url_secrets(self, exchange: Exchange, *, location: bool = False
                     ) -> list[dict[str, str]]:
        """In a capture with the archivist's session: the session values in the URL the
        exchange fetched, or (``location``) that its redirect's Location adds."""
        if self.redactor is None:
            return []
        if not location:
            return self.redactor.url_secrets(exchange.url)
        if exchange.status is None or not 300 <= exchange.status < 400:
            return []
        target = exchange.headers.get("location")
        return self.redactor.location_secrets(exchange.url, target) if target else []

    def links_of(self, record: dict[str, Any]) -> Links | None:
        """The links of a page stored earlier, read back from its WARC record."""
        ctype = (record.get("payload_type") or "").split(";")[0].strip().lower()
        status = record.get("http_status") or 0
        if ctype not in extract.HTML_TYPES or not 200 <= status < 300:
            return None
        payload = read_stored_payload(self.series.archive.root, record)
        if payload.error or payload.exceeded:
            return None
        charset = extract.header_charset(record.get("payload_type") or "") or "utf-8"
        try:
            text = payload.body.decode(charset, errors="replace")
        except LookupError:
            text = payload.body.decode("utf-8", errors="replace")
        return html_links(text, record["target_uri"])

    def _links(self, writer: WarcWriter, response: dict[str, Any],
               exchange: Exchange) -> Links | None:
        ctype = exchange.content_type
        if exchange.status is None or not 200 <= exchange.status < 300:
            return None
        if ctype not in extract.HTML_TYPES and ctype != "text/css":
            return None  # images, PDFs, scripts...: stored, not parsed for links
        body = _decoded_entity(exchange)
        if body is None:  # too large to have been kept: read it back, within the bound
            payload = read_payload(writer.tmp_path, response["offset"], DECODE_LIMIT)
            if payload.error or payload.exceeded:
                return None
            body = payload.body
        charset = extract.header_charset(exchange.headers.get("content-type", "")) or "utf-8"
        try:
            text = body.decode(charset, errors="replace")
        except LookupError:
            text = body.decode("utf-8", errors="replace")
        if ctype == "text/css":
            return css_links(text, exchange.url)
        self._store_posts(response, text)
        return html_links(text, exchange.url)

    def _store_posts(self, response: dict[str, Any], html: str) -> None:
        """Each post of a feed page (a Telegram channel preview), as a record of its own
        cut out of the page, for its own document: its URL, author and time."""
        for post in feeds.posts(html, response["target_uri"]):
            if post.url in self._posts:
                continue
            self._posts.add(post.url)
            self.store_resource(f"{POST}{post.url}", "text/html", post.html,
                                date=response["date"],
                                headers=[*refers_to(response),
                                         ("Custody-Derived-From", response["target_uri"])],
                                payload_type=extract.POST_TYPE)


def refers_to(record: dict[str, Any]) -> list[tuple[str, str]]:
    """The WARC fields that tie a record to another (a render or a media file to the
    page's response)."""
    return [("WARC-Refers-To", record["record_id"]),
            ("WARC-Refers-To-Target-URI", record["target_uri"]),
            ("WARC-Refers-To-Date", record["date"])]


def _decoded_entity(exchange: Exchange) -> bytes | None:
    """The kept body with its content-encoding undone (httpcore undid the chunking), never
    inflated past the bound; None when it cannot be decoded within it."""
    if exchange.entity is None:
        return None
    decoded = decode(exchange.entity, exchange.headers.multi_items(), DECODE_LIMIT,
                     chunked_already_undone=True)
    return None if decoded.error or decoded.exceeded else decoded.body()


def _pem_chain(chain: list[bytes]) -> bytes:
    import ssl

    return "".join(ssl.DER_cert_to_PEM_cert(der) for der in chain).encode("ascii")
