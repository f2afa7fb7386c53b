"""Pages that scripts build, for --browser: what a plain crawl cannot see, and pages that
fight the browser.

``js_site`` is a page whose text arrives by ``fetch()`` as JSON, with a widget whose text
lives in a closed shadow root, a frame whose text its own script writes, an image that
loads only when scrolled to, more text fetched when the reader reaches the bottom, a
POST, a web font, a video, and a service worker that fetches on its own. None of the
texts it shows is in any response as it is shown: each is encoded, so that finding it
in the rendered DOM proves the browser ran the page. ``canary`` is the base URL of
another server the page tries to reach -- an image, a fetch, a beacon, a WebSocket, a
prefetch -- which a capture that keeps to its addresses never contacts.

``hostile_site`` holds pages that never finish: an endless feed, a request that never
answers, 500 pop-ups (each opening more) and dialogs, a script that loops forever, a
canvas of hundreds of megabytes, a page that navigates itself again and again, a
download.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from .site import PNG, Page, seed_sections

WIDGET_TEXT = ("The witness statement shown in this box is kept inside a closed shadow root, "
               "where only the rendered page can read it.")
FRAME_TEXT = "Text written by the frame's own script, after the frame had loaded."
MORE_TEXT = ("This last paragraph is fetched only when the reader scrolls to the end of the "
             "page, as an endless feed would load it.")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def js_texts(seeds: Path) -> dict[str, str]:
    """What the rendered page shows, by part: the statement's first and last paragraphs
    (Persian, fetched as JSON), the widget's, the frame's and the scrolled-to text."""
    title, paragraphs = seed_sections(seeds)["fa"]
    return {"title": title, "first": paragraphs[0], "last": paragraphs[-1],
            "widget": WIDGET_TEXT, "frame": FRAME_TEXT, "more": MORE_TEXT}


APP_JS = """
const decode = (b) => new TextDecoder().decode(Uint8Array.from(atob(b), c => c.charCodeAt(0)));
fetch('/api/statement.json').then(r => r.json()).then(d => {
  document.title = d.title;
  const main = document.getElementById('statement');
  main.innerHTML = '';
  const h = document.createElement('h1'); h.textContent = d.title; main.appendChild(h);
  for (const text of d.paragraphs) {
    const p = document.createElement('p'); p.textContent = text; main.appendChild(p);
  }
});
fetch('/api/seen', {method: 'POST', headers: {'Content-Type': 'application/json'},
                    body: JSON.stringify({page: 'app', note: 'سلام'})});
customElements.define('rights-widget', class extends HTMLElement {
  constructor() {
    super();
    const root = this.attachShadow({mode: 'closed'});
    root.innerHTML = '<style>p{color:#036}</style><p class="inside"></p>';
    root.querySelector('p').textContent = decode('%(widget)s');
  }
});
new IntersectionObserver((entries, observer) => {
  if (!entries.some(e => e.isIntersecting)) return;
  observer.disconnect();
  fetch('/api/more.json').then(r => r.json()).then(d => {
    const p = document.createElement('p'); p.id = 'more'; p.textContent = decode(d.more);
    document.getElementById('tail').appendChild(p);
  });
}).observe(document.getElementById('tail'));
if ('serviceWorker' in navigator) navigator.serviceWorker.register('/sw.js');
%(canary)s
"""

SW_JS = """self.addEventListener('install', (event) => {
  event.waitUntil(fetch('/api/sw.json'));
});
"""

CANARY_JS = """
const canary = '%(canary)s';
new Image().src = canary + '/pixel.png';
fetch(canary + '/beacon', {mode: 'no-cors'}).catch(() => {});
navigator.sendBeacon(canary + '/send-beacon', 'x');
try { new WebSocket(canary.replace('http', 'ws') + '/socket'); } catch (e) {}
const link = document.createElement('link'); link.rel = 'preconnect'; link.href = canary;
document.head.appendChild(link);
"""

APP_HTML = """<!DOCTYPE html>
<html lang="fa" dir="rtl"><head><meta charset="utf-8"><title>loading</title>
<link rel="stylesheet" href="/app.css">
<link rel="dns-prefetch" href="//canary.invalid">%(prefetch)s
<script src="/app.js" defer></script></head>
<body>
<main><article>
<div id="statement"><p>Loading the statement...</p></div>
<rights-widget></rights-widget>
<iframe src="/frame.html" title="frame" width="600" height="120"></iframe>
<div class="spacer"></div>
<img id="lazy" loading="lazy" src="/img/lazy.png" width="40" height="40" alt="">
<video src="/media/clip.webm" preload="auto" muted width="160" height="90"></video>
<div id="tail"></div>
</article></main>
</body></html>
"""

FRAME_HTML = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>frame</title></head>
<body><p id="t"></p><script>
document.getElementById('t').textContent =
  new TextDecoder().decode(Uint8Array.from(atob('%(frame)s'), c => c.charCodeAt(0)));
</script></body></html>
"""

