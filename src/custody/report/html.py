"""The capture report as one self-contained HTML file (no script, no outside resource:
the screenshot is inlined), for a lawyer, a judge or a partner to read, and print.

Titles and text keep their own script and direction: each is isolated (``<bdi
dir="auto">``) and tagged with its language, so Persian and Arabic run right to left
inside a left-to-right page. The fonts asked for are the Noto families, which
``scripts/setup --browser`` installs (Noto Sans for Latin and Cyrillic, Noto Naskh
Arabic for Arabic and Persian, Noto Sans CJK); a reader without them gets the system's.
"""

from __future__ import annotations

import json
from typing import Any

from .. import __version__
from .court import Report
from .markup import bidi as _bidi
from .markup import text as _t
from .markup import url as _url
from .shots import screenshots

FONTS = '"Noto Sans", "Noto Naskh Arabic", "Noto Sans Arabic", "Noto Sans CJK SC", ' \
    '"DejaVu Sans", sans-serif'
STYLE = f"""
@page {{ size: A4; margin: 16mm 12mm 16mm 12mm; }}
body {{ font-family: {FONTS}; font-size: 11pt; margin: 2em auto; max-width: 60em;
       color: #111; line-height: 1.4; }}
@media print {{ body {{ margin: 0; max-width: none; font-size: 10pt; }} }}
h1 {{ font-size: 1.5em; }} h2 {{ font-size: 1.15em; border-bottom: 1px solid #999;
       margin-top: 1.6em; break-after: avoid; }}
h3 {{ break-after: avoid; }}
table {{ border-collapse: collapse; width: 100%; margin: .5em 0; }}
tr {{ break-inside: avoid; }}
th, td {{ border: 1px solid #bbb; padding: .2em .4em; text-align: start;
         vertical-align: top; font-size: .9em; }}
th {{ background: #eee; }} table.pairs th {{ width: 13em; font-weight: normal; }}
code, .hash {{ font-family: "Noto Sans Mono", "DejaVu Sans Mono", monospace; font-size: .85em; }}
code {{ overflow-wrap: break-word; }}
.hash {{ word-break: break-all; }}
.verdict-passed {{ color: #064; font-weight: bold; }}
.verdict-failed {{ color: #a00; font-weight: bold; }}
.verdict-incomplete {{ color: #a60; font-weight: bold; }}
figure.shot {{ margin: 1em 0; break-inside: avoid; }}
h2.shots {{ break-before: page; }}
figure.shot img {{ width: 100%; border: 1px solid #999; display: block; }}
figcaption {{ font-size: .9em; margin-bottom: .3em; }}
pre {{ white-space: pre-wrap; font-size: .85em; background: #f6f6f6; padding: .5em; }}
ul.details {{ list-style: none; margin: 0; padding: 0; }}
"""

def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pairs(rows: list[list[str]]) -> str:
    """A table of names and values: the names are its headers, down its first column."""
    body = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    return f'<table class="pairs"><tbody>{body}</tbody></table>'


SOURCES = {"dom": "as the browser rendered it", "post": "one post of a feed page",
           "media-info": "yt-dlp's information on its media"}


def _text_of(content: dict[str, Any]) -> dict[str, str]:
    """For each record id, which text of a page a document extracted from it is: as the
    server sent it, as the browser rendered it, a post cut out of a feed page."""
    found = {}
    for record in content.get("records") or []:
        target = str(record.get("target_uri") or "")
        kind = target.removeprefix("urn:").partition(":")[0] if target.startswith("urn:") \
            else ""
        found[str(record.get("record_id"))] = SOURCES.get(kind, "as the server sent it")
    return found


def render(report: Report) -> str:
    content = report.content
    cid = content["capture_id"]
    parts = [_what(report), _when(report), _where(report), _how(report), _came_back(report),
             _derived(report), _custody(report), _ledger(report), _verified(report),
             _commands(report), screenshots(report)]
    return (f'<!DOCTYPE html>\n<html lang="en" dir="ltr"><head><meta charset="utf-8">'
            f"<title>Capture report {_t(cid)}</title>"
            f'<meta name="custody-capture" content="{_t(cid)}">'
            f'<meta name="custody-manifest-sha256" content="{_t(report.manifest_sha256)}">'
            f"<style>{STYLE}</style></head><body>"
            f"<h1>Capture report: {_t(cid)}</h1>"
            f"<p>Made {_t(report.made_at)} (UTC) by custody {_t(__version__)} from the sealed "
            "evidence of the capture. Arranged after the Berkeley Protocol on Digital Open "
            "Source Investigations, paras. 153&ndash;155 and 167: what was collected, when, "
            "from where, how and by whom, what came back, and how its integrity is preserved "
            "and can be checked.</p>" + _pairs([
                ["Capture", f"<code>{_t(cid)}</code>"],
                ["Manifest SHA-256", f'<span class="hash">{_t(report.manifest_sha256)}</span>'],
                ["Operator", _bidi((content.get("collector") or {}).get("operator"))]])
            + "".join(parts) + "</body></html>\n")


