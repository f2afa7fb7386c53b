"""The replay's own origin: a port (and, on loopback, a host name) of its own, in front of
pywb, so that an archived page's scripts, run again in replay, can never call the
workbench as its user.

The workbench frames ``http://<replay host>:<replay port>/<secret>-<capture id>/<url>``.
The replay's host is another *site* than the workbench's where it can be (``localhost``
for a workbench opened at 127.0.0.1, and the other way round; ``--replay-host`` for a
team): cookies are not shared, and what a replayed page asks of the workbench arrives
as a cross-site request, which the workbench's guard refuses. The path's secret, made
per run and shown only to signed-in pages, is what admits a request here (no cookie
crosses); the Host is checked as the workbench checks its own. Only the capture
collections and pywb's static files are passed on: pywb's home and listings are not, nor
a path with a ``.`` or ``..`` segment. pywb's guard (replay/pywb_socket.py) keeps a
replayed page to this origin: its Content-Security-Policy on every answer, no raw
records, no service workers, no WebRTC.

A capture's collection is made when it is first asked for (replay/pywb.py
``add_collection``: its WARC files hashed against the manifest, its index made from it).
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx

from ..core.archive import Archive
from ..core.errors import CustodyError
from .security import Receive, Scope, Send, host_of, plain

log = logging.getLogger("custody.serve")
_COLLECTION = re.compile(r"^/([A-Za-z0-9_-]{16,})-(\d{8}T\d{6}Z-[0-9a-f]{8})(/.*)?$")
_NOT_PASSED = {b"cookie", b"connection", b"content-length", b"x-forwarded-proto",
               b"x-forwarded-host", b"x-forwarded-for", b"forwarded"}
_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer", b"upgrade",
        b"proxy-authorization", b"proxy-authenticate", b"content-length", b"set-cookie"}


class ReplayProxy:
    def __init__(self, archive: Archive, folder: Path, secret: str, pywb_socket: Path,
                 hosts: frozenset[str], scheme: str = "http") -> None:
        """``scheme``: https when the replay (as the workbench) is served with TLS."""
        self.archive = archive
        self.scheme = scheme
        self.folder = folder
        self.secret = secret
        self.hosts = hosts
        self.upstream = "http://pywb"  # on its Unix socket: the Host is passed on as asked
        self.client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=str(pywb_socket)),
            timeout=httpx.Timeout(120.0, connect=10.0))
        self.ready: dict[str, str | None] = {}  # capture id -> why not replayed (None: ok)
        self.failing = False  # pywb did not answer the last request passed on
        self._lock = threading.Lock()

    def address(self, origin: str, capture_id: str, url: str, *,
                embedded: bool = False) -> str:
        """The page's replay at ``origin`` (scheme://host:port); ``embedded``: the
        replayed page alone (pywb's mp_), for a frame of the workbench's page, without
        pywb's own banner around it (which keeps its state in the browser's storage,
        refused to a frame of another site)."""
        return f"{origin}/{self.secret}-{capture_id}/" \
            f"{'mp_/' if embedded else ''}{url}"

    def prepare(self, capture_id: str) -> str | None:
        """Make the capture's collection if need be; why it cannot be replayed, or None."""
        from ..replay.pywb import add_collection

        with self._lock:
            if capture_id not in self.ready:
                try:
                    add_collection(self.folder, f"{self.secret}-{capture_id}", self.archive,
                                   capture_id)
                    self.ready[capture_id] = None
                except CustodyError as exc:
                    self.ready[capture_id] = str(exc)
            return self.ready[capture_id]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if host_of(scope) not in self.hosts:
            await plain(send, 421, "custody replay: this server does not answer to that Host")
            return
        path = scope["path"]
        raw = scope.get("raw_path") or path.encode()
        if any(part in (".", "..") for part in
               (unquote(raw.decode("latin-1")) + "/" + path).replace("\\", "/").split("/")):
            # (pywb would resolve it, past the secret: /static/../<collection>/...)
            await plain(send, 404, "custody replay: no such path")
            return
        found = _COLLECTION.match(path)
        if found and found.group(1) == self.secret:
            problem = await asyncio.to_thread(self.prepare, found.group(2))
            if problem:
                await plain(send, 409, f"custody replay: {problem}")
                return
        elif not path.startswith("/static/"):
            await plain(send, 404, "custody replay: open a capture from the workbench")
            return
        await self._forward(scope, receive, send)

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]
                   if k not in _NOT_PASSED]
        # pywb writes the replay's own URLs (its scripts, its prefix) on the scheme it is
        # told, not on the one a client would claim
        headers.append(("X-Forwarded-Proto", self.scheme))
        query = scope.get("query_string", b"").decode("latin-1")
        url = self.upstream + scope.get("raw_path", scope["path"].encode()).decode("latin-1") \
            + (f"?{query}" if query else "")
        request = self.client.build_request(scope["method"], url, headers=headers,
                                            content=body or None)
        try:
            answer = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            if not self.failing:  # said once (on the terminal), until pywb answers again
                log.warning("replay: pywb did not answer (%s): pages are not replayed",
                            exc.__class__.__name__)
            self.failing = True
            await plain(send, 502, f"custody replay: pywb did not answer ({exc})")
            return
        self.failing = False
        try:
            out: list[tuple[bytes, bytes]] = [
                (k.lower(), v) for k, v in answer.headers.raw if k.lower() not in _HOP]
            out += [(b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer")]
            await send({"type": "http.response.start", "status": answer.status_code,
                        "headers": out})
            async for piece in answer.aiter_raw():
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await answer.aclose()

    async def close(self) -> Any:
        await self.client.aclose()
