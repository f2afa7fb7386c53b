"""CDXJ index lines for a capture's records, from its sealed manifest (no WARC reread).

Each line is ``SURT TIMESTAMP {json}`` as pywb, wabac.js and py-wacz write them: the URL
in SURT form (host reversed, ``www.`` dropped, lower case, query arguments sorted), the
record's 14-digit date, and a JSON object with the URL, media type, status, payload
digest, and the record's place in its WARC file (gzip member offset and length).
"""

from __future__ import annotations

import json
from typing import Any

INDEXED = ("response", "resource", "revisit")


def surt(url: str) -> str:
    """The SURT key of a URL (``com,example)/path?a=1&b=2``), made by the surt library
    that pywb and py-wacz key their indexes with: a key that differed in any way (a
    percent-escape decoded, a host in IDNA, a path's dot segments) would break lookups in
    the tools that read custody's WACZ. A URL the library refuses (a port of 99999 in an
    imported record) is its own key, lower-cased."""
    from surt import surt as library_surt

    try:
        return str(library_surt(url))
    except ValueError:
        return url.lower()


def timestamp(date: str) -> str:
    """A WARC-Date (2026-12-02T05:19:23.095931Z) as 14 digits."""
    return "".join(ch for ch in date if "0" <= ch <= "9")[:14]


def lines(records: list[dict[str, Any]], filenames: dict[str, str]) -> list[str]:
    """The index lines of the records that replay reads, sorted; ``filenames`` maps each
    record's ``warc_path`` to its file name inside the package."""
    out = []
    for record in records:
        if record.get("type") not in INDEXED or not record.get("target_uri"):
            continue
        url = str(record["target_uri"])
        fields: dict[str, str] = {"url": url}
        media = record.get("payload_type") or record.get("content_type")
        if media:
            fields["mime"] = str(media).split(";")[0].strip()
        if record.get("http_status") is not None:
            fields["status"] = str(record["http_status"])
        digest = record.get("payload_sha256") or record.get("block_sha256")
        if digest:
            fields["digest"] = f"sha256:{digest}"
        if record.get("type") == "revisit":
            fields["mime"] = "warc/revisit"
        fields.update(length=str(record["length"]), offset=str(record["offset"]),
                      filename=filenames[record["warc_path"]])
        out.append(f"{surt(url)} {timestamp(str(record.get('date') or ''))} "
                   f"{json.dumps(fields, ensure_ascii=False, separators=(', ', ': '))}")
    return sorted(out)
