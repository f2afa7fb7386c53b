"""The report of a change a watch found, for a court: the two sealed captures it compares
(each verified now, with its manifest's SHA-256 and time), what changed and the diff, the
two screenshots of the page side by side where both captures have one, the custody log's
signed event that recorded the change, and the commands that check it all without
trusting this report. One self-contained HTML file, as the capture report is."""

from __future__ import annotations

import base64
from typing import Any

from .. import __version__
from ..core.archive import Archive
from .court import Report, gather
from .html import STYLE
from .markup import bidi, text, url

_SIDE_BY_SIDE = """
table.sides { table-layout: fixed; }
table.sides td { width: 50%; }
table.sides figure { margin: 0; }
table.sides img { width: 100%; border: 1px solid #999; display: block; }
pre.diff .added { background: #e6f4ea; } pre.diff .removed { background: #fce8e6; }
figure.difference { margin: 0; } figure.difference img { max-width: 100%;
  border: 1px solid #999; }
"""


def render_change(archive: Archive, change: Any) -> tuple[str, list[Report]]:
    """The report's HTML, and the two captures' reports (verified now)."""
    before = gather(archive, change.before_capture)
    after = gather(archive, change.after_capture)
    sides = [(before, change.before_manifest_sha256), (after, change.after_manifest_sha256)]
    title = f"Change found on {change.url}"
    body = [f"<h1>{text(title)}</h1>",
            f"<p>Made {text(before.made_at)} (UTC) by custody {text(__version__)} from the "
            "sealed evidence of the two captures compared and the custody log's signed "
            "event that recorded the change.</p>",
            _pairs([["URL", url(change.url)],
                    ["What changed", text(", ".join(change.kinds))
                     + (f" ({text(change.reason)})" if change.reason else "")],
                    ["Found", f"{text(change.at)} (UTC), by watch <code>"
                              f"{text(change.watch_id)}</code>"],
                    ["Recorded as", f"custody log event {change.seq} (<code>watch-changed"
                                    "</code>), signed by the archivist's key"],
                    ["Counts", text(", ".join(f"{k}: {v}" for k, v in
                                              sorted(change.counts.items())) or "none")],
                    ["Diff SHA-256", f'<span class="hash">{text(change.diff_sha256)}</span>']]),
            "<h2>The two captures</h2>", _captures(sides),
            "<h2>What changed</h2>", _diff(change.diff),
            _screenshots(archive, change.url, before, after),
            "<h2>How to check it</h2>", _commands(change)]
    html = ('<!DOCTYPE html>\n<html lang="en" dir="ltr"><head><meta charset="utf-8">'
            f"<title>{text(title)}</title>"
            f'<meta name="custody-change" content="{change.seq}">'
            f"<style>{STYLE}{_SIDE_BY_SIDE}</style></head><body>" + "".join(body)
            + "</body></html>\n")
    return html, [before, after]


def _pairs(rows: list[list[str]]) -> str:
    body = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    return f'<table class="pairs"><tbody>{body}</tbody></table>'


def _captures(sides: list[tuple[Report, str]]) -> str:
    rows = []
    for label, (report, recorded) in zip(("Before", "After"), sides, strict=True):
        content = report.content
        same = report.manifest_sha256 == recorded
        rows.append(
            f"<tr><th>{label}</th><td><code>{text(content['capture_id'])}</code></td>"
            f"<td>{text(content.get('started_at'))}</td>"
            f'<td><span class="hash">{text(report.manifest_sha256)}</span>'
            + ("" if same else f"<br><strong>differs from the SHA-256 the change recorded, "
                               f"{text(recorded)}</strong>")
            + f'</td><td class="verdict-{text(report.verification)}">'
            f"{text(report.verification)}</td></tr>")
    head = ("<tr><th></th><th>Capture</th><th>Started (UTC)</th><th>Manifest SHA-256</th>"
            "<th>Verified now</th></tr>")
    found = "".join(
        f"<p>What does not hold in capture <code>{text(report.content['capture_id'])}"
        "</code>:</p><ul>" + "".join(f"<li>{text(p)}</li>" for p in report.problems)
        + "</ul>" for report, _ in sides if report.problems)
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>{found}"


