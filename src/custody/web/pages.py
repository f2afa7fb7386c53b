"""The workbench's pages that read: the captures list, a capture, its screenshots and
renders, a diff between two captures, and search. Each reads through the library
(index/, report/, seal/) and renders a template; none writes anything."""

from __future__ import annotations

import os
from typing import Any

from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from ..core.capture_ids import check_capture_id
from ..core.errors import CustodyError, NotFound, UsageError
from . import capture_view, listing
from .verification import badges
from .workbench import Workbench

PLACEHOLDER = (b'<svg xmlns="http://www.w3.org/2000/svg" width="160" height="120">'
               b'<rect width="160" height="120" fill="#eceff1"/><text x="80" y="64" '
               b'font-family="sans-serif" font-size="12" text-anchor="middle" '
               b'fill="#78909c">no screenshot</text></svg>')


def bench(request: Request) -> Workbench:
    return request.app.state.workbench


def home(request: Request) -> Response:
    return RedirectResponse("/captures", status_code=303)


def captures(request: Request) -> Response:
    wb = bench(request)
    query = request.query_params
    filters = listing.Filters.from_query(query)
    error = None
    with wb.db() as conn:
        if wb.index is not None:  # the team's shared index (--db)
            from . import shared_pages

            return shared_pages.captures(request, wb, wb.index, conn, cases_of(wb))
        if conn is None:
            return wb.page(request, "captures.html", page=listing.Page([]), badges={},
                           error="no database yet (custody reindex builds it)", total=0,
                           filters=filters, statuses=listing.STATUSES, labels={}, cases=[])
        try:
            filters.checked(conn)
        except UsageError as exc:
            error, filters = str(exc), listing.Filters()
        try:
            page = listing.captures(conn, filters, after=query.get("after") or None,
                                    before=query.get("before") or None)
        except UsageError as exc:
            error, page = str(exc), listing.captures(conn, filters)
        ids = [r.id for r in page.rows]
        shown = badges(wb.archive, conn, [(r.id, r.started_at) for r in page.rows])
        labels = listing.labels(conn, ids)
        total = listing.count(conn)
    return wb.page(request, "captures.html", page=page, badges=shown, error=error,
                   total=total, filters=filters, statuses=listing.STATUSES, labels=labels,
                   cases=cases_of(wb))


def cases_of(wb: Workbench) -> list[Any]:
    """The archive's cases, for a filter's or an "add to case" choice (none when custody.db
    is older than cases: the pages still show)."""
    from ..annotate import list_cases

    try:
        return list_cases(wb.archive)
    except CustodyError:
        return []


def capture(request: Request) -> Response:
    wb = bench(request)
    cid = capture_id_of(request)
    with wb.db() as conn:
        try:
            shown = capture_view.view(wb.archive, conn, cid)
        except NotFound as exc:
            if wb.index is not None:  # sealed on another machine, in the shared index
                from . import shared_pages

                return shared_pages.elsewhere(request, wb, wb.index, cid, str(exc))
            raise HTTPException(404, str(exc)) from exc
        badge = badges(wb.archive, conn, [(cid, shown.content.get("finished_at") or "")])[cid] \
            if conn is not None else None
        held = listing.labels(conn, [cid])[cid] if conn is not None else listing.Labels()
    pages = [url for url, _, _ in shown.pages] or \
        list((shown.content.get("final_urls") or {}).values()) or [shown.content["final_url"]]
    chosen = request.query_params.get("page") or pages[0]
    if chosen not in pages and chosen not in {r.get("target_uri") for r in shown.responses}:
        chosen = pages[0]
    check = wb.verifier.get(request.query_params.get("check", ""))
    return wb.page(request, "capture.html", view=shown, badge=badge, pages=pages,
                   chosen=chosen, replay=wb.replay_address(request, cid, chosen),
                   embedded=wb.replay_address(request, cid, chosen, embedded=True),
                   check=check if check and check.capture_id == cid else None,
                   downloads=DOWNLOADS, held=held, notes=notes_on(wb, cid),
                   cases=cases_of(wb))


def notes_on(wb: Workbench, capture_id: str) -> list[Any]:
    from ..annotate import notes_of

    try:
        return notes_of(wb.archive, capture_id)
    except CustodyError:
        return []


DOWNLOADS = {"report": "Report (HTML)", "report-pdf": "Report (PDF)",
             "bundle": "Evidence bundle (zip)", "wacz": "WACZ package (signed)"}


