"""The archivist's credentials, kept out of the evidence that is handed over.

In a capture made with the archivist's session (--cookies, --browser-profile, or a seed's
``user:password@``), every value of a credential field -- ``Cookie``, ``Authorization``,
``Proxy-Authorization`` in requests, ``Set-Cookie`` and ``Set-Cookie2`` in responses --
is replaced in its WARC record by a keyed hash of it,
``custody-redacted:hmac-sha256:<hex>`` (cookie names, the authorization scheme and the
cookies' known attributes stay), in whatever form the field came: repeated, folded over
several lines (obs-fold, joined into one line then), several cookies joined by commas in
one ``Set-Cookie``, lines ended by a bare LF, and in bytes that are not a well-formed
HTTP message, kept as they came. The record says so in a ``Custody-Redacted`` field,
the manifest lists each replaced value by record, field and hash, and the values with
the capture's random key go to ``.custody/credentials/<capture>.json`` (mode 0600),
which the manifest seals by its sha256 and which no bundle or export contains unless
asked (--include-credentials).

A secret can also travel where custody cannot replace it without rewriting evidence: in
a URL (a session id a server puts in a redirect's Location, ``/home?sid=...``), and in
what a server echoes in a body. Such values are not changed; the session values custody
sees in the URLs it fetches are kept in the credentials file too (``secrets``, each with
its hash in the manifest), so that a bundle, export or report can be searched for every
known value of the session before it is written (report/secrets.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import tempfile
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, urljoin, urlsplit

from ..core.atomic import write_atomic

REQUEST_FIELDS = frozenset({"cookie", "authorization", "proxy-authorization"})
RESPONSE_FIELDS = frozenset({"set-cookie", "set-cookie2"})
MARK = "custody-redacted:hmac-sha256:"
DECLARED = "values replaced by HMAC-SHA256 under the capture's redaction key (see manifest)"
MIN_SECRET = 8  # shorter values cannot be told apart from ordinary text
# query and path parameters that carry a session or a credential, by their usual names
SESSION_PARAMS = frozenset({
    "sid", "sess", "session", "sessid", "sessionid", "session_id", "phpsessid",
    "jsessionid", "aspsessionid", "cfid", "cftoken", "token", "auth", "auth_token",
    "authtoken", "access_token", "id_token", "refresh_token", "api_key", "apikey",
    "x-amz-credential", "x-amz-security-token", "x-amz-signature", "signature", "sig"})
_SPOOL = 1024 * 1024
_HEAD_LIMIT = 256 * 1024
_HEAD_END = re.compile(rb"\n\r?\n")  # as h11 finds it: CRLF or a bare LF
_LINE = re.compile(rb"(\r?\n)")
_NEXT_COOKIE = re.compile(r",(?=\s*[^\s;,=]+\s*=)")  # a comma that starts another cookie
_PATH_PARAM = re.compile(r";([^;=/?#]+)=([^;/?#]*)")
# Set-Cookie attributes kept in clear, when their value looks as it should; any other
# text in a Set-Cookie is replaced, so that nothing the server put there stays unread
_ATTRIBUTE_FORMS = {
    "expires": re.compile(r"[A-Za-z]{3,9},? ?\d{1,2}[ -][A-Za-z]{3}[ -]\d{2,4} "
                          r"\d{1,2}:\d{2}:\d{2}( GMT)?"),
    "max-age": re.compile(r"-?\d{1,12}"), "domain": re.compile(r"\.?[A-Za-z0-9.-]{1,255}"),
    "path": re.compile(r"/[^\s,;]{0,1024}"), "samesite": re.compile(r"[A-Za-z]{1,10}"),
    "priority": re.compile(r"[A-Za-z]{1,10}"), "version": re.compile(r"\d{1,3}"),
    "secure": re.compile(""), "httponly": re.compile(""), "partitioned": re.compile(""),
    "discard": re.compile(""),
}


class Redactor:
    def __init__(self, key: bytes) -> None:
        self.key = key
        self._seen: set[str] = set()  # session values recorded already

    def mark(self, value: str) -> str:
        digest = hmac.new(self.key, value.encode("latin-1", errors="replace"), hashlib.sha256)
        return MARK + digest.hexdigest()

    def request(self, raw: bytes) -> tuple[bytes, list[dict[str, str]]]:
        """A request's bytes with its credentials replaced; what was replaced."""
        match = _HEAD_END.search(raw)
        if match is None:
            return raw, []
        head, items = self._head(raw[:match.end()], REQUEST_FIELDS)
        return (head + raw[match.end():], items) if items else (raw, [])

    def response(self, spool: IO[bytes], size: int) -> tuple[IO[bytes], int,
                                                              list[dict[str, str]]]:
        """A response's bytes (spooled) with the Set-Cookie values replaced: a new spool
        and its size, or the same when there was nothing to replace. Bytes that are not
        a well-formed response are read as header lines as far as they go."""
        spool.seek(0)
        start = spool.read(min(size, _HEAD_LIMIT))
        match = _HEAD_END.search(start)
        end = match.end() if match else len(start)
        head, items = self._head(start[:end], RESPONSE_FIELDS)
        if not items:
            spool.seek(0)
            return spool, size, []
        out = tempfile.SpooledTemporaryFile(max_size=_SPOOL)  # noqa: SIM115 - handed back
        out.write(head)
        out.write(start[end:])
        while chunk := spool.read(_SPOOL):
            out.write(chunk)
        spool.close()
        written = out.tell()
        out.seek(0)
        return out, written, items

    def _head(self, head: bytes, names: frozenset[str]) -> tuple[bytes, list[dict[str, str]]]:
        pieces = _LINE.split(head)
        lines = list(zip(pieces[0::2], [*pieces[1::2], b""], strict=True))
        out: list[bytes] = []
        items: list[dict[str, str]] = []
        at = 0
        while at < len(lines):
            upto = at + 1
            while upto < len(lines) and lines[upto][0][:1] in (b" ", b"\t"):
                upto += 1  # obs-fold: the field goes on in this line
            line, _ = lines[at]
            name, sep, value = line.partition(b":")
            field = name.decode("latin-1").strip()
            text = " ".join(piece.decode("latin-1").strip()
                            for piece in [value, *(lines[k][0] for k in range(at + 1, upto))])
            found: list[tuple[str, str]] = []
            if sep and field.lower() in names:
                replaced, found = self.value(field.lower(), text.strip())
            if found:
                items += [{"field": field, "name": n, "value": v, "hmac": self.mark(v)}
                          for n, v in found]
                self._seen.update(v for _, v in found)  # known: not a URL's news
                space = value[:len(value) - len(value.lstrip())] or b" "
                out += [name, b":", space, replaced.encode("latin-1"), lines[upto - 1][1]]
            else:
                out += [piece for k in range(at, upto) for piece in lines[k]]
            at = upto
        return b"".join(out), items

    def value(self, field: str, text: str) -> tuple[str, list[tuple[str, str]]]:
        """The field's value with each secret replaced, and the (name, secret) pairs."""
        if field in ("authorization", "proxy-authorization"):
            scheme, space, credentials = text.partition(" ")
            if not space or not credentials.strip():
                return self.mark(text), [("", text)]
            return f"{scheme} {self.mark(credentials.strip())}", [(scheme,
                                                                   credentials.strip())]
        if field in RESPONSE_FIELDS:
            parts, found = [], []
            for cookie in _NEXT_COOKIE.split(text):
                if not cookie.strip():
                    continue
                replaced, secrets = self._set_cookie(cookie.strip())
                parts.append(replaced)
                found += secrets
            return ", ".join(parts), found
        found, parts = [], []
        for piece in re.split(r";\s*", text):
            name, eq, value = piece.partition("=")
            if not piece:
                continue
            if eq:
                found.append((name.strip(), value))
                parts.append(f"{name.strip()}={self.mark(value)}")
            else:
                found.append(("", piece))
                parts.append(self.mark(piece))
        return "; ".join(parts), found

    def _set_cookie(self, text: str) -> tuple[str, list[tuple[str, str]]]:
        pair, *attributes = text.split(";")
        name, eq, value = pair.partition("=")
        if eq:
            found = [(name.strip(), value.strip())]
            parts = [f"{name.strip()}={self.mark(value.strip())}"]
        else:
            found = [("", pair.strip())]
            parts = [self.mark(pair.strip())]
        for attribute in attributes:
            key, eq, value = attribute.strip().partition("=")
            form = _ATTRIBUTE_FORMS.get(key.strip().lower())
            if form is not None and form.fullmatch(value.strip()) and (eq or not value):
                parts.append(attribute.strip())
            elif attribute.strip():
                found.append((key.strip() if eq else "", value.strip() if eq else
                              attribute.strip()))
                parts.append(f"{key.strip()}={self.mark(value.strip())}" if eq
                             else self.mark(attribute.strip()))
        return "; ".join(parts), found

    def url_secrets(self, url: str) -> list[dict[str, str]]:
        """The session values a URL carries, not seen before: its query and path
        parameters with a session's usual names. They stay in the URL, which is
        evidence; they are known, so that what is handed over can be searched for them."""
        return self._new([(n, v) for n, v in _parameters(url) if n.lower() in SESSION_PARAMS])

    def location_secrets(self, url: str, location: str) -> list[dict[str, str]]:
        """What a redirect's Location adds to the URL it answered that looks like a
        token (letters and digits, no path): a session id the server put in the URL."""
        try:
            target = urljoin(url, location.strip())
        except ValueError:
            return []
        before = set(_parameters(url))
        return self._new([(n, v) for n, v in _parameters(target) if (n, v) not in before
                          and (_token_like(v) or n.lower() in SESSION_PARAMS)])

    def _new(self, found: list[tuple[str, str]]) -> list[dict[str, str]]:
        items = []
        for name, value in found:
            if len(value) < MIN_SECRET or value in self._seen:
                continue
            self._seen.add(value)
            items.append({"where": "url", "name": name, "value": value,
                          "hmac": self.mark(value)})
        return items


