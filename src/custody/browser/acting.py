"""What custody does in a page beside loading it, as its settings ask: the page
behaviours (behaviors.py), run between the page's load and custody's own scroll, and
where the parts named volatile lie on the screenshot (a watch's ignored parts)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from . import behaviors
from .expand import STUCK, expand
from .quiet import QUIET_CAP, NetworkWatch

EXPAND_LEAST = 5.0  # seconds expand has, however long the behaviours before it took


@dataclass
class Acts:
    """The page behaviours to run (behaviors.KINDS), and for how long at most; the CSS
    selectors of the parts whose boxes the visit records."""

    kinds: list[str]
    timeout: float
    volatile: list[str] = field(default_factory=list)


# where the parts a selector names lie on the full-page screenshot: (x, y, width, height)
# in its pixels, at most 500 boxes; a selector the browser does not take is skipped
BOXES = """(selectors) => {
  const boxes = [];
  for (const selector of selectors) {
    let found = [];
    try { found = document.querySelectorAll(selector); } catch (e) { continue; }
    for (const element of found) {
      const r = element.getBoundingClientRect();
      if (r.width < 1 || r.height < 1) continue;
      boxes.push([Math.floor(r.left + scrollX), Math.floor(r.top + scrollY),
                  Math.ceil(r.width), Math.ceil(r.height)]);
      if (boxes.length >= 500) return boxes;
    }
  }
  return boxes;
}"""


async def behave(page: Any, acts: Acts, visit: Any, network: NetworkWatch) -> None:
    """The page behaviours, then the network quiet again (what they asked for fetched);
    what they did goes into ``visit`` (the page's PageVisit), its notes too."""
    visit.behaved = behaviors.Behaved(ran=list(acts.kinds))  # (what is known if cut short)
    before = page.url
    started = time.monotonic()
    try:
        visit.behaved = await behaviors.run(page, acts.kinds, acts.timeout)
    except asyncio.CancelledError:  # the capture was interrupted: how long they ran
        visit.behaved.seconds = time.monotonic() - started
        visit.behaved.error = "stopped: the capture was interrupted"
        raise
    if visit.behaved.error:
        visit.notes.append(f"page behaviours: {visit.behaved.error}")
    elif not visit.behaved.finished:
        visit.notes.append(f"the page behaviours were still at work after "
                           f"--behavior-timeout ({acts.timeout:g} s): the page may hold more")
    if "expand" in acts.kinds and page.url == before:
        left = max(EXPAND_LEAST, acts.timeout - visit.behaved.seconds)
        said, ended = await expand(page, network, left)
        visit.behaved.messages += said
        if STUCK in said:
            visit.notes.append(f"a click of expand did not come back within {left:.0f} s "
                               "(a script that never yields?)")
        elif not ended:
            visit.notes.append(f"expand was still finding more to open after {left:.0f} s: "
                               "the page may hold more")
    if page.url != before:
        visit.notes.append(f"the page behaviours left the page on {page.url[:500]}")
    clicked = sum(1 for m in visit.behaved.messages if m.startswith("Clicking on link"))
    if clicked:  # a script's route changed in place may not come back with the address
        visit.notes.append(f"autoclick clicked {clicked} link(s) and went back after each; "
                           "what the page shows is the state the clicks left it in, which "
                           "may not be the page as it first loaded")
    await network.quiet(QUIET_CAP)