def thumbnail(request: Request) -> Response:
    wb = bench(request)
    cid = capture_id_of(request)
    try:
        record = capture_view.first_screenshot(wb.archive, cid)
    except NotFound as exc:
        if wb.index is not None:  # a capture of the shared index this folder lacks
            return Response(PLACEHOLDER, media_type="image/svg+xml")
        raise HTTPException(404, str(exc)) from exc
    if record is None:
        return Response(PLACEHOLDER, media_type="image/svg+xml",
                        headers={"cache-control": "private, max-age=3600"})
    try:
        path = capture_view.block_file(wb.archive, record)
    except UsageError:
        return Response(PLACEHOLDER, media_type="image/svg+xml")
    try:
        data = capture_view.thumbnail(path)
    except (OSError, ValueError):
        return Response(PLACEHOLDER, media_type="image/svg+xml")
    finally:
        path.unlink(missing_ok=True)
    return Response(data, media_type="image/png",
                    headers={"cache-control": "private, max-age=3600"})


def record(request: Request) -> Response:
    """A render or media file, as sealed: an image shown as itself, anything else (the
    rendered DOM, a PDF, a video) downloaded, never opened in the workbench's origin."""
    wb = bench(request)
    cid = capture_id_of(request)
    try:
        index = int(request.path_params["index"])
        found = capture_view.record_of(wb.archive, cid, index)
        path = capture_view.block_file(wb.archive, found)
    except (ValueError, NotFound) as exc:
        raise HTTPException(404, str(exc)) from exc
    except UsageError as exc:
        raise HTTPException(409, str(exc)) from exc
    media = str(found.get("content_type") or "").split(";")[0].strip().lower()
    cleanup = BackgroundTask(os.unlink, path)
    if media in capture_view.SHOWN_INLINE:
        return FileResponse(path, media_type=media, background=cleanup,
                            headers={"content-security-policy": "default-src 'none'"})
    kind = str(found.get("target_uri") or "").removeprefix("urn:").partition(":")[0]
    name = f"{cid}-{index}-{kind}{_suffix(media)}"
    return FileResponse(path, media_type="application/octet-stream", filename=name,
                        background=cleanup,
                        headers={"content-security-policy": "default-src 'none'; sandbox"})


def _suffix(media: str) -> str:
    return {"text/html": ".html", "application/pdf": ".pdf", "application/json": ".json",
            "video/mp4": ".mp4", "video/webm": ".webm", "audio/mp4": ".m4a",
            "audio/webm": ".weba", "image/png": ".png"}.get(media, ".bin")


def diff(request: Request) -> Response:
    from ..index.versions import diff as text_diff

    wb = bench(request)
    cid = capture_id_of(request)
    other = request.query_params.get("other", "")
    url = request.query_params.get("url") or None
    try:
        check_capture_id(other)
    except UsageError as exc:
        raise HTTPException(400, str(exc)) from exc
    with wb.db() as conn:
        if conn is None:
            raise HTTPException(404, "no database yet (custody reindex builds it)")
        try:
            same, lines = text_diff(conn, other, cid, url)
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
    return wb.page(request, "diff.html", capture_id=cid, other=other, url=url, same=same,
                   lines=lines)


def search(request: Request) -> Response:
    from ..index.search import WINDOW, Filters
    from ..index.search import search as run_search

    wb = bench(request)
    query = request.query_params
    words = (query.get("q") or "").strip()
    filters = Filters(site=query.get("site") or None, lang=query.get("lang") or None,
                      since=query.get("since") or None, until=query.get("until") or None,
                      capture=query.get("capture") or None)
    found: list[dict[str, Any]] = []
    windowed = False
    error = None
    try:
        start = max(0, min(int(query.get("start") or 0), 10_000))
    except ValueError:
        start = 0
    if words and wb.index is not None:  # the team's shared index (--db)
        try:
            found = wb.index.search(words, filters, limit=HITS + 1, offset=start)
            windowed = getattr(found, "windowed", False)
            with wb.db() as conn:
                from ..index.postgres_search import own_hits

                found = own_hits(conn, found, words)
        except CustodyError as exc:
            error = str(exc)
    elif words:
        with wb.db() as conn:
            if conn is None:
                error = "no database yet (custody reindex builds it)"
            else:
                try:  # one more than shown: whether there are more
                    found = run_search(conn, words, limit=HITS + 1, filters=filters,
                                       timeout=5.0, marked=True, offset=start)
                    windowed = getattr(found, "windowed", False)
                except CustodyError as exc:
                    error = str(exc)
    more = len(found) > HITS
    shown = {k: v for k, v in (("q", words), ("site", filters.site), ("lang", filters.lang),
                               ("since", filters.since), ("until", filters.until),
                               ("capture", filters.capture)) if v}
    return wb.page(request, "search.html", words=words, hits=found[:HITS], error=error,
                   filters=filters, start=start, more=more, shown=shown, size=HITS,
                   windowed=windowed, window=WINDOW,
                   cases=cases_of(wb) if found else [])


HITS = 25  # a page of hits (each snippet is cut from its whole text)


def capture_id_of(request: Request) -> str:
    try:
        return check_capture_id(request.path_params["capture_id"])
    except UsageError as exc:
        raise HTTPException(404, str(exc)) from exc
