"""The workbench's watch pages: the watches (all, or a case's), each with its schedule and
last run; and one watch's timeline, the URL's captures oldest first, each change the
watch found between two of them beside it, with its diff and its report. They read
through the watch library, as `custody watch list` and `watch changes` do; watches are
added, paused and removed with `custody watch` (each a signed event)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..core.errors import CustodyError, NotFound
from .pages import bench, cases_of


def _when(moment: float | None) -> str | None:
    return None if moment is None else \
        datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S")


def watches_page(request: Request) -> Response:
    from ..watch import list_watches, schedule_of, shown

    wb = bench(request)
    case = request.query_params.get("case") or None
    error = None
    try:
        found = list_watches(wb.archive, case=case)
        slots = schedule_of(wb.archive)
    except CustodyError as exc:
        found, slots, error = [], {}, str(exc)
    rows = [{"watch": w, "every": shown(w.every), "slot": slots.get(w.id),
             "next_due": _when(getattr(slots.get(w.id), "next_due", None))} for w in found]
    return wb.page(request, "watches.html", rows=rows, case=case, cases=cases_of(wb),
                   error=error)


def watch_page(request: Request) -> Response:
    from ..index.versions import history
    from ..watch import get_watch, list_changes, schedule_of, shown

    wb = bench(request)
    try:
        watch = get_watch(wb.archive, request.path_params["watch_id"])
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    changes = list_changes(wb.archive, watch_id=watch.id)
    by_after = {c.after_capture: c for c in changes}
    captures: list[dict[str, Any]] = []
    with wb.db() as conn:
        if conn is not None:
            captures = history(conn, watch.url)
    for row in captures:
        row["change"] = by_after.get(row["capture_id"])
    slot = schedule_of(wb.archive).get(watch.id)
    return wb.page(request, "watch.html", watch=watch, every=shown(watch.every), slot=slot,
                   next_due=_when(getattr(slot, "next_due", None)),
                   captures=list(reversed(captures)), changes=changes)
