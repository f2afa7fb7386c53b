"""The recording proxy's challenge, answered once for each page through its DevTools session.

The proxy asks every connection for Basic credentials that name the page's visit
(proxy.py). Given them as a context's proxy credentials, Playwright answers the
challenge by pausing *every* request of the page (DevTools' Fetch domain, pattern ``*``)
until its driver lets it go: a round trip through the driver for each request, which
made each page of scripts/bench_browser.py take 0.25 s longer to load. Chromium keeps
the credentials its context's proxy accepted and sends them with each later request
unasked, so here the page's own session pauses its requests only until the first
challenge is answered, then stops pausing them.

The browser's cache works as a person's browser has it, in the page and in its frames
and workers alike: each page's context begins with an empty cache, so whatever a page
takes from it, it fetched through the proxy (and into the WARC) earlier in its own
visit. (With Playwright's credentials the cache was off in every frame and worker, as a
side effect of its holding each request; turned off here, it would be off in the page
alone.)
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

EVERY_REQUEST = [{"urlPattern": "*", "requestStage": "Request"}]


class ProxyLogin:
    """Answers the recording proxy's challenge for one page, as ``user``."""

    def __init__(self, session: Any, user: str, password: str) -> None:
        self._session = session
        self._user = user
        self._password = password
        self._answered: set[str] = set()  # the requests given the credentials
        self._done = False  # given: nothing is paused any more
        self.paused = 0  # requests held until let go (the page's first, as a rule)
        self.challenged = 0  # the proxy's challenges answered with the credentials
        self._tasks: set[asyncio.Future[Any]] = set()  # kept until they are done

    async def start(self) -> bool:
        """Ready before the page asks for anything (True, once it is)."""
        self._session.on("Fetch.requestPaused", self._paused)
        self._session.on("Fetch.authRequired", self._challenged)
        await self._session.send("Fetch.enable", {"handleAuthRequests": True,
                                                  "patterns": EVERY_REQUEST})
        return True

    def _paused(self, event: dict[str, Any]) -> None:
        self.paused += 1
        self._later(self._session.send("Fetch.continueRequest",
                                       {"requestId": event["requestId"]}))

    def _challenged(self, event: dict[str, Any]) -> None:
        request = event["requestId"]
        if event.get("authChallenge", {}).get("source") != "Proxy":
            answer = {"response": "Default"}  # a site's own login: as the browser has it
        elif request in self._answered:
            answer = {"response": "CancelAuth"}  # refused once: never again and again
        else:
            self._answered.add(request)
            self.challenged += 1
            answer = {"response": "ProvideCredentials", "username": self._user,
                      "password": self._password}
        self._later(self._session.send("Fetch.continueWithAuth",
                                       {"requestId": request, "authChallengeResponse": answer}))
        if answer["response"] == "ProvideCredentials" and not self._done:
            self._done = True  # the context keeps them: no request need wait any more
            self._later(self._session.send("Fetch.disable"))

    def _later(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(_quietly(coroutine))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _quietly(coroutine: Any) -> None:
    with contextlib.suppress(Exception):  # the page closed, crashed or navigated away
        await coroutine
