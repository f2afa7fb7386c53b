"""Page behaviours: what a person would do to see a page whole, done by the script
Browsertrix and Scoop run, browsertrix-behaviors (its built script, as the npm package
ships it: ``./scripts/setup --browser`` fetches the pinned version into
``.venv/tools/behaviors``, or ``CUSTODY_BEHAVIORS`` names the file).

Chosen with ``--behaviors`` (``default``: all but autoclick; ``all``; ``none``; or names
joined by commas):

- ``autoscroll``: scroll to the end, again as more loads, clicking "Show more";
- ``autoplay``: play each video and audio, and fetch the streams they name;
- ``autofetch``: fetch every ``srcset`` candidate, lazy and ``data-*`` source, and the
  images of stylesheets' media queries that did not apply;
- ``autoclick`` (only when named, or with ``all``): click each of the page's same-origin
  links, to run what their scripts do in place. Run in a page, the script cannot tell
  the links scripts handle from the others, so it clicks them all and goes back from
  each page they open; a page it leaves on another is noted;
- ``site``: the site's own behaviour where there is one (X, Instagram, Facebook, TikTok,
  Telegram...), in autoscroll's place;
- ``expand``, custody's own (expand.py), after the others: "Load more", "Show replies"
  and collapsed ``<details>``, which autoscroll leaves shut on a page that does not grow
  as it is scrolled.

The background ones (autoplay, autofetch) start with the page; the others run once it
has loaded and gone quiet, until they are done or ``--behavior-timeout`` has passed.
Every request they cause goes through the recording proxy as the page's own do. What
they did -- the behaviours run, their messages, how long, whether they finished -- is
kept with the page's visit in the manifest.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ..capture.settings import BEHAVIORS, DEFAULT_BEHAVIORS
from ..core.errors import UsageError, first_line

VERSION = "0.8.4"  # as scripts/setup pins it
KINDS = BEHAVIORS
MAX_MESSAGES = 100  # kept in the manifest: the first and the last half of them
DEFAULT = DEFAULT_BEHAVIORS  # autoclick only when asked
LOG = "__custody_behaviors_log"  # the global the script's messages are given to

_OPTION = {"autoscroll": "autoscroll", "autoplay": "autoplay", "autofetch": "autofetch",
           "autoclick": "autoclick", "site": "siteSpecific"}
# kept in the page until read: bounded, every message a short line
_LOGGER = """(() => {
  const kept = [];
  Object.defineProperty(self, NAME_KEPT, {value: kept});
  Object.defineProperty(self, NAME, {value: (entry) => {
    if (kept.length >= 5000) { kept.splice(MAX / 2, 1); }
    let data = entry && entry.data;
    if (data && typeof data === 'object') {
      data = data.msg !== undefined ? data.msg : JSON.stringify(data);
    }
    const line = String(data === undefined ? '' : data).slice(0, 300);
    if (line && line !== kept[kept.length - 1]) { kept.push(line); }
  }});
})();"""


@dataclass
class Behaved:
    """What the behaviours did on one page."""

    ran: list[str]
    seconds: float = 0.0
    finished: bool = False
    messages: list[str] = field(default_factory=list)
    error: str | None = None

    def summary(self) -> dict[str, Any]:
        return {"script": f"browsertrix-behaviors {VERSION}", "ran": self.ran,
                "seconds": round(self.seconds, 3), "finished": self.finished,
                "messages": self.messages, "error": self.error}


def script_path() -> Path:
    named = os.environ.get("CUSTODY_BEHAVIORS")
    return Path(named) if named else Path(sys.prefix) / "tools" / "behaviors" / "behaviors.js"


@cache
def script() -> str:
    """The behaviours' built script; UsageError when it is not installed."""
    path = script_path()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"page behaviours need browsertrix-behaviors {VERSION} at {path} "
                         "(`./scripts/setup --browser` installs it; CUSTODY_BEHAVIORS names "
                         "another copy); or capture without them: --behaviors none") from exc


def init_script(kinds: list[str], timeout: float) -> str:
    """What each page and frame runs before its own scripts: the behaviours' script, a
    logger that keeps their messages, and their set-up (the background ones start)."""
    options: dict[str, Any] = {name: kind in kinds for kind, name in _OPTION.items()}
    options.update({"timeout": int(timeout * 1000), "log": LOG})
    logger = _LOGGER.replace("NAME_KEPT", json.dumps(LOG + "_kept")) \
        .replace("NAME", json.dumps(LOG)).replace("MAX", str(MAX_MESSAGES))
    return (f"{logger}\n{script()}\n;(() => {{ if (self.__bx_behaviors) "
            f"{{ self.__bx_behaviors.init({json.dumps(options)}); }} }})();")


async def run(page: Any, kinds: list[str], timeout: float) -> Behaved:
    """Run the active behaviours in the page and its frames, until done or ``timeout``
    seconds; what they did. Never raises for the page."""
    import asyncio

    behaved = Behaved(ran=list(kinds))
    started = time.monotonic()
    frames = [page.main_frame, *page.frames[1:20]]
    calls = [frame.evaluate("() => self.__bx_behaviors ? self.__bx_behaviors.run()"
                            ".then(() => true) : false") for frame in frames]
    try:
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True),
                                         timeout + 5)
        main = results[0]
        if isinstance(main, BaseException):
            behaved.error = first_line(main, 300)
        elif main is False:
            behaved.error = "the behaviours' script did not load in the page"
        else:
            behaved.finished = time.monotonic() - started < timeout
    except TimeoutError:
        behaved.error = f"still running after {timeout:g} s (--behavior-timeout)"
    behaved.seconds = time.monotonic() - started
    with contextlib.suppress(Exception):  # a page navigated, crashed or closed: none
        behaved.messages = await asyncio.wait_for(messages(page), 3)
    return behaved


async def messages(page: Any) -> list[str]:
    """What the behaviours said in the page, the first and last MAX_MESSAGES / 2."""
    kept = await page.evaluate(f"() => self[{json.dumps(LOG + '_kept')}] || []")
    if not isinstance(kept, list):
        return []
    lines = [str(m) for m in kept]
    half = MAX_MESSAGES // 2
    return lines if len(lines) <= MAX_MESSAGES else \
        [*lines[:half], f"({len(lines) - MAX_MESSAGES} more)", *lines[-half:]]

