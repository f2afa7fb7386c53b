"""The workbench's watch pages: the watches (all, or a case's), each with its schedule and
last run; and one watch's timeline, the URL's captures newest first, each change the
watch found between two of them beside it, with its diff and its report. They read
through the watch library, as `custody watch list` and `watch changes` do; a watch
added, paused, resumed or removed here is the library's signed event, with the
account's name, as `custody watch` makes it. Notification targets (their secrets) are
set with `custody watch target`, not here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..core.errors import CustodyError, NotFound
from .pages import bench, cases_of
from .security import form_of


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
    cases = cases_of(wb)
    return wb.page(request, "watches.html", rows=rows, case=case, cases=cases,
                   case_names={c.id: c.name for c in cases}, error=error)


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


MAX_URLS = 100  # watched at once from the form


async def add(request: Request) -> Response:
    """Watch the URLs given (one a line), each a signed `watch-added` event with the
    account's name, as `custody watch add` makes it."""
    from ..watch import add_watches
    from .annotating import change, signer_of, text_of

    wb = bench(request)
    session, form = await form_of(request, "capture")
    urls = [line.strip() for line in (text_of(form, "urls") or "").splitlines()
            if line.strip()]
    if not urls:
        raise HTTPException(400, "give a URL to watch (one a line)")
    if len(urls) > MAX_URLS:
        raise HTTPException(400, f"at most {MAX_URLS} URLs at a time")
    ignore = [line.strip() for line in (text_of(form, "ignore") or "").splitlines()
              if line.strip()]
    made = await change(add_watches, wb.archive, urls, every=text_of(form, "every", 20) or "",
                        signer=signer_of(wb, session.account),
                        browser=form.get("browser") == "on", media=form.get("media") == "on",
                        case=text_of(form, "case", 500), ignore=ignore,
                        screenshot_threshold=text_of(form, "threshold", 20))
    return RedirectResponse(f"/watches/{made[0].id}" if len(made) == 1 else "/watches",
                            status_code=303)


async def change_watch(request: Request) -> Response:
    """Pause, resume or remove a watch (a signed event, with a reason where one is given)."""
    from ..watch import pause_watch, remove_watch, resume_watch
    from .annotating import change, signer_of, text_of

    wb = bench(request)
    session, form = await form_of(request, "capture")
    watch_id = request.path_params["watch_id"]
    action = form.get("action")
    signer = signer_of(wb, session.account)
    reason = text_of(form, "reason", 500)
    if action == "pause":
        await change(pause_watch, wb.archive, watch_id, signer=signer, reason=reason)
    elif action == "resume":
        await change(resume_watch, wb.archive, watch_id, signer=signer)
    elif action == "remove":
        await change(remove_watch, wb.archive, watch_id, signer=signer, reason=reason)
    else:
        raise HTTPException(400, "pause, resume or remove")
    return RedirectResponse(f"/watches/{watch_id}", status_code=303)
