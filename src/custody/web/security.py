"""The workbench's guard, in front of every route: who may ask, from where, and what the
browser may do with the answer.

A local web application is attacked through the pages its user visits, so:

- **Host**: a request whose ``Host`` is not one the server was started for is refused,
  so a site that points its own name at 127.0.0.1 (DNS rebinding) reads nothing.
- **Resource isolation**: a request another site (or the replay's port: ports share a
  site) makes in the background -- ``Sec-Fetch-Site`` cross-site or same-site, and not
  a person following a link -- is refused before any route runs.
- **Changes**: a POST must come from the workbench's own origin (``Origin``) and carry
  the session's CSRF token (checked by ``form_of``); GETs change nothing.
- **Sign-in**: on loopback, the per-run secret printed at start opens a session (its
  cookie, HttpOnly and SameSite=Strict) and is taken out of the address at once; with
  ``--host``, accounts sign in with their passwords (routes in auth.py).
- **Headers**: a strict Content-Security-Policy (scripts and styles from the
  workbench's own files only, no inline code; frames only from the replay's origin),
  no framing of the workbench, no Referer to other origins, no sniffing, nothing cached.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request

from .sessions import COOKIE, Session, Sessions, same_secret

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = ("/static/", "/login", "/favicon.ico")  # answered before sign-in


@dataclass
class GuardSettings:
    hosts: frozenset[str]  # "host:port" (lower case) the server answers to
    sessions: Sessions
    replay_port: int | None
    replay_host: str | None = None  # --replay-host; None: other_site() of the request's
    token: str | None = None  # the per-run secret (loopback); None with accounts
    local_account: tuple[str, str] = ("archivist", "admin")
    secure_cookie: bool = False  # over TLS: the cookie goes only over TLS
    extra_headers: dict[str, str] = field(default_factory=dict)


def csp(replay_origin: str | None) -> str:
    frames = replay_origin or "'none'"
    if replay_origin is not None and "[" in replay_origin:
        # a policy's source cannot name an IPv6 address (browsers drop it, and frame
        # nothing): the replay's scheme and port, on any host
        scheme, _, rest = replay_origin.partition("://")
        frames = f"{scheme}://*:{rest.rsplit(':', 1)[1]}"
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self'; font-src 'self'; frame-src {frames}; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'")


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def host_of(scope: Scope) -> str:
    return (header(scope, b"host") or "").strip().lower()


class Guard:
    def __init__(self, app: ASGIApp, settings: GuardSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = host_of(scope)
        if host not in self.settings.hosts:
            await plain(send, 421, "custody serve: this server does not answer to that "
                                    "Host (DNS rebinding?)")
            return
        refusal = _isolation(scope)
        if refusal:
            await plain(send, 403, refusal)
            return
        scheme = "https" if self.settings.secure_cookie else "http"
        hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        replay_host = url_host(self.settings.replay_host) if self.settings.replay_host \
            else other_site(hostname)
        replay = f"{scheme}://{replay_host}:{self.settings.replay_port}" \
            if self.settings.replay_port else None
        headers = _headers(csp(replay), self.settings.extra_headers)
        scope.setdefault("state", {})["replay_origin"] = replay

        began = time.perf_counter()

        async def send_guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                took = f"app;dur={(time.perf_counter() - began) * 1000:.1f}".encode()
                message["headers"] = [*message.get("headers", []),
                                      *(h for h in headers if h[0] not in present),
                                      (b"server-timing", took)]  # (scripts/bench_serve.py)
            await send(message)

        session = self.settings.sessions.get(_cookie(scope))
        query = scope.get("query_string", b"").decode("latin-1")
        given = dict(parse_qsl(query)).get("token")
        if given is not None and self.settings.token is not None:
            if same_secret(given, self.settings.token):
                name, role = self.settings.local_account
                opened = self.settings.sessions.open(name, role)
                rest = urlencode([(k, v) for k, v in parse_qsl(query) if k != "token"])
                await _redirect(send_guarded, scope["path"] + (f"?{rest}" if rest else ""),
                                self._cookie_header(opened))
                return
            await plain(send_guarded, 403, "custody serve: that is not this run's secret; "
                                            "open the address custody serve printed")
            return
        scope["state"]["session"] = session
        if session is None and not scope["path"].startswith(OPEN_PATHS):
            if scope["method"] in ("GET", "HEAD") and self.settings.token is None:
                await _redirect(send_guarded, "/login?" + urlencode({"next": scope["path"]}),
                                None)
                return
            await plain(send_guarded, 401, "custody serve: sign in first -- open the "
                                            "address custody serve printed (with its token)")
            return
        await self.app(scope, receive, send_guarded)

    def _cookie_header(self, session: Session) -> bytes:
        secure = "; Secure" if self.settings.secure_cookie else ""
        return (f"{COOKIE}={session.id}; Path=/; HttpOnly; SameSite=Strict{secure}").encode()

    def session_cookie(self, session: Session) -> str:
        return self._cookie_header(session).decode()


def other_site(hostname: str) -> str:
    """The replay's host, as a URL names it: another site than the workbench's, where
    loopback has one (``localhost`` reaches ::1 as well)."""
    bare = hostname.strip("[]")
    if bare in ("127.0.0.1", "::1"):
        return "localhost"
    if bare == "localhost":
        return "127.0.0.1"
    return url_host(bare)


def url_host(hostname: str) -> str:
    """A host name or address as a URL writes it: an IPv6 address in brackets."""
    bare = hostname.strip("[]")
    return f"[{bare}]" if ":" in bare else bare


def _isolation(scope: Scope) -> str | None:
    """Why a request another site made is refused (None: it is not refused)."""
    site = header(scope, b"sec-fetch-site")
    method = scope["method"]
    if method not in ("GET", "HEAD"):
        origin = header(scope, b"origin")
        host = host_of(scope)
        if origin is not None and origin.split("://", 1)[-1].lower() != host:
            return "custody serve: a change from another origin is refused"
        if site is not None and site not in ("same-origin", "none"):
            return "custody serve: a change from another site is refused"
        return None
    if site in (None, "same-origin", "none"):
        return None
    mode = header(scope, b"sec-fetch-mode")
    dest = header(scope, b"sec-fetch-dest")
    if mode == "navigate" and dest == "document":
        return None  # a person following a link to the workbench: it changes nothing
    return "custody serve: a request another site made in the background is refused"


def _cookie(scope: Scope) -> str | None:
    raw = header(scope, b"cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # http.cookies.CookieError: a malformed header carries no session
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel else None


def _headers(policy: str, extra: dict[str, str]) -> list[tuple[bytes, bytes]]:
    values = {
        "content-security-policy": policy,
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        # (no-referrer would make the browser send "Origin: null" with our own forms)
        "referrer-policy": "same-origin",
        "cross-origin-opener-policy": "same-origin",
        "cross-origin-resource-policy": "same-origin",
        "cache-control": "no-store",
        **extra,
    }
    return [(k.encode(), v.encode()) for k, v in values.items()]


async def plain(send: Send, status: int, text: str) -> None:
    body = (text + "\n").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _redirect(send: Send, location: str, cookie: bytes | None) -> None:
    headers = [(b"location", location.encode("latin-1", "replace")),
               (b"content-length", b"0")]
    if cookie is not None:
        headers.append((b"set-cookie", cookie))
    await send({"type": "http.response.start", "status": 303, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def session_of(request: Request) -> Session:
    session = request.scope.get("state", {}).get("session")
    if session is None:
        raise HTTPException(401, "sign in first")
    return session


def require(request: Request, action: str) -> Session:
    """The session, when its role may do ``action``; 403 otherwise."""
    from .accounts import allowed

    session = session_of(request)
    if not allowed(session.role, action):
        raise HTTPException(403, f"the {session.role} role may not {action}")
    return session


FORM_FILES, FORM_FIELDS, FORM_PART = 1, 1_100, 1024 * 1024


async def form_of(request: Request, action: str) -> tuple[Session, FormData]:
    """A change's form, when it carries the session's CSRF token and the session's role
    may do ``action``; 403 otherwise (nothing is done)."""
    session = require(request, action)
    # one file at most (a cookies.txt), a field of at most 1 MiB, and as many fields as
    # the longest form has (a page of captures ticked for a case): past them, a 400
    form = await request.form(max_files=FORM_FILES, max_fields=FORM_FIELDS,
                              max_part_size=FORM_PART)
    given = form.get("csrf")
    if not isinstance(given, str):
        given = request.headers.get("x-csrf-token")
    if not same_secret(given, session.csrf):
        raise HTTPException(403, "this form is not from this session (CSRF token); "
                                 "reload the page and try again")
    return session, form
