"""The archivist's credentials, kept out of the evidence that is handed over.

In a capture made with the archivist's session (--cookies, --browser-profile), every
``Cookie`` and ``Authorization`` value a request carried, and every ``Set-Cookie`` value a
server answered with, is replaced in its WARC record by a keyed hash of it:
``custody-redacted:hmac-sha256:<hex>`` (cookie names, the authorization scheme and the
cookies' attributes stay). The record says so in a ``Custody-Redacted`` field, the
manifest lists each replaced value by record, field and hash, and the values themselves
with the capture's random key go to ``.custody/credentials/<capture>.json`` (mode 0600),
which the manifest seals by its sha256 and which no bundle or export contains unless
asked (--include-credentials). The WARC is what is sealed and handed over, so it never
holds the secret; with the credentials file, anyone can recompute each hash and see that
the request carried exactly that value. Nothing else in a record changes: payloads and
their digests are as they came.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import tempfile
from pathlib import Path
from typing import IO, Any

from ..core.atomic import write_atomic

REQUEST_FIELDS = frozenset({"cookie", "authorization"})
RESPONSE_FIELDS = frozenset({"set-cookie"})
MARK = "custody-redacted:hmac-sha256:"
DECLARED = "values replaced by HMAC-SHA256 under the capture's redaction key (see manifest)"
_SPOOL = 1024 * 1024
_HEAD_LIMIT = 256 * 1024


class Redactor:
    def __init__(self, key: bytes) -> None:
        self.key = key

    def mark(self, value: str) -> str:
        digest = hmac.new(self.key, value.encode("latin-1", errors="replace"), hashlib.sha256)
        return MARK + digest.hexdigest()

    def request(self, raw: bytes) -> tuple[bytes, list[dict[str, str]]]:
        """A request's bytes with its credentials replaced; what was replaced."""
        end = raw.find(b"\r\n\r\n")
        if end < 0:
            return raw, []
        head, items = self._head(raw[:end], REQUEST_FIELDS)
        return (head + raw[end:], items) if items else (raw, [])

    def response(self, spool: IO[bytes], size: int) -> tuple[IO[bytes], int,
                                                              list[dict[str, str]]]:
        """A response's bytes (spooled) with the Set-Cookie values replaced: a new spool
        and its size, or the same when there was nothing to replace."""
        spool.seek(0)
        start = spool.read(min(size, _HEAD_LIMIT))
        end = start.find(b"\r\n\r\n")
        if end < 0:
            spool.seek(0)
            return spool, size, []
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
        lines = head.split(b"\r\n")
        items: list[dict[str, str]] = []
        for index, line in enumerate(lines[1:], start=1):
            name, sep, value = line.partition(b":")
            field = name.decode("latin-1").strip()
            if not sep or field.lower() not in names:
                continue
            text = value.decode("latin-1").strip()
            replaced, found = self.value(field.lower(), text)
            items += [{"field": field, "name": n, "value": v, "hmac": self.mark(v)}
                      for n, v in found]
            lines[index] = f"{field}: {replaced}".encode("latin-1")
        return b"\r\n".join(lines), items

    def value(self, field: str, text: str) -> tuple[str, list[tuple[str, str]]]:
        """The field's value with each secret replaced, and the (name, secret) pairs."""
        if field == "authorization":
            scheme, space, credentials = text.partition(" ")
            if not space:
                return self.mark(text), [("", text)]
            return f"{scheme} {self.mark(credentials.strip())}", [(scheme,
                                                                   credentials.strip())]
        if field == "set-cookie":
            pair, semi, attributes = text.partition(";")
            name, eq, value = pair.partition("=")
            if not eq:
                return self.mark(pair.strip()) + semi + attributes, [("", pair.strip())]
            return (f"{name.strip()}={self.mark(value.strip())}{semi}{attributes}",
                    [(name.strip(), value.strip())])
        found = []
        parts = []
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


def declared(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The WARC field a redacted record carries."""
    fields = sorted({item["field"].title() for item in items})
    return [("Custody-Redacted", f"{', '.join(fields)}: {DECLARED}")]


def credentials_path(root: Path, capture_id: str) -> Path:
    return root / ".custody" / "credentials" / f"{capture_id}.json"


def write_credentials(root: Path, capture_id: str, key_hex: str,
                      redactions: list[tuple[str, list[dict[str, str]]]]) -> dict[str, Any]:
    """Write the credentials file (mode 0600) and give what the manifest says of the
    redactions: each value's record, field, name and hash, and the file's digest."""
    values = [{"record_id": record_id, **item} for record_id, items in redactions
              for item in items]
    body = json.dumps({"format": "custody-credentials/1", "capture_id": capture_id,
                       "method": "hmac-sha256", "key": key_hex, "values": values},
                      ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8") + b"\n"
    path = credentials_path(root, capture_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    write_atomic(path, body, mode=0o600)
    return {
        "method": "hmac-sha256", "declared_by": "Custody-Redacted",
        "fields": sorted({v["field"].title() for v in values}),
        "values": [{k: v[k] for k in ("record_id", "field", "name", "hmac")} for v in values],
        "credentials_file": {"path": path.relative_to(root).as_posix(),
                             "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()},
    }


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
