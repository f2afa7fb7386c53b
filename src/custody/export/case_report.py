"""The case report: one self-contained HTML page a lawyer can read and print -- the case,
each capture with its verification, tags and notes (retracted and superseded ones shown
as such, never hidden), the selectors its pages hold, the case's events in the order the
custody log holds them, and how all of it is checked.

Rendered from a Jinja2 template with autoescaping: every title, URL, name and note is
text the archive was given by others, and none of it can become markup. Names, titles
and notes keep their own direction (``<bdi dir="auto">``), so Persian and Arabic read
right to left inside the page. The capture reports it links to are those of the bundles
beside it (report/html.py).
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, StrictUndefined

from .. import __version__
from ..report.html import FONTS

_TEMPLATE = """<!DOCTYPE html>
<html lang="en" dir="ltr"><head><meta charset="utf-8">
<title>Case report: {{ case.name }}</title>
<style>
body { font-family: {{ fonts|safe }}; font-size: 11pt; margin: 2em auto; max-width: 62em;
       color: #111; line-height: 1.4; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; border-bottom: 1px solid #999;
     margin-top: 1.6em; } h3 { font-size: 1em; margin-bottom: .2em; }
table { border-collapse: collapse; width: 100%; margin: .5em 0; }
th, td { border: 1px solid #bbb; padding: .2em .4em; text-align: start; vertical-align: top;
         font-size: .9em; }
