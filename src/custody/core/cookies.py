"""The archivist's session cookies (--cookies, --browser-profile), for every fetcher.

Read with yt-dlp's cookie code, which yt-dlp itself then uses: a Netscape cookies.txt
(as browser extensions, wget and yt-dlp write it; "#HttpOnly_" lines and session
cookies with expiry 0 included), or the cookie store of a Chromium user-data
directory, decrypted as Chromium's own "basic" store or the desktop keyring does.
The jar is held in memory; custody never writes it back to the archivist's file.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from email.message import Message
from http.cookiejar import Cookie
from pathlib import Path
from typing import Any

from .errors import UsageError


def load(cookies: str | None, profile: str | None) -> Any | None:
    """A cookie jar (yt_dlp.cookies.YoutubeDLCookieJar) from the file and/or the profile;
    None when neither is given. UsageError, in one line, when one cannot be read."""
    if not cookies and not profile:
        return None
    from yt_dlp.cookies import YoutubeDLCookieJar

    jar = YoutubeDLCookieJar()
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
    return jar


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


def header_for(jar: Any, url: str) -> str | None:
    """The Cookie field a browser would send to ``url``."""
    return jar.get_cookie_header(url) or None


def take_set_cookie(jar: Any, url: str, fields: list[tuple[str, str]]) -> None:
    """Keep what a response's Set-Cookie fields set (a server renewing the session), as a
    browser would; only in memory."""
    if not any(name.lower() == "set-cookie" for name, _ in fields):
        return
    import urllib.request

    message = Message()
    for name, value in fields:
        message[name] = value

    class Response:
        def info(self) -> Message:
            return message

    with contextlib.suppress(Exception):  # a malformed Set-Cookie is the server's, kept
        jar.extract_cookies(Response(), urllib.request.Request(url))


def for_playwright(jar: Any) -> list[dict[str, Any]]:
    """The jar as Playwright's BrowserContext.add_cookies takes it."""
    out = []
    for cookie in jar:
        item: dict[str, Any] = {"name": cookie.name, "value": cookie.value or "",
                                "domain": cookie.domain, "path": cookie.path or "/",
                                "secure": bool(cookie.secure),
                                "httpOnly": cookie.has_nonstandard_attr("HttpOnly")}
        if cookie.expires:
            item["expires"] = float(cookie.expires)
        out.append(item)
    return out


def netscape_file(jar: Any, folder: Path) -> Path:
    """The jar as a cookies.txt in ``folder`` (a private temporary one), for yt-dlp."""
    handle = tempfile.NamedTemporaryFile("w", dir=folder, suffix=".cookies.txt",  # noqa: SIM115
                                         delete=False)
    handle.close()
    path = Path(handle.name)
    path.chmod(0o600)
    # written here: the jar's own save() marks its session cookies expired as it goes
    lines = ["# Netscape HTTP Cookie File"]
    for cookie in jar:
        prefix = "#HttpOnly_" if cookie.has_nonstandard_attr("HttpOnly") else ""
        lines.append("\t".join([
            prefix + cookie.domain, "TRUE" if cookie.domain.startswith(".") else "FALSE",
            cookie.path or "/", "TRUE" if cookie.secure else "FALSE",
            str(int(cookie.expires or 0)), cookie.name, cookie.value or ""]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path

