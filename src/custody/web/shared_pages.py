"""The pages that read the shared index when the workbench was given one (``--db``): the
captures list and a capture sealed on another machine (search asks it in pages.py).
See shared_index.py for what comes from where."""

from __future__ import annotations

import sqlite3
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..core.errors import UsageError
from . import listing
from .shared_index import IndexAway, SharedIndex, chosen_here
from .verification import badges
from .workbench import Workbench


def captures(request: Request, wb: Workbench, index: SharedIndex,
             conn: sqlite3.Connection | None, cases: list[Any]) -> Response:
    """The captures list from the shared index; ``cases``: this archive's, to choose."""
    query = request.query_params
    filters = listing.Filters.from_query(query)
    error = None
    try:
        filters.checked(conn)
    except UsageError as exc:
        error, filters = str(exc), listing.Filters()
    try:
        chosen = chosen_here(conn, filters)
        try:
            page = index.captures(filters, chosen, after=query.get("after") or None,
                                  before=query.get("before") or None)
        except UsageError as exc:
            error, page = str(exc), index.captures(filters, chosen)
        total = index.count()
    except IndexAway as exc:
        return wb.page(request, "captures.html", status=503, page=listing.Page([]),
                       badges={}, error=str(exc), total=None, filters=filters,
                       statuses=listing.STATUSES, labels={}, cases=[], shared=index.shown,
                       elsewhere=set())
    ids = [r.id for r in page.rows]
    # a capture held here is shown as this archive's custody.db has it, never as the
    # index says (anyone who can write to the index could write any title beside the
    # capture's verification badge)
    own = listing.rows_of(conn, ids) if conn is not None else {}
    here = set(own)
    page.rows = [own.get(r.id, r) for r in page.rows if r.id not in own or
                 _status_fits(own[r.id].status, filters)]
    shown = badges(wb.archive, conn, [(r.id, r.started_at) for r in page.rows
                                      if r.id in here]) if conn is not None else {}
    labels = listing.labels(conn, ids) if conn is not None else {}
    return wb.page(request, "captures.html", page=page, badges=shown, error=error,
                   total=total, filters=filters, statuses=listing.STATUSES, labels=labels,
                   cases=cases, shared=index.shown, elsewhere=set(ids) - here)


def _status_fits(status: str, filters: listing.Filters) -> bool:
    """Whether a capture held here has, in its own custody.db, the status the filters ask
    for (the index's row may say otherwise)."""
    imported = status.startswith("imported")
    return (not filters.status or status == filters.status) and \
        (filters.imported != "yes" or imported) and (filters.imported != "no" or not imported)


def elsewhere(request: Request, wb: Workbench, index: SharedIndex, capture_id: str,
              missing: str) -> Response:
    """The page of a capture this folder does not hold, from the shared index's rows;
    404 when the index holds none either (``missing``: why this folder has none)."""
    try:
        held = index.capture(capture_id)
    except IndexAway as exc:
        raise HTTPException(503, str(exc)) from exc
    if held is None:
        raise HTTPException(404, missing)
    return wb.page(request, "shared_capture.html", capture_id=capture_id, held=held,
                   shared=index.shown, root=str(wb.archive.root))
