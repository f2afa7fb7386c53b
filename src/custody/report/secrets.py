"""Where a capture's session secrets would go out: searched for before a bundle, an export
or a report is written.

A capture made with the archivist's session keeps its known secret values in its
credentials file (capture/redact.py): each value replaced in a credential field, each
session value seen in a URL, and what a Basic credential holds (``user:password``, the
password). The WARC payload is evidence and is never rewritten, so a value a server
echoed -- in a redirect URL, a page, a JSON body, the DOM a script built -- is still in
what would be handed over. Before anything is written, each value is looked for as it
is written, percent-escaped (``+`` for a space too), JSON-escaped and HTML-escaped, in
any ASCII case, in:

- each manifest, string by string (named by its place: ``records[12].target_uri``);
- each WARC record of the capture: its WARC fields, its HTTP start line (the request
  line) and fields (Referer, Location...), its block as stored, and its body decoded
  (chunking, gzip and deflate undone);
- the text custody.db holds for each document (what search snippets show), which is how
  a value written with HTML entities, or in another charset, shows;
- the files the command makes itself (the report, a WACZ's indexes).

Values shorter than MIN_SECRET are not searched for (they cannot be told apart from
ordinary text) and are counted as such; screenshots and PDFs the browser made are
pictures of text, which custody cannot read, and are counted too.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from ..capture.redact import MARK, MIN_SECRET
from ..core.archive import Archive
from ..core.errors import SecretsFound
from ..seal import manifest
from ..warc.payload import decoder_for, header

PICTURES = ("urn:screenshot:", "urn:screenshot-unmarked:", "urn:pdf:")
_READ = 64 * 1024  # raw bytes at a time: at most 1032 times as many when inflated
_DECODED_LIMIT = 1 << 30  # a body decoded past this is said not to be searched whole


@dataclass(frozen=True)
class Secret:
    kind: str  # the field it was in (Cookie, Set-Cookie, Authorization...), or URL
    name: str  # the cookie's name, the scheme, the URL parameter
    hmac: str  # its keyed hash, as the manifest lists it
    value: str = field(repr=False, compare=False)

    @property
    def label(self) -> str:
        return (f"{self.kind} {self.name}".strip()
                + f" ({self.hmac.removeprefix(MARK)[:12]})")


@dataclass
class Search:
    searched: list[Secret] = field(default_factory=list)
    short: list[Secret] = field(default_factory=list)  # not searched for: too short
    unsearchable: list[str] = field(default_factory=list)  # why some could not be
    places: list[tuple[Secret, str]] = field(default_factory=list)
    pictures: int = 0  # screenshots and PDFs: not readable as text

    @property
    def session(self) -> bool:
        """The captures were made with the archivist's session."""
        return bool(self.searched or self.short or self.unsearchable)

    @property
    def clean(self) -> bool:
        return not self.places and not self.unsearchable

    def lines(self) -> list[str]:
        return [*self.unsearchable, *(f"{secret.label} in {where}"
                                      for secret, where in self.places)]

    def summary(self) -> dict[str, Any]:
        """What the custody log says of it."""
        return {"searched": len(self.searched), "too_short": len(self.short),
                "places": len(self.places), "unsearchable": len(self.unsearchable),
                "pictures": self.pictures}

    def refuse(self, *, allow: bool) -> None:
        """SecretsFound unless nothing was found, or ``allow``."""
        if self.clean or allow:
            return
        count = len(self.places)
        what = (f"the session's secrets appear in {count} place{'' if count == 1 else 's'} "
                "of what would be handed over" if count else "")
        if self.unsearchable:
            what += ("; " if what else "") + "some could not be searched for"
        raise SecretsFound(f"{what}; nothing was written (--allow-secrets hands it over "
                           "all the same, and the custody log records it)",
                           lines=self.lines())