def _what(report: Report) -> str:
    content = report.content
    finals = content.get("final_urls") or {}
    rows = [[_url(seed), _url(finals.get(seed, seed))]
            for seed in content.get("seed_urls") or [content.get("seed_url")]]
    text_of = _text_of(content)
    documents = content.get("documents") or []
    titles = []
    for number, (url, title, lang) in enumerate(report.titles):
        record = documents[number].get("record_id") if number < len(documents) else None
        titles.append([_url(url), _t(text_of.get(str(record), "as the server sent it")),
                       _bidi(title, lang), _t(lang or "?")])
    shots = ""
    if report.screenshots:
        count = len(report.screenshots)
        shots = (f"<p>{count} screenshot{'' if count == 1 else 's'}, one for each page the "
                 "browser recorded, follow at the end of this report (Screenshots), each "
                 "with the band the browser drew above the page at capture time: its URL "
                 "and the UTC time it was recorded.</p>")
    kind = "imported from another tool" if content.get("kind") == "import" else \
        ("captured in a browser" if (content.get("settings") or {}).get("browser")
         else "captured")
    return ("<h2>1. What was captured</h2>"
            f"<p>Capture <code>{_t(content['capture_id'])}</code>, {kind}; status "
            f"<b>{_t(content.get('status'))}</b>.</p>"
            + _table(["Seed URL", "Final URL (after redirects)"], rows)
            + (_table(["Page", "Text", "Title (in its own script)", "Language"], titles)
               if titles else "<p>No page text was extracted.</p>") + shots)


def _when(report: Report) -> str:
    content = report.content
    rows = [[_t(name), _t(outcome), _t(detail)] for name, outcome, detail in report.timestamps]
    tokens = _table(["Token", "Check", "Time (genTime) and authority"], rows) if rows else \
        "<p>No RFC 3161 timestamp token: the capture's time rests on the archivist's signature " \
        "and the ledger.</p>"
    dates = sorted(str(r["date"]) for r in content.get("records") or [] if r.get("date"))
    span = f"<p>The records are dated {_t(dates[0])} to {_t(dates[-1])} (their WARC-Date" \
        ", UTC).</p>" if dates else ""
    what = "Imported" if content.get("kind") == "import" else "Started"
    return ("<h2>2. When</h2>"
            f"<p>{what} {_t(content.get('started_at'))}, finished "
            f"{_t(content.get('finished_at'))} (UTC, the capturing machine's clock).</p>"
            + span + tokens)


def _where(report: Report) -> str:
    settings = report.content.get("settings") or {}
    rows = [[f"<code>{_t(host)}</code>", _t(", ".join(sorted(ips)) or "?")]
            for host, ips in sorted(report.hosts.items())]
    certs = []
    for host, chain in sorted(report.certificates.items()):
        certs.append(f"<h3>TLS certificates presented by <code>{_t(host)}</code></h3>")
        certs.append(_table(["Subject", "Issuer", "Valid from", "Valid until",
                             "SHA-256 fingerprint"],
                            [[_t(c.subject), _t(c.issuer), _t(c.not_before), _t(c.not_after),
                              f'<span class="hash">{_t(c.sha256)}</span>'] for c in chain]))
    if settings.get("insecure"):
        trust = "The capture was made with --insecure: certificates were recorded, not verified."
    else:
        store = settings.get("ca_bundle") or "the system's trust store"
        trust = ("The TLS client verified each server's certificate chain against "
                 f"{_t(store)} before any byte was recorded; a chain that did not verify "
                 "would have been a recorded failure instead.")
    return ("<h2>3. From where</h2>"
            + _table(["Server", "IP address(es) connected to"], rows)
            + (("<p>" + trust + "</p>" + "".join(certs)) if report.certificates else
               "<p>No TLS connection (plain HTTP, or an imported file).</p>"))