def _diff(diff: str) -> str:
    if not diff:
        return "<p>No text diff: the change is in what the page answered (its status, its " \
               "certificate, its media), as said above.</p>"
    lines = []
    for line in diff.splitlines():
        header = line.startswith(("+++", "---"))  # the two captures named, not a change
        kind = "" if header else "added" if line.startswith("+") else \
            "removed" if line.startswith("-") else ""
        shown = f'<bdi dir="auto">{text(line)}</bdi>'
        lines.append(f'<span class="{kind}">{shown}</span>' if kind else shown)
    return f'<pre class="diff">{chr(10).join(lines)}</pre>'


def _screenshots(archive: Archive, page: str, before: Report, after: Report) -> str:
    shots = [dict(r.screenshots).get(page) for r in (before, after)]
    if not any(shots):
        return ""
    cells = []
    for report, png in zip((before, after), shots, strict=True):
        cid = report.content["capture_id"]
        if png is None:
            cells.append(f"<td>No screenshot of the page in capture <code>{text(cid)}</code> "
                         "(captured without a browser).</td>")
            continue
        cells.append(f"<td><figure><figcaption>Capture <code>{text(cid)}</code> "
                     f"({bidi((report.content.get('collector') or {}).get('operator'))})"
                     f'</figcaption><img alt="screenshot of {text(page)} in {text(cid)}" '
                     f'src="data:image/png;base64,{base64.b64encode(png).decode()}">'
                     "</figure></td>")
    return ('<h2>The page, before and after</h2><table class="sides"><tbody><tr>'
            + "".join(cells) + "</tr></tbody></table>"
            + _difference(archive, page, before, after))


def _difference(archive: Archive, page: str, before: Report, after: Report) -> str:
    """Where the two screenshots differ, outlined on the later one (watch/pixels.py): the
    unmarked ones, the page alone, as the watch compared them."""
    from ..watch.pixels import CHANNEL_STEP, difference, marked, screenshot

    if "failed" in (before.verification, after.verification):
        return ""  # (a capture that fails: its screenshots are not compared as evidence)
    shots = [screenshot(archive.root, r.content["capture_id"], page) for r in (before, after)]
    if shots[0] is None or shots[1] is None:
        return ""
    try:
        found = difference(shots[0], shots[1])
        image = marked(shots[1], found.regions)
    except (ValueError, OSError):
        return ""
    regions = len(found.regions) + found.more_regions
    return (f"<h2>Where the screenshots differ</h2><p>{found.share:.1%} of the pixels "
            f"differ (a channel by more than {CHANNEL_STEP} of 255, or covered by one "
            f"screenshot only), in {regions} region{'' if regions == 1 else 's'}, "
            "outlined in red on the later screenshot. Computed now from the two sealed "
            "screenshots of the page alone (without the band that dates them); the "
            "change's diff records the same figure.</p>"
            f'<figure class="difference"><img alt="the differences on {text(page)}" '
            f'src="data:image/png;base64,{base64.b64encode(image).decode()}"></figure>')


def _commands(change: Any) -> str:
    a, b = change.before_capture, change.after_capture
    lines = [f"custody verify {a} {b}",
             f"custody diff {a} {b} '{change.url}'",
             f"custody log --capture {b}",
             f"custody report {a} -o before.html; custody report {b} -o after.html"]
    return ("<p>Each capture is sealed on its own (its manifest signed, timestamped and "
            "in the ledger): these commands check them and the event, and show the diff "
            "again from the sealed text. Each capture's own report gives the commands that "
            "check it with standard tools alone.</p><pre>"
            + "\n".join(text(line) for line in lines) + "</pre>")
