"""The URLs a capture starts from: given as arguments, in a file (``--from FILE``) or on
standard input ('-'), one per line, each checked and named by its file and line."""

from __future__ import annotations

import sys

from ..core.errors import UsageError


def read_seeds(urls: tuple[str, ...], from_file: str | None
                ) -> tuple[list[str], list[list[str]]]:
    """URLs from the arguments, from --from FILE and from stdin ('-'): # comments skipped;
    each checked, a bad one named by its file and line. A URL's user:password@ is taken
    out of it before anything is written: the logins, (origin, user, password), apart."""
    from ..core.errors import InvalidURL
    from ..core.urls import check_url, split_login

    lines: list[tuple[str, str]] = []  # (where, text)
    sources = list(urls)
    if from_file:
        sources.append("@" + from_file)
    for item in sources:
        if item == "-":
            lines += numbered("standard input", sys.stdin.buffer.read())
        elif item.startswith("@"):
            try:
                with open(item[1:], "rb") as fh:
                    data = fh.read()
            except OSError as exc:
                raise UsageError(f"cannot read URL list: {exc.strerror}", where=item[1:]) from exc
            lines += numbered(item[1:], data)
        else:
            lines.append(("", item))
    seeds: list[str] = []
    logins: dict[str, tuple[str, str, str]] = {}  # by origin
    for where, text in lines:
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        bare, login = split_login(text)
        try:
            seeds.append(check_url(bare))
        except InvalidURL as exc:
            raise UsageError(str(exc), where=where or None) from exc
        if login is not None and logins.setdefault(login[0], login) != login:
            raise UsageError(f"two logins for {login[0]}: give one", where=where or None)
    return list(dict.fromkeys(seeds)), [list(login) for login in logins.values()]


def numbered(name: str, data: bytes) -> list[tuple[str, str]]:
    """The lines of a URL list as text, each named '<file>:<line>'; UsageError on a line
    that is not UTF-8 text (a binary file, or another encoding)."""
    out = []
    data = data.removeprefix(b"\xef\xbb\xbf")
    for number, raw in enumerate(data.split(b"\n"), start=1):
        raw = raw.removesuffix(b"\r")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UsageError(f"not UTF-8 text (byte {exc.start + 1}): a URL list is one "
                             "URL per line, in UTF-8", where=f"{name}:{number}") from exc
        if "\x00" in text:
            raise UsageError("holds a NUL byte: is this a binary file?",
                             where=f"{name}:{number}")
        out.append((f"{name}:{number}", text))
    return out