class Matcher:
    """Every form of every searched value, looked for in bytes: each form on its own with
    the bytes' own search, which runs at gigabytes a second, where a regular expression
    of many alternatives runs at megabytes. ASCII case is ignored (the bytes and the
    forms are lower-cased), which also finds a value written in another case, and halves
    the forms to look for."""

    def __init__(self, secrets: list[Secret]) -> None:
        self.forms: dict[bytes, Secret] = {}
        for secret in secrets:
            for form in forms(secret.value):
                self.forms.setdefault(form.lower(), secret)
        ordered = sorted(self.forms, key=len, reverse=True)
        self.regex = re.compile(b"|".join(re.escape(f) for f in ordered),
                                re.IGNORECASE) if ordered else None
        self.longest = max((len(f) for f in ordered), default=0)

    def find(self, data: bytes) -> list[Secret]:
        folded = data.lower()
        return list(dict.fromkeys(secret for form, secret in self.forms.items()
                                  if form in folded))

    def mask(self, text: str) -> str:
        """``text`` with each value in it replaced, for saying where it was."""
        if self.regex is None:
            return text
        data = self.regex.sub(lambda m: f"[{self.forms[m.group(0).lower()].name or 'secret'}]"
                              .encode(), text.encode("utf-8", errors="replace"))
        return data.decode("utf-8", errors="replace")


def forms(value: str) -> set[bytes]:
    texts = {value, quote(value, safe=""), quote_plus(value, safe=""),
             value.replace("/", "\\/"), json.dumps(value)[1:-1], html.escape(value)}
    out = {text.encode("utf-8") for text in texts}
    with contextlib.suppress(UnicodeEncodeError):  # a header's bytes, read as latin-1
        out.add(value.encode("latin-1"))
    return out


def known(archive: Archive, content: dict[str, Any], search: Search) -> None:
    """The capture's secret values, from its credentials file, into ``search``."""
    redactions = content.get("redactions")
    if not redactions:
        return
    cid = content.get("capture_id")
    held = redactions.get("credentials_file") or {}
    path = archive.root / str(held.get("path", ""))
    if not held.get("path") or not path.is_file():
        search.unsearchable.append(
            f"{cid}: its credentials file ({held.get('path')}) is gone, so its session's "
            "values cannot be searched for")
        return
    data = path.read_bytes()
    try:
        kept = json.loads(data)
        entries = [*kept["values"], *kept.get("secrets", [])]
    except (ValueError, KeyError, TypeError):
        entries = None
    if hashlib.sha256(data).hexdigest() != held.get("sha256") or entries is None:
        search.unsearchable.append(f"{cid}: its credentials file is not the one sealed "
                                   "(custody verify says more)")
        return
    seen = {s.value for s in (*search.searched, *search.short)}
    for secret in _secrets(entries):
        if secret.value in seen:
            continue
        seen.add(secret.value)
        (search.searched if len(secret.value) >= MIN_SECRET else search.short).append(secret)