APP_CSS = b"""@font-face{font-family:Witness;src:url(/fonts/witness.woff2) format('woff2')}
h1{font-family:Witness,serif}
body{font-family:'Noto Sans Arabic','Noto Sans',sans-serif;background:#fdf6e3;
color:#222;margin:2em}
.spacer{height:3000px;background:linear-gradient(#fdf6e3,#93a1a1)}
h1{color:#b58900}
"""


def js_site(seeds: Path, canary: str | None = None) -> dict[str, Page]:
    """The script-built page at ``/app.html``, and what it asks for."""
    title, paragraphs = seed_sections(seeds)["fa"]
    texts = {"widget": _b64(WIDGET_TEXT), "frame": _b64(FRAME_TEXT),
             "canary": CANARY_JS % {"canary": canary} if canary else ""}
    prefetch = f'\n<link rel="prefetch" href="{canary}/prefetch.html">' if canary else ""
    statement = {"title": title, "paragraphs": paragraphs}
    html = "text/html; charset=utf-8"
    return {
        "/app.html": Page((APP_HTML % {"prefetch": prefetch}).encode(), html),
        "/app.js": Page((APP_JS % texts).encode(), "text/javascript; charset=utf-8"),
        "/app.css": Page(APP_CSS, "text/css"),
        "/frame.html": Page((FRAME_HTML % texts).encode(), html),
        "/api/statement.json": Page(json.dumps(statement, ensure_ascii=False).encode(),
                                    "application/json; charset=utf-8"),
        # slow to answer: what scrolling sets off is waited for, not only begun
        "/api/more.json": Page(json.dumps({"more": _b64(MORE_TEXT)}).encode(),
                               "application/json", delay=1.5),
        "/api/seen": Page(b'{"ok":true}', "application/json"),
        "/img/lazy.png": Page(PNG, "image/png"),
        "/sw.js": Page(SW_JS.encode(), "text/javascript"),
        "/api/sw.json": Page(b'{"cached":true}', "application/json"),
        "/fonts/witness.woff2": Page(b"wOF2" + bytes(64), "font/woff2"),
        "/media/clip.webm": Page(bytes.fromhex("1a45dfa3") + bytes(256), "video/webm"),
    }


