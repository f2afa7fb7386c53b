"""What every route of the workbench shares: the archive, the archivist's key (through
the recorder), sessions and accounts, the capture and verify workers, the replay, and
the templates -- with the few helpers the routes use to read and to answer."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from .. import __version__
from ..core.archive import Archive
from ..core.terminal import bidi_escaped, for_terminal
from .accounts import Accounts, allowed
from .capturing import Captures
from .events import Recorder
from .replay_proxy import ReplayProxy
from .sessions import LoginLimit, Sessions
from .shared_index import SharedIndex
from .verification import Verifier

HERE = Path(__file__).parent


def environment() -> jinja2.Environment:
    """Jinja2 with autoescaping on for every template: captured titles, URLs, headers
    and text are shown as text, whatever they hold."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                             autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    env.globals["version"] = __version__
    # a title's or URL's controls and bidi overrides shown escaped; a text's overrides
    env.filters["plain"] = lambda text: "" if text is None else for_terminal(str(text))
    env.filters["unbidi"] = lambda text: "" if text is None else bidi_escaped(str(text))
    # an event's details as JSON a person reads: its Persian or Russian as letters, not
    # \u escapes (the page escapes what HTML must; the overrides are shown escaped)
    env.filters["details"] = lambda value: bidi_escaped(json.dumps(value, ensure_ascii=False))
    return env


@dataclass
class Workbench:
    archive: Archive
    recorder: Recorder
    sessions: Sessions
    captures: Captures
    verifier: Verifier
    accounts: Accounts | None = None  # with --host: the team's accounts
    replay: ReplayProxy | None = None
    limits: LoginLimit = field(default_factory=LoginLimit)
    env: jinja2.Environment = field(default_factory=environment)
    local_only_paths: bool = True  # a profile folder may be named (loopback, one user)
    index: SharedIndex | None = None  # --db: lists and search from the team's index

    @contextmanager
    def db(self) -> Iterator[sqlite3.Connection | None]:
        """custody.db, read-only; None when the archive has none yet."""
        from ..index.query import open_readonly

        if not self.archive.db_path.exists():
            yield None
            return
        conn = open_readonly(self.archive.db_path)
        try:
            yield conn
        finally:
            conn.close()

    def replay_address(self, request: Request, capture_id: str, url: str, *,
                       embedded: bool = False) -> str | None:
        """The page's replay, at the origin the guard frames (security.Guard: one origin
        for the link and the policy); None without a replay."""
        origin = request.scope.get("state", {}).get("replay_origin")
        if self.replay is None or origin is None:
            return None
        return self.replay.address(origin, capture_id, url, embedded=embedded)

    def page(self, request: Request, template: str, status: int = 200,
             **values: Any) -> HTMLResponse:
        session = request.scope.get("state", {}).get("session")
        html = self.env.get_template(template).render(
            request=request, session=session, archive_name=self.archive.root.name,
            can=lambda action: session is not None and allowed(session.role, action),
            team=self.accounts is not None, signs=self.recorder.can_sign, **values)
        return HTMLResponse(html, status_code=status)