def _how(report: Report) -> str:
    content = report.content
    collector = content.get("collector") or {}
    libs = ", ".join(f"{k} {v}" for k, v in (collector.get("libraries") or {}).items())
    rows = [["Software", _t(f"{collector.get('software')} {collector.get('version')}")],
            ["Python", _t(collector.get("python"))], ["Libraries", _t(libs)],
            ["Operator", _bidi(collector.get("operator"))],
            ["Signing key", f'<span class="hash">{_t(collector.get("key_fingerprint"))}</span>'],
            ["Capturing host", _t(collector.get("host"))]]
    imported = "".join(
        f"<p>Imported file <code>{_t(i.get('source'))}</code>, sha256 "
        f'<span class="hash">{_t(i.get("sha256"))}</span>, checked on import: '
        f"<b>{_t((i.get('check') or {}).get('status'))}</b>.</p>"
        for i in content.get("imported") or [])
    settings = [[_t(name.replace("_", " ")),
                 _value(value) if value not in (None, "", [], {}) else "(not set)"]
                for name, value in sorted((content.get("settings") or {}).items())]
    return ("<h2>4. How, and by whom</h2>" + _pairs(rows) + imported
            + "<p>Every setting of the capture, as its manifest records it:</p>"
            + _pairs(settings))


def _came_back(report: Report) -> str:
    content = report.content
    rows = [[_t(r.get("http_status")), _url(r.get('target_uri')),
             _t(r.get("payload_type")), _t(r.get("length")),
             f'<span class="hash">{_t(r.get("payload_sha256"))}</span>',
             _t(r.get("truncated") or "")]
            for r in content.get("records") or [] if r.get("type") == "response"]
    failures = [[_url(f.get("url")), _t(f.get("kind")), _t(f.get("reason"))]
                for f in content.get("failures") or []]
    files = [[f"<code>{_t(f['path'])}</code>", _t(f["bytes"]),
              f'<span class="hash">{_t(f["sha256"])}</span>']
             for f in content.get("warc_files") or []]
    return ("<h2>5. What came back</h2>"
            + _table(["WARC file", "File size (bytes)", "SHA-256"], files)
            + "<p>Each response below is one record of those files: its size there is its "
              "gzip member's (its WARC and HTTP headers and body, compressed), not the "
              "page's size; the payload's SHA-256 is of the body as it was sent.</p>"
            + _table(["Status", "URL", "Type", "Record in the WARC (bytes, gzip)",
                      "Payload SHA-256", "Truncated"], rows)
            + (_table(["URL", "Failure", "Reason"], failures) if failures
               else "<p>No fetch failed.</p>") + _media(content))


def _media(content: dict[str, Any]) -> str:
    """What yt-dlp found on each page (--media), and the files it made, with hashes."""
    listed = content.get("media")
    if not listed:
        return ""
    rows = []
    for media in listed:
        about = (f"{_bidi(media.get('title'))}<br>{_t(media.get('extractor') or '')} "
                 f"(yt-dlp {_t(media.get('tool_version'))})")
        if media.get("error"):
            about += f"<br>failed: {_t(media['error'])}"
        elif not media.get("found"):
            about += "<br>no media found"
        for file in media.get("files") or [{}]:
            rows.append([f"<code>{_t(media.get('page'))}</code>", about,
                         _t(file.get("name", "")), _t(file.get("role", "")),
                         _t(file.get("bytes", "")),
                         f'<span class="hash">{_t(file.get("sha256", ""))}</span>',
                         _t(file.get("truncated") or "")])
    return ("<h3>Video and audio (yt-dlp, through custody's recording proxy)</h3>"
            "<p>Every request yt-dlp made is among the records above, as the server sent "
            "it; each file below is what it made of them, stored as a resource record.</p>"
            + _table(["Page", "What", "File", "Role", "Bytes", "SHA-256", "Truncated"], rows))