HOSTILE = {
    # an endless feed: each scroll to the end adds a screen and fetches more
    "/hostile/feed.html": """<p>An endless feed.</p><div id="feed"></div><script>
let n = 0;
const more = () => { for (let i = 0; i < 5; i++) { const d = document.createElement('div');
  d.style.height = '900px'; d.textContent = 'item ' + (n++); feed.appendChild(d); }
  fetch('/hostile/item?n=' + n); };
more(); addEventListener('scroll', () => {
  if (innerHeight + scrollY > document.body.scrollHeight - 1000) more(); });
</script>""",
    # a request that never answers, and a page that keeps asking
    "/hostile/hang.html": """<p>Waiting forever.</p><img src="/hostile/never.png">
<script>setInterval(() => fetch('/hostile/never.json'), 200);</script>""",
    # pop-ups, dialogs and a page that will not let go
    "/hostile/popups.html": """<p>Pop-ups.</p><script>
onbeforeunload = (e) => { e.preventDefault(); e.returnValue = 'stay'; return 'stay'; };
for (let i = 0; i < 500; i++) window.open('/hostile/popups.html?' + i, '_blank');
alert('hello'); confirm('sure?'); prompt('name?');
setInterval(() => { window.open('/hostile/feed.html'); alert('again'); }, 100);
</script>""",
    # a script that never yields
    "/hostile/busy.html": """<p>Busy.</p><script>
setTimeout(() => { while (true) {} }, 300);</script>""",
    # a canvas of 200 MB and a page a hundred thousand pixels tall
    "/hostile/canvas.html": """<p>Huge.</p><div style="height:100000px">tall</div><script>
const c = document.createElement('canvas'); c.width = 10000; c.height = 5000;
document.body.appendChild(c); const g = c.getContext('2d');
g.fillStyle = '#c00'; g.fillRect(0, 0, 10000, 5000);</script>""",
    # a page that navigates itself again and again
    "/hostile/restless.html": """<p>Restless.</p><script>
setTimeout(() => { location.href = '/hostile/restless.html?' + Math.random(); }, 150);
</script>""",
    # a download started by the page
    "/hostile/download.html": """<p>Download.</p><a id="d" href="/hostile/file.bin">file</a>
<script>document.getElementById('d').click();</script>""",
}


def hostile_site() -> dict[str, Page]:
    """Pages that try to keep the browser busy forever, each at its own path."""
    html = "text/html; charset=utf-8"
    pages = {path: Page(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{path}"
                        f"</title></head><body>{body}</body></html>".encode(), html)
             for path, body in HOSTILE.items()}
    pages["/hostile/item"] = Page(b"{}", "application/json")
    pages["/hostile/never.png"] = Page(PNG, "image/png", delay=600)
    pages["/hostile/never.json"] = Page(b"{}", "application/json", delay=600)
    pages["/hostile/file.bin"] = Page(bytes(1024), "application/octet-stream",
                                      headers={"Content-Disposition":
                                               'attachment; filename="file.bin"'})
    return pages


BENCH_JS = """
const n = document.body.dataset.page;
fetch('/api/p' + n + '.json').then(r => r.json()).then(d => {
  const main = document.querySelector('main');
  const h = document.createElement('h1'); h.textContent = d.title; main.appendChild(h);
  for (const text of d.paragraphs) {
    const p = document.createElement('p'); p.textContent = text; main.appendChild(p);
  }
  const img = document.createElement('img'); img.loading = 'lazy';
  img.src = '/img/p' + n + '.png'; img.width = 40; img.height = 40;
  document.body.appendChild(img);  // below the spacer: loaded only when scrolled to
});
"""


def js_pages(seeds: Path, count: int) -> dict[str, Page]:
    """For benchmarks: an index linking ``count`` pages whose text each comes by fetch()
    as JSON (a seed paragraph or two) and whose image loads lazily, below the text."""
    sections = list(seed_sections(seeds).values())
    html = "text/html; charset=utf-8"
    links = "".join(f'<li><a href="/p{i}.html">page {i}</a></li>' for i in range(count))
    pages = {
        "/": Page(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>index</title>"
                  f"</head><body><ul>{links}</ul></body></html>".encode(), html),
        "/bench.js": Page(BENCH_JS.encode(), "text/javascript"),
        "/app.css": Page(APP_CSS, "text/css"),
    }
    for i in range(count):
        title, paragraphs = sections[i % len(sections)]
        pages[f"/p{i}.html"] = Page(
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>page {i}</title>"
            f"<link rel='stylesheet' href='/app.css'><script src='/bench.js' defer></script>"
            f"</head><body data-page='{i}'><main></main><div class='spacer'></div>"
            f"</body></html>".encode(), html)
        body = {"title": title, "paragraphs": paragraphs[i % 3: i % 3 + 2]}
        pages[f"/api/p{i}.json"] = Page(json.dumps(body, ensure_ascii=False).encode(),
                                        "application/json; charset=utf-8")
        pages[f"/img/p{i}.png"] = Page(PNG, "image/png")
    return pages