def _secrets(entries: list[dict[str, Any]]) -> Iterator[Secret]:
    for entry in entries:
        kind = str(entry.get("field") or entry.get("where") or "").title()
        if kind == "Url":
            kind = "URL"
        name, value, mark = str(entry.get("name") or ""), str(entry.get("value")), \
            str(entry.get("hmac") or "")
        yield Secret(kind, name, mark, value)
        if value.startswith('"') and value.endswith('"') and len(value) > 2:
            yield Secret(kind, name, mark, value[1:-1])
        if kind.endswith("Authorization") and name.lower() == "basic":
            try:
                login = base64.b64decode(value, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                continue
            user, _, password = login.partition(":")
            yield Secret(kind, "Basic user:password", mark, login)
            yield Secret(kind, "Basic password" if password else "Basic user", mark,
                         password or user)


def search(archive: Archive, capture_ids: list[str], *,
           extra: dict[str, bytes] | None = None) -> Search:
    """Where the captures' secret values are in what would be handed over: their
    manifests, WARC records and documents' text, and ``extra`` (a file's name and bytes,
    made by the command: the report)."""
    found = Search()
    contents = []
    for cid in dict.fromkeys(capture_ids):
        sealed, content = manifest.read_capture(archive.manifests_dir, cid)
        known(archive, content, found)
        contents.append((sealed.path, content))
    if not found.searched:
        return found
    matcher = Matcher(found.searched)
    for path, content in contents:
        cid = content["capture_id"]
        if matcher.find(path.read_bytes()):  # its strings, only where its bytes hold one
            found.places += [(s, f"manifest {path.name}: {where}")
                             for s, where in _in_strings(matcher, content, "")]
        for entry in content.get("warc_files") or []:
            _in_warc(matcher, archive.root, entry["path"], found)
        found.places += _in_documents(matcher, archive, cid)
        found.pictures += sum(1 for r in content.get("records") or []
                              if str(r.get("target_uri") or "").startswith(PICTURES))
    for name, data in (extra or {}).items():
        found.places += [(s, name) for s in matcher.find(data)]
    return found


def _in_strings(matcher: Matcher, value: Any, where: str) -> Iterator[tuple[Secret, str]]:
    """Each string of a parsed manifest holding a value, named by its place."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _in_strings(matcher, item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _in_strings(matcher, item, f"{where}[{index}]")
    elif isinstance(value, str):
        for secret in matcher.find(value.encode("utf-8", errors="replace")):
            yield secret, where


def _in_warc(matcher: Matcher, root: Path, relpath: str, search: Search) -> None:
    """Each record of a WARC file holding a value: where in it, by its record id."""
    from warcio.archiveiterator import ArchiveIterator

    with open(root / relpath, "rb") as fh:
        for record in ArchiveIterator(fh):
            headers = record.rec_headers
            uri = matcher.mask(headers.get_header("WARC-Target-URI") or "")
            name = (f"{relpath} record {headers.get_header('WARC-Record-ID')} "
                    f"({record.rec_type} {uri})")
            parts = [(f"WARC field {k}", v) for k, v in headers.headers]
            http = record.http_headers
            fields = list(http.headers) if http is not None else []
            if http is not None:
                parts.append(("request line" if record.rec_type == "request" else
                              "status line", f"{http.protocol} {http.statusline}"))
                parts += [(f"HTTP field {k}", v) for k, v in fields]
            for part, text in parts:
                search.places += [(s, f"{name}: {part}")
                                  for s in matcher.find(text.encode("utf-8", errors="replace"))]
            found, problem = _in_body(matcher, record.raw_stream, fields)
            search.places += [(s, f"{name}: {part}") for s, part in found]
            if problem:
                search.unsearchable.append(f"{name}: its body {problem}, past which it was "
                                           "searched only as stored")


def _in_body(matcher: Matcher, stream: Any, headers: list[tuple[str, str]]
             ) -> tuple[list[tuple[Secret, str]], str | None]:
    """Values in a record's block as stored, and in its body decoded (chunking and
    content coding undone); why the body could not be decoded whole, if it could not."""
    coded = "chunked" in header(headers, "transfer-encoding").lower() or \
        header(headers, "content-encoding").strip().lower() not in ("", "identity")
    decoder = decoder_for(headers, _DECODED_LIMIT) if coded else None
    raw, plain = _Window(matcher), _Window(matcher)
    decoded = 0
    while piece := stream.read(_READ):
        raw.feed(piece)
        if decoder is not None and not decoder.done and decoded <= _DECODED_LIMIT:
            decoder.feed(piece)
            decoded += len(decoder.out)
            plain.feed(bytes(decoder.out))
            del decoder.out[:]  # searched: not held
    found = [(s, "its block") for s in raw.found]
    problem = None
    if decoder is not None:
        if decoded <= _DECODED_LIMIT:
            decoder.finish()
            plain.feed(bytes(decoder.out))
        found += [(s, "its body, decoded") for s in plain.found if s not in raw.found]
        if decoder.error:
            problem = f"could not be decoded ({decoder.error})"
        elif decoder.exceeded or decoded > _DECODED_LIMIT:
            problem = "inflates past 1 GiB"
    return found, problem


class _Window:
    """Values found in a stream fed in parts: a value cut across two parts is found,
    as each part is searched with the end of the one before."""

    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher
        self.tail = b""
        self.found: list[Secret] = []

    def feed(self, data: bytes) -> None:
        if not data:
            return
        window = self.tail + data
        for secret in self.matcher.find(window):
            if secret not in self.found:
                self.found.append(secret)
        self.tail = window[-(self.matcher.longest - 1):] if self.matcher.longest > 1 else b""


def _in_documents(matcher: Matcher, archive: Archive, capture_id: str
                  ) -> list[tuple[Secret, str]]:
    """Values in the text custody.db holds for the capture's documents (titles and text,
    as search snippets show them)."""
    import sqlite3

    from ..core.errors import CustodyError
    from ..index.query import open_readonly

    if not archive.db_path.exists():
        return []
    out: list[tuple[Secret, str]] = []
    try:
        conn = open_readonly(archive.db_path)
        try:
            rows = conn.execute("SELECT url, title, text FROM documents WHERE capture_id = ?",
                                [capture_id])
            for url, title, text in rows:
                for column, value in (("title", title), ("text", text)):
                    out += [(s, f"custody.db documents.{column} of {matcher.mask(url or '')}")
                            for s in matcher.find(str(value or "").encode("utf-8"))]
        finally:
            conn.close()
    except (CustodyError, sqlite3.Error):
        return out
    return out