th { background: #eee; }
code, .hash { font-family: "Noto Sans Mono", "DejaVu Sans Mono", monospace; font-size: .85em;
              overflow-wrap: anywhere; }
.passed { color: #064; font-weight: bold; } .failed { color: #a00; font-weight: bold; }
.incomplete { color: #a60; font-weight: bold; }
.note { border-inline-start: 3px solid #999; padding: .2em .6em; margin: .6em 0; }
.withdrawn { color: #666; } .withdrawn .text { text-decoration: line-through; }
.text { white-space: pre-wrap; }
blockquote { margin: .3em 1em; padding: .2em .6em; background: #f4f4f4; white-space: pre-wrap; }
pre { white-space: pre-wrap; font-size: .85em; background: #f6f6f6; padding: .5em; }
</style></head><body>
<h1>Case report: <bdi dir="auto">{{ case.name }}</bdi></h1>
<p>Made {{ made_at }} (UTC) by custody {{ version }} from the archive's sealed captures and
its signed custody log, for <bdi dir="auto">{{ principal }}</bdi> (key
<code>{{ fingerprint }}</code>). Every statement below comes from a sealed manifest or a
signed event of the custody log that this package carries; VERIFY.md says how to check each
without custody.</p>

<h2>The case</h2>
<table><tbody>
<tr><th>Case</th><td><code>{{ case.id }}</code> <bdi dir="auto">{{ case.name }}</bdi></td></tr>
<tr><th>Status</th><td>{{ case.status }}{% if case.reason %}
  (<bdi dir="auto">{{ case.reason }}</bdi>){% endif %}</td></tr>
{% if case.description %}<tr><th>About</th><td><span class="text" dir="auto">{{
  case.description }}</span></td></tr>{% endif %}
<tr><th>Created</th><td>{{ case.created_at }} by <bdi dir="auto">{{ case.created_by }}</bdi>
</td></tr>
<tr><th>Captures</th><td>{{ captures|length }}</td></tr>
<tr><th>Notes</th><td>{{ notes|length }} ({{ standing }} standing)</td></tr>
<tr><th>Custody log</th><td>{{ events|length }} events of this case; the log's signed head
  names {{ head.count }} events, the last with sha256 <code>{{ head.last_sha256 }}</code></td></tr>
</tbody></table>

<h2>Captures</h2>
<table><thead><tr><th>#</th><th>Capture</th><th>Page</th><th>Captured (UTC)</th><th>Status</th>
<th>Verified now</th><th>Tags</th></tr></thead><tbody>
{% for c in captures %}<tr><td>{{ loop.index }}</td>
<td><a href="captures/{{ c.capture_id }}/report.html"><code>{{ c.capture_id }}</code></a><br>
  manifest sha256 <code class="hash">{{ c.manifest_sha256 }}</code></td>
<td><bdi dir="auto"{% if c.language %} lang="{{ c.language }}"{% endif %}>{{
  c.title or "(no title)" }}</bdi><br><code>{{ c.final_url or c.seed_url }}</code></td>
<td>{{ c.started_at }}</td><td>{{ c.status }}</td>
<td class="{{ c.verification }}">{{ c.verification }}</td>
<td>{% for t in c.tags %}<bdi dir="auto">{{ t }}</bdi>{% if not loop.last %}, {% endif %}
{% endfor %}</td>
</tr>{% endfor %}
</tbody></table>

<h2>Notes</h2>
{% for n in notes %}<div class="note{% if not n.standing %} withdrawn{% endif %}" id="{{ n.id }}">
<h3><code>{{ n.id }}</code> on <code>{{ n.capture_id }}</code></h3>
<p>Written {{ n.at }} by <bdi dir="auto">{{ n.who }}</bdi>{% if n.account %} for
  <bdi dir="auto">{{ n.account }}</bdi>{% endif %} (custody log event {{ n.seq }})
  {%- if n.page_url %}, about the page <code>{{ n.page_url }}</code>{% endif %}.</p>
<p class="text" dir="auto">{{ n.text }}</p>
{% if n.quote %}<blockquote dir="auto">{{ n.quote.text }}</blockquote>
<p>Found in the sealed text of <code>{{ n.quote.url }}</code> (record
  <code>{{ n.quote.record_id }}</code>, text sha256
  <code class="hash">{{ n.quote.text_sha256 }}</code>),
  characters {{ n.quote.start }} to {{ n.quote.end }}.</p>{% endif %}
{% if n.supersedes %}<p>It corrects
  <a href="#{{ n.supersedes }}"><code>{{ n.supersedes }}</code></a>.</p>{% endif %}
{% if n.superseded_by %}<p><strong>Superseded</strong> by
  <a href="#{{ n.superseded_by }}"><code>{{ n.superseded_by }}</code></a>.</p>{% endif %}
{% if n.retracted_at %}<p><strong>Retracted</strong> {{ n.retracted_at }} by
  <bdi dir="auto">{{ n.retracted_by }}</bdi>:
  <bdi dir="auto">{{ n.retracted_reason }}</bdi></p>{% endif %}
</div>{% else %}<p>No notes.</p>{% endfor %}

<h2>Selectors in the captured text</h2>
{% if selectors %}<table><thead><tr><th>Kind</th><th>Selector</th><th>Pages that hold it</th></tr>
</thead><tbody>{% for s in selectors %}<tr><td>{{ s.kind }}</td><td><code>{{ s.value }}</code></td>
<td>{% for p in s.pages[:20] %}<code>{{ p.capture_id }}</code> <code>{{ p.url }}</code><br>
{% endfor %}
{% if s.pages|length > 20 %}and {{ s.pages|length - 20 }} more{% endif %}</td></tr>{% endfor %}
</tbody></table>{% else %}<p>None found.</p>{% endif %}

<h2>Chronology: the case's events in the custody log</h2>
<table><thead><tr><th>Event</th><th>At (UTC)</th><th>By</th><th>What</th><th>About</th></tr>
</thead><tbody>{% for e in events %}<tr><td>{{ e.seq }}</td><td>{{ e.at }}</td>
<td><bdi dir="auto">{{ e.who }}</bdi>{% if e.account %} for
  <bdi dir="auto">{{ e.account }}</bdi>{% endif %}</td>
<td>{{ e.event }}</td><td><bdi dir="auto">{{ e.summary }}</bdi></td></tr>{% endfor %}
</tbody></table>

<h2>How to check this package</h2>
<pre>{{ verify_md }}</pre>
<p><small>Fonts asked for: {{ fonts }}.</small></p>
</body></html>
"""


def summary(entry: dict[str, Any]) -> str:
    """One event's details in a line of words."""
    details = entry.get("details") or {}
    event = entry.get("event")
    ids = details.get("capture_ids") or []
    if event in ("case-added", "case-removed"):
        said = f"{len(ids)} capture(s): {', '.join(ids[:5])}" + (" ..." if len(ids) > 5 else "")
    elif event in ("tagged", "untagged"):
        said = f"{details.get('capture_id')}: {details.get('tag')}"
    elif event == "note-added":
        said = f"{details.get('note_id')} on {details.get('capture_id')}"
        if details.get("supersedes"):
            said += f", correcting {details['supersedes']}"
    elif event == "note-retracted":
        said = f"{details.get('note_id')}: {details.get('reason')}"
    elif event == "watch-changed":
        before, after = details.get("before") or {}, details.get("after") or {}
        said = (f"{details.get('url')}: {', '.join(details.get('kinds') or [])}, from "
                f"{before.get('capture_id')} to {after.get('capture_id')}")
    elif event in ("case-created", "case-renamed"):
        said = str(details.get("name"))
    elif details.get("capture_id"):
        said = str(details["capture_id"])
    else:
        said = str(details.get("name") or "")
    reason = details.get("reason")
    if reason and event != "note-retracted":
        said += f" ({reason})"
    return said


def render(facts: dict[str, Any]) -> str:
    environment = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True)
    template = environment.from_string(_TEMPLATE)
    return template.render(**facts, fonts=FONTS, version=__version__)
