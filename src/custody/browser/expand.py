"""The ``expand`` behaviour, custody's own: what a person clicks to see a page whole that
browsertrix-behaviors leaves shut. Its autoscroll clicks "Show more" only at the end of
a page that grows as it is scrolled; a "Load more" button under a page that does not, a
thread's "Show replies", a collapsed ``<details>`` stay shut. So, after the behaviours,
a round opens every collapsed ``<details>`` and clicks every visible control whose whole
label asks for more of the page ("Load more", "Show 3 replies", "View all comments",
"Показать ещё", "المزيد", "بیشتر"...) not clicked before, then waits for the network to go
quiet; once none is left, the controls clicked before are clicked again one at a time (a
feed's "Load more"), each until a click of it changes nothing on the page or it has been
clicked ``PER_CONTROL`` times; until nothing is left to click or the time is up. A
click whose page does not answer (a script that never yields) ends it in time.

A click must not change the site nor leave the page: only buttons that submit no form,
ARIA buttons and links that lead nowhere (no ``href``, ``#``, ``javascript:``) are
clicked, never one whose label names an act (delete, follow, log out, buy, send...);
and while expand runs, the page may send no request but GET, HEAD and OPTIONS (a
``fetch``, an ``XMLHttpRequest``, a beacon, a form's submission are refused), nor go to
another page (the Navigation API's ``navigate`` event is cancelled). What was refused
is said, as each click is, in the visit's behaviour messages.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .quiet import NetworkWatch

PER_CONTROL = 25  # clicks of one control that keeps asking for more (a feed's button)
MOST = 200  # clicks on one page, at most
QUIET_AFTER = 3.0  # seconds waited for what a round's clicks asked for, at most
STUCK = "expand stopped: the page did not answer within its time"

# a control's whole label (lower case, digits and punctuation gone, spaces single)
ASKS = (r"^(?:(?:load|show|see|view|read) (?:more|all|earlier|older|previous)"
        r"(?: (?:replies|comments|answers|posts|messages|items|results|reviews))?"
        r"|(?:load|show|see|view) (?:replies|comments|answers|thread)"
        r"|more(?: (?:replies|comments|posts|results))?|expand(?: all)?"
        r"|(?:показать |загрузить )?(?:ещё|еще)(?: \S+)?|показать ответы"
        r"|(?:عرض |تحميل )?المزيد(?: \S+)?|(?:عرض )?الردود"
        r"|(?:نمایش |مشاهده )?(?:بیشتر|پاسخ‌ها|نظرات بیشتر)|مزید(?: \S+)?"
        r"|(?:voir|afficher) plus|mehr anzeigen|(?:ver|mostrar) más)$")
# a label that names an act on the site, whatever else it says
ACTS = (r"\b(?:delete|remove|unfollow|follow|log ?out|sign ?out|buy|pay|purchase|subscribe|"
        r"premium|upgrade|report|block|mute|share|send|post|submit|confirm|accept|install|"
        r"download)\b|[$€£]")

_GUARD = """() => {
  if (self.__custody_guard) return;
  const refused = [];
  const keep = (line) => { if (refused.length < 50) refused.push(line.slice(0, 200)); };
  const safe = (m) => ['GET', 'HEAD', 'OPTIONS'].includes(String(m || 'GET').toUpperCase());
  const was = {fetch: self.fetch, open: XMLHttpRequest.prototype.open,
               send: XMLHttpRequest.prototype.send, submit: HTMLFormElement.prototype.submit,
               request: HTMLFormElement.prototype.requestSubmit, beacon: navigator.sendBeacon};
  self.fetch = function (input, init) {
    const method = (init && init.method) || (input && input.method) || 'GET';
    if (safe(method)) return was.fetch.apply(this, arguments);
    keep('refused ' + method + ' ' + String((input && input.url) || input));
    return Promise.reject(new TypeError('refused while custody expands the page'));
  };
  XMLHttpRequest.prototype.open = function (method, url) {
    this.__custody = [method, url]; return was.open.apply(this, arguments); };
  XMLHttpRequest.prototype.send = function () {
    const [method, url] = this.__custody || ['GET', ''];
    if (safe(method)) return was.send.apply(this, arguments);
    keep('refused ' + method + ' ' + url); this.abort(); };
  HTMLFormElement.prototype.submit = function () { keep('refused a form: ' + this.action); };
  HTMLFormElement.prototype.requestSubmit = HTMLFormElement.prototype.submit;
  const submitted = (e) => { e.preventDefault(); keep('refused a form: ' + e.target.action); };
  document.addEventListener('submit', submitted, true);
  navigator.sendBeacon = (url) => { keep('refused a beacon to ' + url); return false; };
  const leaving = (e) => {
    if (e.hashChange || !e.cancelable) return;
    e.preventDefault(); keep('refused leaving for ' + e.destination.url); };
  if (self.navigation) navigation.addEventListener('navigate', leaving);
  self.__custody_guard = {refused, restore: () => {
    self.fetch = was.fetch; XMLHttpRequest.prototype.open = was.open;
    XMLHttpRequest.prototype.send = was.send; HTMLFormElement.prototype.submit = was.submit;
    HTMLFormElement.prototype.requestSubmit = was.request; navigator.sendBeacon = was.beacon;
    document.removeEventListener('submit', submitted, true);
    if (self.navigation) navigation.removeEventListener('navigate', leaving);
    delete self.__custody_guard; return refused; }};
}"""

# ``new``: open every collapsed <details>, click every control not clicked before; ``again``:
# click one control clicked before that still asks (a feed's "Load more"), unless its last
# click changed nothing (``spent``: then it is not clicked again)
_ROUND = """([asks, acts, perControl, room, mode]) => {
  const asking = new RegExp(asks, 'i'), acting = new RegExp(acts, 'i');
  const state = self.__custody_expand ||
    (self.__custody_expand = {counts: new WeakMap(), spent: new WeakSet(), last: null});
  const said = [];
  const label = (e) => (e.innerText || e.getAttribute('aria-label') || '').trim()
    .replace(/\\s+/g, ' ');
  const plain = (text) => text.toLowerCase().replace(/[0-9\\u06f0-\\u06f9\\u0660-\\u0669]+/g, ' ')
    .replace(/[^\\p{L}\\p{M}\\u200c ]+/gu, ' ').replace(/\\s+/g, ' ').trim();
  const shown = (e) => { const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'; };
  if (mode === 'spent') { if (state.last) state.spent.add(state.last); return []; }
  if (mode === 'new') {
    for (const d of document.querySelectorAll('details:not([open])')) {
      if (said.length >= room) return said;
      d.open = true;
      said.push('opened "' + label(d.querySelector('summary') || d).slice(0, 60) + '"');
    }
  }
  for (const e of document.querySelectorAll('button, [role=button], a')) {
    if (said.length >= room) break;
    if (e.tagName === 'A' && e.hasAttribute('href')) {
      const href = e.getAttribute('href').trim();
      if (href && href !== '#' && !href.toLowerCase().startsWith('javascript:')) continue;
    }
    if (e.tagName === 'BUTTON' && e.form && (e.type || 'submit') === 'submit') continue;
    if (e.disabled || e.getAttribute('aria-disabled') === 'true' || !shown(e)) continue;
    const text = label(e);
    if (!text || text.length > 40 || acting.test(text) || !asking.test(plain(text))) continue;
    const n = state.counts.get(e) || 0;
    if (mode === 'new' ? n > 0 : (n === 0 || n >= perControl || state.spent.has(e))) continue;
    state.counts.set(e, n + 1);
    state.last = e;
    e.scrollIntoView({block: 'center'});
    e.click();
    said.push('clicked "' + text.slice(0, 60) + '"');
    if (mode === 'again') break;
  }
  return said;
}"""

_SIZE = "() => document.documentElement ? document.getElementsByTagName('*').length + ' ' + " \
    "(document.body ? document.body.innerText.length : 0) : ''"


async def expand(page: Any, network: NetworkWatch, seconds: float) -> tuple[list[str], bool]:
    """Open and click what asks for more of the page, round after round, for at most
    ``seconds``: what was done and refused (one line each), and whether it ended by
    itself. A click whose page does not answer (a script that never yields) ends it."""
    said: list[str] = []
    end = time.monotonic() + seconds
    ended = False
    args = [ASKS, ACTS, PER_CONTROL]
    try:
        await _within(page.evaluate(_GUARD), end)
        while time.monotonic() < end and len(said) < MOST:
            size = await _within(page.evaluate(_SIZE), end)
            mode = "new"
            done = await _within(page.evaluate(_ROUND, [*args, MOST - len(said), mode]), end)
            if not done:
                mode = "again"
                done = await _within(page.evaluate(_ROUND, [*args, MOST - len(said), mode]),
                                     end)
            if not done:
                ended = True
                break
            said += [f"expand: {line}" for line in done]
            await network.quiet(max(0.1, min(QUIET_AFTER, end - time.monotonic())))
            if mode == "again" and await _within(page.evaluate(_SIZE), end) == size:
                await _within(page.evaluate(_ROUND, [*args, 0, "spent"]), end)
    except TimeoutError:
        said.append(STUCK)
    except Exception as exc:  # the page navigated, crashed or closed
        said.append(f"expand stopped: {str(exc).splitlines()[0][:200]}")
        ended = True
    try:
        refused = await asyncio.wait_for(page.evaluate(
            "() => self.__custody_guard ? self.__custody_guard.restore() : []"), 2)
        said += [f"expand: {line}" for line in refused]
    except Exception:  # a page still busy keeps the guard: it is frozen next, as it is
        pass
    return said, ended


async def _within(awaitable: Any, end: float) -> Any:
    return await asyncio.wait_for(awaitable, max(0.1, end - time.monotonic()))
