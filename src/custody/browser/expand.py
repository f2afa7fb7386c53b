"""The ``expand`` behaviour, custody's own: what a person clicks to see a page whole that
browsertrix-behaviors leaves shut. Its autoscroll clicks "Show more" only at the end of
a page that grows as it is scrolled; a "Load more" button under a page that does not, a
thread's "Show replies", a collapsed ``<details>`` stay shut. So, after the behaviours,
each round opens every collapsed ``<details>`` and clicks every visible control whose
own words ask for more of the page (in English, Persian, Arabic and Russian), then waits
for the network to go quiet, until a round finds nothing to click, the same control has
been clicked ``PER_CONTROL`` times, or the time is up.

Only controls that act in place are clicked: buttons that submit no form, ARIA buttons,
and links that lead nowhere (no ``href``, ``#``, ``javascript:``); never a link to
another page, nor a form's submit button. Each click is one of the visit's
behaviour messages.
"""

from __future__ import annotations

import time
from typing import Any

from .quiet import NetworkWatch

PER_CONTROL = 25  # clicks of one control that keeps asking for more (a feed's button)
MOST = 200  # clicks on one page, at most
QUIET_AFTER = 3.0  # seconds waited for what a round's clicks asked for, at most

# a control's words that ask for more of the page: "Load more", "Show 3 replies",
# "View all comments", "ещё", "المزيد", "بیشتر"...
WORDS = (r"\b(load|show|see|view|read)\b.{0,20}\b(more|all|replies|comments|previous|"
         r"older|thread)\b|\bmore (replies|comments|posts)\b|\bexpand\b|"
         r"ещё|еще|ответы|المزيد|الردود|بیشتر|پاسخ‌ها")

_ROUND = """([words, perControl, room]) => {
  const asks = new RegExp(words, 'i');
  const counts = self.__custody_expand || (self.__custody_expand = new WeakMap());
  const said = [];
  const label = (e) => (e.innerText || e.getAttribute('aria-label') || '').trim()
    .replace(/\\s+/g, ' ');
  const shown = (e) => { const r = e.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'; };
  for (const d of document.querySelectorAll('details:not([open])')) {
    if (said.length >= room) return said;
    d.open = true;
    said.push('opened "' + label(d.querySelector('summary') || d).slice(0, 60) + '"');
  }
  const controls = document.querySelectorAll('button, [role=button], a');
  for (const e of controls) {
    if (said.length >= room) break;
    if (e.tagName === 'A' && e.hasAttribute('href')) {
      const href = e.getAttribute('href').trim();
      if (href && href !== '#' && !href.toLowerCase().startsWith('javascript:')) continue;
    }
    if (e.tagName === 'BUTTON' && e.form && (e.type || 'submit') === 'submit') continue;
    if (e.disabled || e.getAttribute('aria-disabled') === 'true' || !shown(e)) continue;
    const text = label(e);
    if (!text || text.length > 60 || !asks.test(text)) continue;
    const n = counts.get(e) || 0;
    if (n >= perControl) continue;
    counts.set(e, n + 1);
    e.scrollIntoView({block: 'center'});
    e.click();
    said.push('clicked "' + text.slice(0, 60) + '"');
  }
  return said;
}"""


async def expand(page: Any, network: NetworkWatch, seconds: float) -> tuple[list[str], bool]:
    """Open and click what asks for more of the page, round after round, for at most
    ``seconds``: what was done (one line each), and whether it ended by itself."""
    said: list[str] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end and len(said) < MOST:
        try:
            done = await page.evaluate(_ROUND, [WORDS, PER_CONTROL, MOST - len(said)])
        except Exception as exc:  # the page navigated, crashed or closed
            said.append(f"expand stopped: {str(exc).splitlines()[0][:200]}")
            return said, True
        if not done:
            return said, True
        said += [f"expand: {line}" for line in done]
        await network.quiet(max(0.1, min(QUIET_AFTER, end - time.monotonic())))
    return said, False