def _parameters(url: str) -> list[tuple[str, str]]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = [(m.group(1), m.group(2)) for m in _PATH_PARAM.finditer(parts.path)]
    return found + parse_qsl(parts.query, keep_blank_values=True)


def _token_like(value: str) -> bool:
    return (len(value) >= MIN_SECRET and "/" not in value and ":" not in value
            and any(c.isdigit() for c in value) and any(c.isalpha() for c in value))


def declared(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The WARC field a redacted record carries."""
    fields = sorted({item["field"].title() for item in items if "field" in item})
    return [("Custody-Redacted", f"{', '.join(fields)}: {DECLARED}")] if fields else []


def credentials_path(root: Path, capture_id: str) -> Path:
    return root / ".custody" / "credentials" / f"{capture_id}.json"


def write_credentials(root: Path, capture_id: str, key_hex: str,
                      redactions: list[tuple[str, list[dict[str, str]]]]) -> dict[str, Any]:
    """Write the credentials file (mode 0600) and give what the manifest says of the
    redactions: each replaced value's record, field, name and hash; each session value
    seen in a URL (``secrets``) by record, name and hash; and the file's digest."""
    values = [{"record_id": record_id, **item} for record_id, items in redactions
              for item in items if "field" in item]
    secrets: list[dict[str, str]] = []
    for record_id, items in redactions:
        for item in items:
            if "where" in item and all(s["value"] != item["value"] for s in secrets):
                secrets.append({"record_id": record_id, **item})
    kept: dict[str, Any] = {"format": "custody-credentials/1", "capture_id": capture_id,
                            "method": "hmac-sha256", "key": key_hex, "values": values}
    if secrets:
        kept["secrets"] = secrets
    body = json.dumps(kept, ensure_ascii=False, indent=1,
                      sort_keys=True).encode("utf-8") + b"\n"
    path = credentials_path(root, capture_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    write_atomic(path, body, mode=0o600)
    said: dict[str, Any] = {
        "method": "hmac-sha256", "declared_by": "Custody-Redacted",
        "fields": sorted({v["field"].title() for v in values}),
        "values": [{k: v[k] for k in ("record_id", "field", "name", "hmac")} for v in values],
    }
    if secrets:
        said["secrets"] = [{k: s[k] for k in ("record_id", "where", "name", "hmac")}
                           for s in secrets]
    said["credentials_file"] = {"path": path.relative_to(root).as_posix(),
                                "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    return said


def scrub_info(redactor: Redactor, info: Any) -> list[dict[str, str]]:
    """yt-dlp's info JSON names the cookies and headers it sent each format with: their
    secrets replaced in place, as in the records; what was replaced."""
    items: list[dict[str, str]] = []

    def walk(value: Any) -> None:
        if isinstance(value, list):
            for item in value:
                walk(item)
            return
        if not isinstance(value, dict):
            return
        for key, item in list(value.items()):
            if key == "cookies" and isinstance(item, str) and item:
                replaced, found = _cookie_list(redactor, item)
                value[key] = replaced
                items.extend({"field": "Cookie", "name": n, "value": v,
                              "hmac": redactor.mark(v)} for n, v in found)
            elif key == "http_headers" and isinstance(item, dict):
                for name, text in list(item.items()):
                    if name.lower() in REQUEST_FIELDS and isinstance(text, str):
                        replaced, found = redactor.value(name.lower(), text)
                        item[name] = replaced
                        items.extend({"field": name, "name": n, "value": v,
                                      "hmac": redactor.mark(v)} for n, v in found)
            else:
                walk(item)

    walk(info)
    return items


_ATTRIBUTES = frozenset({"domain", "path", "expires", "max-age", "secure", "httponly",
                         "samesite"})


def _cookie_list(redactor: Redactor, text: str) -> tuple[str, list[tuple[str, str]]]:
    """yt-dlp's ``cookies``: name=value pairs each followed by its attributes."""
    parts, found = [], []
    for piece in re.split(r";\s*", text):
        name, eq, value = piece.partition("=")
        if not eq or name.strip().lower() in _ATTRIBUTES:
            parts.append(piece)
            continue
        found.append((name.strip(), value))
        parts.append(f"{name.strip()}={redactor.mark(value)}")
    return "; ".join(parts), found
