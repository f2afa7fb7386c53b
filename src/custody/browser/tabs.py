"""Which page each tab of a person's session shows, and so which visit each request is
for (interactive.py). A tab's navigation begins a page it is *loading*; the page becomes
the one it *shows* when the browser commits it, and the page shown before is left. A
navigation that shows nothing (a download, a 204, another click first) is dropped: what
it fetched goes to the page the tab still shows. Requests are remembered by URL with
their page (asked.py), to be matched with the proxy's exchanges."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .asked import Asked
from .page import PageVisit, iso

MOVES_NOTED = 100  # changes of a page's address by its own script noted, at most
NOTES = 500  # notes of one page, at most


@dataclass
class Tab:
    page: Any  # Playwright's
    current: PageVisit | None = None  # the page it shows
    loading: PageVisit | None = None  # the page it is loading, until it shows it
    chain: set[str] = field(default_factory=set)  # the addresses it asked, redirects too
    front: float = 0.0  # when the person last had it in front
    session: Any = None  # its DevTools session (the shortcut's binding, the DOM)


@dataclass
class Shown:
    """A visit as the session keeps it until its tab leaves it."""

    committed: bool = False  # a document came, and the tab shows it
    loaded: bool = False  # photographed as it loaded (or given up)
    shooting: int = 0  # photographs under way
    moved: list[str] = field(default_factory=list)


class Pages:
    def __init__(self) -> None:
        self.asked = Asked()
        self.latest: PageVisit | None = None  # the page that began last
        self.leaving: list[PageVisit] = []  # left, to be handed on once photographed
        self._state: dict[int, Shown] = {}  # by id() of the PageVisit
        self._alias: dict[int, tuple[PageVisit, PageVisit | None]] = {}  # dropped -> shown

    def state(self, visit: PageVisit) -> Shown:
        return self._state[id(visit)]

    def requested(self, tab: Tab | None, request: Any) -> None:
        """A request of the tab's (None: of no tab, a service worker's)."""
        if tab is None:
            if self.latest is not None:
                self.asked.add(request.url, self.latest)
            return
        if request.is_navigation_request() and request.frame.parent_frame is None:
            if tab.loading is None or request.redirected_from is None:
                self.drop(tab)  # a navigation begun again before it showed a page
                now = datetime.now(UTC)
                tab.loading = self.latest = PageVisit(request.url, request.url, now, now,
                                                      marks=[])
                self._state[id(tab.loading)] = Shown()
            tab.chain.add(_bare(request.url))
            self.asked.add(request.url, tab.loading)
            return
        owner = tab.current or tab.loading
        if owner is not None:
            self.asked.add(request.url, owner)

    def opened(self, tab: Tab, url: str) -> bool:
        """A tab first known when it shows ``url`` already (a tab a page opened, whose
        first page the browser committed before the tab was announced): whether it does."""
        if not url.startswith(("http://", "https://")) or tab.current is not None:
            return False
        if tab.loading is None:
            now = datetime.now(UTC)
            tab.loading = self.latest = PageVisit(url, url, now, now, marks=[])
            self._state[id(tab.loading)] = Shown()
            self.asked.add(url, tab.loading, first=True)  # its answer, taken for another's
        tab.chain.add(_bare(url))
        self.navigated(tab, url)
        return True

    def owner(self, url: str) -> PageVisit | None:
        """The page that asked for ``url`` (for a dropped one, the page shown instead)."""
        asked = self.asked.owner(url)
        return self._alias.get(id(asked), (None, asked))[1]

    def drop(self, tab: Tab) -> None:
        visit, tab.loading = tab.loading, None
        tab.chain = set()
        if visit is not None:
            self._alias[id(visit)] = (visit, tab.current)

    def leave(self, tab: Tab) -> None:
        visit, tab.current = tab.current, None
        if visit is not None:
            self.leaving.append(visit)

    def shown(self, tab: Tab, url: str, new: bool) -> None:
        """The browser says the tab's main frame shows a new document at ``url`` (its
        commit), or (``new`` false) the same one at another address."""
        if not new:
            loading, tab.loading = tab.loading, None
            self.navigated(tab, url)
            tab.loading = loading
            return
        if not url.startswith(("http://", "https://")):
            self.drop(tab)
            self.leave(tab)
            return
        if tab.loading is None:  # a document no request of this tab's was seen for
            now = datetime.now(UTC)
            tab.loading = self.latest = PageVisit(url, url, now, now, marks=[])
            self._state[id(tab.loading)] = Shown()
        self.leave(tab)
        tab.current, tab.loading, tab.chain = tab.loading, None, set()
        self.state(tab.current).committed = True
        tab.current.final_url = url

    def navigated(self, tab: Tab, url: str) -> None:
        """The tab's main frame shows ``url``: the page it was loading, or the page it
        shows at another address (its own script's doing)."""
        shows = url.startswith(("http://", "https://"))
        if tab.loading is not None and (not shows or _bare(url) in tab.chain):
            if not shows:  # a browser's own page: the tab shows no web page now
                self.drop(tab)
            self.leave(tab)
            if shows and tab.loading is not None:  # the page it asked for: shown now
                tab.current, tab.loading, tab.chain = tab.loading, None, set()
                self.state(tab.current).committed = True
                tab.current.final_url = url
            return
        # else the page shown changed its own address (while another may be loading)
        current = tab.current
        if current is None or not shows:
            return
        state = self.state(current)
        if url != (state.moved[-1] if state.moved else current.final_url):
            state.moved.append(url)  # within the page (history.pushState, a #)
            if len(state.moved) <= MOVES_NOTED:
                note(tab, f"the address changed to {url} in the page at "
                          f"{iso(datetime.now(UTC))}")
            elif len(state.moved) == MOVES_NOTED + 1:
                note(tab, f"the address changed more than {MOVES_NOTED} times in the "
                          "page: the later changes are not noted")


def note(tab: Tab, line: str) -> None:
    if tab.current is not None and len(tab.current.notes) < NOTES:
        tab.current.notes.append(line)


def _bare(url: str) -> str:
    """An address without its fragment, which no request carries."""
    return url.partition("#")[0]
