"""The archivist's session (--cookies, --browser-profile, a seed's user:password@), for
every fetcher.

Cookies are read with yt-dlp's cookie code, which yt-dlp itself then uses: a Netscape
cookies.txt (as browser extensions, wget and yt-dlp write it; "#HttpOnly_" lines and
session cookies with expiry 0 included), or the cookie store of a Chromium user-data
directory, decrypted as Chromium's own "basic" store or the desktop keyring does.
The jar is held in memory; custody never writes it back to the archivist's file.

A login a seed carried (``https://user:password@host/``) is sent as HTTP Basic
authentication with every request to that seed's origin (scheme, host and port) --
custody's own, the browser's and yt-dlp's, as curl sends it, without waiting for a
challenge -- and to no other origin, a redirect's included.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import UsageError

if TYPE_CHECKING:  # a capture without a session never loads them
    from email.message import Message
    from http.cookiejar import Cookie


class Session:
    """The archivist's session: a cookie jar (yt_dlp.cookies.YoutubeDLCookieJar, empty
    when no cookies were given) and the logins by origin."""

    def __init__(self, jar: Any, logins: dict[str, tuple[str, str]]) -> None:
        self.jar = jar
        self.logins = logins

    def authorization(self, url: str) -> str | None:
        """The Authorization field for ``url``: Basic, when a seed's login is for its
        origin."""
        import base64

        from .urls import origin_of

        try:
            login = self.logins.get(origin_of(url))
        except ValueError:
            return None
        if login is None:
            return None
        user, password = login
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def load(cookies: str | None, profile: str | None,
         logins: list[list[str]] | None = None) -> Session | None:
    """The session: a cookie jar from the file and/or the profile, and the seeds' logins
    (origin, user, password); None when none is given. UsageError, in one line, when a
    file or profile cannot be read."""
    if not cookies and not profile and not logins:
        return None
    from yt_dlp.cookies import YoutubeDLCookieJar

    jar = YoutubeDLCookieJar()
    session = Session(jar, {origin: (user, password) for origin, user, password in
                            logins or []})
    if cookies:
        skipped = io.StringIO()  # yt-dlp prints the lines it skips: said once, below
        try:
            with contextlib.redirect_stderr(skipped):
                jar.load(cookies, ignore_discard=True, ignore_expires=True)
        except (OSError, ValueError) as exc:  # http.cookiejar.LoadError is an OSError
            raise UsageError("not a Netscape cookies.txt file (as browser extensions, wget "
                             "and yt-dlp write them)", where=cookies) from exc
        if not len(jar):
            raise UsageError("holds no cookie in Netscape cookies.txt form"
                             + (" (its lines are not)" if skipped.getvalue() else ""),
                             where=cookies)
    if profile:
        for cookie in _profile_cookies(profile):
            jar.set_cookie(cookie)
    return session


def _profile_cookies(profile: str) -> list[Cookie]:
    from yt_dlp.cookies import extract_cookies_from_browser

    class Quiet:
        def debug(self, message: str) -> None: ...
        def info(self, message: str) -> None: ...
        def warning(self, message: str, only_once: bool = False) -> None: ...
        def error(self, message: str) -> None: ...

    try:
        found = extract_cookies_from_browser("chromium", profile=str(Path(profile).resolve()),
                                             logger=Quiet())
    except Exception as exc:  # yt-dlp says why: no cookie store there, or no key for it
        raise UsageError(f"cannot read the cookies of this Chromium profile: "
                         f"{str(exc).splitlines()[0] if str(exc) else exc!r}",
                         where=profile) from exc
    cookies = list(found)
    if not cookies:
        raise UsageError("this Chromium profile holds no cookies", where=profile)
    return cookies


def header_for(session: Session, url: str) -> str | None:
    """The Cookie field a browser would send to ``url``."""
    return session.jar.get_cookie_header(url) or None


def take_set_cookie(session: Session, url: str, fields: list[tuple[str, str]]) -> None:
    """Keep what a response's Set-Cookie fields set (a server renewing the session), as a
    browser would; only in memory."""
    if not any(name.lower() == "set-cookie" for name, _ in fields):
        return
    import urllib.request
    from email.message import Message

    message = Message()
    for name, value in fields:
        message[name] = value

    class Response:
        def info(self) -> Message:
            return message

    with contextlib.suppress(Exception):  # a malformed Set-Cookie is the server's, kept
        session.jar.extract_cookies(Response(), urllib.request.Request(url))


def for_playwright(session: Session) -> list[dict[str, Any]]:
    """The jar as Playwright's BrowserContext.add_cookies takes it."""
    out = []
    for cookie in session.jar:
        item: dict[str, Any] = {"name": cookie.name, "value": cookie.value or "",
                                "domain": cookie.domain, "path": cookie.path or "/",
                                "secure": bool(cookie.secure),
                                "httpOnly": cookie.has_nonstandard_attr("HttpOnly")}
        if cookie.expires:
            item["expires"] = float(cookie.expires)
        out.append(item)
    return out


def netscape_file(session: Session, folder: Path) -> Path:
    """The jar as a cookies.txt in ``folder`` (a private temporary one), for yt-dlp."""
    handle = tempfile.NamedTemporaryFile("w", dir=folder, suffix=".cookies.txt",  # noqa: SIM115
                                         delete=False)
    handle.close()
    path = Path(handle.name)
    path.chmod(0o600)
    # written here: the jar's own save() marks its session cookies expired as it goes
    lines = ["# Netscape HTTP Cookie File"]
    for cookie in session.jar:
        prefix = "#HttpOnly_" if cookie.has_nonstandard_attr("HttpOnly") else ""
        lines.append("\t".join([
            prefix + cookie.domain, "TRUE" if cookie.domain.startswith(".") else "FALSE",
            cookie.path or "/", "TRUE" if cookie.secure else "FALSE",
            str(int(cookie.expires or 0)), cookie.name, cookie.value or ""]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path