def _derived(report: Report) -> str:
    text_of = _text_of(report.content)
    rows = [[_url(d["url"]), _t(text_of.get(str(d.get("record_id")), "as the server sent it")),
             _t(d.get("extractor")), f'<span class="hash">{_t(d.get("text_sha256"))}</span>']
            for d in report.content.get("documents") or []]
    renders = [[_t(r["kind"]), _url(r["page"]), _t(r.get("type")),
                f'<span class="hash">{_t(r.get("sha256"))}</span>'] for r in report.renders]
    redactions = report.content.get("redactions")
    if redactions:
        values = redactions.get("values") or []
        changed = (f"<p>Transformations of the WARC bytes: <b>{len(values)} credential "
                   f"values redacted</b> ({_t(', '.join(redactions.get('fields') or []))}). "
                   "The capture was made with the archivist's own session; each value of "
                   "those fields was replaced, in the record, by its HMAC-SHA256 under a key "
                   "kept with the values in the archivist's credentials file (sealed by its "
                   "SHA-256, not part of this report). Each such record says so in its "
                   "Custody-Redacted field. Nothing else was changed: every payload is as "
                   "the server sent it.</p>")
        urls = redactions.get("secrets") or []
        if urls:
            changed += (f"<p>{len(urls)} session value{'' if len(urls) == 1 else 's'} the "
                        "servers put in URLs (a session id in a redirect, say) "
                        f"{'is' if len(urls) == 1 else 'are'} kept as sent, as evidence; "
                        "their keyed hashes are in the manifest.</p>")
    else:
        changed = ("<p>Transformations of the WARC bytes: <b>none</b>. The records are kept "
                   "exactly as the servers sent them.</p>")
    return ("<h2>6. What was derived</h2>" + changed + "<p>The text below was "
            "extracted from copies, and its SHA-256 is sealed in the manifest.</p>"
            + (_table(["Page", "Text", "Extractor", "Text SHA-256"], rows) if rows else "")
            + (("<h3>Renders and media</h3><p>What the browser and yt-dlp made of the pages "
                "(screenshots, the rendered DOM, PDF prints, media files), each a resource "
                "record of the WARC files, with the SHA-256 of its bytes:</p>"
                + _table(["Kind", "Page", "Media type", "SHA-256"], renders)) if renders
               else ""))


def _custody(report: Report) -> str:
    rows = [[_t(e.get("at")), _t(e.get("event")),
             f'{_bidi(e.get("who"))}<br><span class="hash">{_t(e.get("key"))}</span>',
             _details(e.get("details"))] for e in report.events]
    return ("<h2>7. Chain of custody</h2><p>Every event of the signed custody log about this "
            "capture, and every verification of the archive since:</p>"
            + _table(["Time (UTC)", "Event", "By (and the key that signed)", "Details"], rows))


def _details(details: Any) -> str:
    """An event's details as lines of a name and its value, not as JSON."""
    if not isinstance(details, dict):
        return _t(details)
    lines = []
    for name, value in sorted(details.items()):
        if isinstance(value, dict):
            shown = "; ".join(f"{_t(k)}: {_value(v)}" for k, v in sorted(value.items()))
        elif isinstance(value, list):
            shown = ", ".join(_value(v) for v in value) or "none"
        else:
            shown = _value(value)
        lines.append(f"<li>{_t(name.replace('_', ' '))}: {shown}</li>")
    return f'<ul class="details">{"".join(lines)}</ul>'


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        return _t(json.dumps(value, ensure_ascii=False, sort_keys=True))
    text = str(value)
    if len(text) >= 40 and all(c in "0123456789abcdef" for c in text):
        return f'<span class="hash">{_t(text)}</span>'
    return _t(text)


def _ledger(report: Report) -> str:
    proof = report.inclusion
    if proof is None:
        return "<h2>8. Ledger</h2><p>The capture is not in the ledger's checkpoint.</p>"
    hashes = "<br>".join(f'<span class="hash">{_t(h)}</span>' for h in proof.get("proof", []))
    rows = [["Manifest SHA-256", f'<span class="hash">{_t(report.manifest_sha256)}</span>'],
            ["Position (leaf index)", _t(proof.get("leaf_index"))],
            ["Ledger size at the checkpoint", _t(proof.get("tree_size"))],
            ["Root hash", f'<span class="hash">{_t(proof.get("root_hash"))}</span>'],
            ["Inclusion proof", hashes or "(the only leaf)"]]
    return "<h2>8. Ledger position and inclusion proof</h2>" + _pairs(rows)


def _verified(report: Report) -> str:
    counts = ", ".join(f"{n} {o}" for o, n in report.verification_counts.items())
    problems = "".join(f"<li>{_t(p)}</li>" for p in report.problems)
    return (f"<h2>9. Verification when this report was made ({_t(report.made_at)})</h2>"
            f'<p class="verdict-{_t(report.verification)}">{_t(report.verification).upper()}'
            f"</p><p>{_t(counts)} checks.</p>" + (f"<ul>{problems}</ul>" if problems else ""))


def _commands(report: Report) -> str:
    return ("<h2>10. Checking it without custody</h2><p>`custody bundle "
            f"{_t(report.content['capture_id'])} -o DIR` writes the files these commands "
            "read; run them in that folder with sha256sum, ssh-keygen, openssl and python3 "
            f"alone:</p><pre>{_t(report.commands)}</pre>")
