"""The workbench's cases, tags and notes: the case pages, and the forms that add a capture
to a case, tag and untag it, and write a note on it, and that export a case.

Every change is made by custody.annotate -- the calls `custody case`, `tag` and `note`
make -- as one event in the custody log, signed with the archivist's key the server
holds and naming the account that asked; the library holds each to its rules (a quoted
passage the sealed text lacks, a closed case, a tag already there are refused, and
nothing is written). The pages read through the same library. A viewer reads them; the
forms are the investigator's and the admin's (the ``annotate`` action).
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from ..core.errors import CustodyError, NotFound, UsageError
from .actions import in_scratch
from .pages import bench, capture_id_of
from .security import form_of
from .workbench import Workbench

MAX_IDS = 1_000  # captures added to a case from one form


def signer_of(wb: Workbench, account: str) -> Any:
    """The Signer of an annotation asked for by this account; 409 when the server holds
    no archivist's key (nothing is then changed unlogged)."""
    from ..annotate import Signer

    if wb.recorder.key is None or wb.recorder.principal is None:
        raise HTTPException(409, "annotations are signed events in the custody log, and this "
                                 "workbench has no archivist's key to sign them with")
    return Signer(wb.recorder.key, wb.recorder.principal, account=account)


def text_of(form: FormData, name: str, limit: int = 20_000) -> str | None:
    """A form's text field, stripped; None when empty; 400 when it is too long (the library
    holds what is left to its own rules)."""
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        return None
    if len(value) > limit:
        raise HTTPException(400, f"{name}: at most {limit} characters")
    return value.strip()


def back_to(form: FormData, default: str) -> str:
    """Where a form returns to: a path of this workbench (never another site)."""
    wanted = form.get("next")
    if isinstance(wanted, str) and wanted.startswith("/") and not wanted.startswith("//") \
            and "\\" not in wanted:
        return wanted
    return default


async def change(call: Any, *args: Any, **named: Any) -> Any:
    """Run one library call that writes an event (off the event loop: it takes the
    archive's locks); its refusal shown as the page's answer, nothing written."""
    try:
        return await asyncio.to_thread(call, *args, **named)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except UsageError as exc:
        raise HTTPException(400, str(exc)) from exc
    except CustodyError as exc:
        raise HTTPException(409, str(exc)) from exc


# -- the pages --------------------------------------------------------------------------------


def cases_page(request: Request) -> Response:
    from ..annotate import list_cases

    wb = bench(request)
    status = request.query_params.get("status") or None
    try:
        found = list_cases(wb.archive, status=status)
    except UsageError as exc:
        raise HTTPException(400, str(exc)) from exc
    except CustodyError as exc:
        raise HTTPException(409, str(exc)) from exc
    return wb.page(request, "cases.html", cases=found, shown_status=status)


def case_page(request: Request) -> Response:
    from ..annotate import notes_of, selectors_of_case, show_case

    wb = bench(request)
    ref = request.path_params["case"]
    try:
        detail = show_case(wb.archive, ref)
        notes = notes_of(wb.archive, case=detail.case.id)
        selectors = selectors_of_case(wb.archive, detail.case.id)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except CustodyError as exc:
        raise HTTPException(409, str(exc)) from exc
    try:
        start = max(0, int(request.query_params.get("start") or 0))
    except ValueError:
        start = 0
    page = detail.captures[start:start + CASE_PAGE]
    with wb.db() as conn:
        from .listing import labels

        shown = labels(conn, [c.capture_id for c in page]) if conn else {}
    by_capture: dict[str, list[Any]] = {}
    for note in notes:
        by_capture.setdefault(note.capture_id, []).append(note)
    return wb.page(request, "case.html", detail=detail, case=detail.case, notes=by_capture,
                   note_count=len(notes), selectors=selectors, labels=shown, page=page,
                   start=start, size=CASE_PAGE)


CASE_PAGE = 100  # a case's captures shown at a time (its selectors and counts: all)


# -- the changes ------------------------------------------------------------------------------


async def create(request: Request) -> Response:
    from ..annotate import create_case

    wb = bench(request)
    session, form = await form_of(request, "annotate")
    name = text_of(form, "name", 500)
    if name is None:
        raise HTTPException(400, "a case needs a name")
    made = await change(create_case, wb.archive, name,
                        signer=signer_of(wb, session.account),
                        description=text_of(form, "description"))
    return RedirectResponse(f"/cases/{made.id}", status_code=303)


async def add_to_case(request: Request) -> Response:
    """Add the captures ticked (``capture``, one or more) to the case chosen."""
    from ..annotate import add_to_case as add

    wb = bench(request)
    session, form = await form_of(request, "annotate")
    ref = text_of(form, "case", 500)
    ids = [v for v in form.getlist("capture") if isinstance(v, str) and v.strip()]
    if ref is None:
        raise HTTPException(400, "choose a case to add the captures to")
    if not ids:
        raise HTTPException(400, "tick the captures to add to the case")
    if len(ids) > MAX_IDS:
        raise HTTPException(400, f"at most {MAX_IDS} captures at a time")
    await change(add, wb.archive, ref, [i.strip() for i in ids],
                 signer=signer_of(wb, session.account))
    from ..annotate import get_case

    case = await change(get_case, wb.archive, ref)
    return RedirectResponse(back_to(form, f"/cases/{case.id}"), status_code=303)


async def case_change(request: Request) -> Response:
    """Close or reopen the case, or take captures out of it (``action``: close, reopen,
    remove), with the reason given, as `custody case close/reopen/remove` do."""
    from ..annotate import close_case, remove_from_case, reopen_case

    wb = bench(request)
    ref = request.path_params["case"]
    session, form = await form_of(request, "annotate")
    signer = signer_of(wb, session.account)
    reason = text_of(form, "reason", 2000)
    action = form.get("action")
    if action == "close":
        await change(close_case, wb.archive, ref, signer=signer, reason=reason)
    elif action == "reopen":
        await change(reopen_case, wb.archive, ref, signer=signer, reason=reason)
    elif action == "remove":
        ids = [v.strip() for v in form.getlist("capture") if isinstance(v, str) and v.strip()]
        if not ids:
            raise HTTPException(400, "name the captures to take out of the case")
        await change(remove_from_case, wb.archive, ref, ids[:MAX_IDS], signer=signer,
                     reason=reason)
    else:
        raise HTTPException(400, "close, reopen or remove")
    return RedirectResponse(back_to(form, f"/cases/{ref}"), status_code=303)


async def retract(request: Request) -> Response:
    """Withdraw a note, saying why (it stays in the log and the pages, marked)."""
    from ..annotate import get_note, retract_note

    wb = bench(request)
    cid = capture_id_of(request)
    session, form = await form_of(request, "annotate")
    note_id = text_of(form, "note", 100)
    reason = text_of(form, "reason", 2000)
    if note_id is None or reason is None:
        raise HTTPException(400, "a note is retracted with a reason")
    found = await change(get_note, wb.archive, note_id)
    if found.capture_id != cid:
        raise HTTPException(404, "no such note on this capture")
    await change(retract_note, wb.archive, note_id, reason=reason,
                 signer=signer_of(wb, session.account))
    return RedirectResponse(back_to(form, f"/captures/{cid}#{note_id}"), status_code=303)


async def tag(request: Request) -> Response:
    """Tag the capture (``action=add``) or take a tag off it (``action=remove``)."""
    from ..annotate import tag_capture, untag_capture

    wb = bench(request)
    cid = capture_id_of(request)
    session, form = await form_of(request, "annotate")
    text = text_of(form, "tag", 500)
    if text is None:
        raise HTTPException(400, "a tag needs a name")
    action = form.get("action") or "add"
    if action not in ("add", "remove"):
        raise HTTPException(400, "a tag is added or removed: nothing else")
    call = untag_capture if action == "remove" else tag_capture
    await change(call, wb.archive, cid, text,
                 signer=signer_of(wb, session.account))
    return RedirectResponse(back_to(form, f"/captures/{cid}#annotations"), status_code=303)


async def note(request: Request) -> Response:
    """A note on the capture, or on one of its pages, perhaps quoting its sealed text, and
    perhaps written for one of its cases."""
    from ..annotate import add_note

    wb = bench(request)
    cid = capture_id_of(request)
    session, form = await form_of(request, "annotate")
    text = text_of(form, "text")
    if text is None:
        raise HTTPException(400, "a note needs its text")
    await change(add_note, wb.archive, cid, text,
                 signer=signer_of(wb, session.account), page_url=text_of(form, "page", 8000),
                 quote=text_of(form, "quote"), case=text_of(form, "case", 500))
    return RedirectResponse(back_to(form, f"/captures/{cid}#annotations"), status_code=303)


async def export(request: Request) -> Response:
    """The case's signed package as one zip file (the folder `custody case export` writes),
    logged as the CLI logs it: a ``case-exported`` event, with the account."""
    wb = bench(request)
    session, _ = await form_of(request, "download")
    if not wb.recorder.can_sign:
        raise HTTPException(409, "a package is signed with the archivist's key, and this "
                                 "workbench has none")
    case = request.path_params["case"]
    made = await in_scratch(request, lambda folder: _package(wb, case, folder), None,
                            not_found=404)
    if isinstance(made, Response):
        return made
    (path, details), folder = made
    await asyncio.to_thread(wb.recorder.record, "case-exported", session.account, details)
    return FileResponse(path, filename=path.name, media_type="application/zip",
                        background=BackgroundTask(shutil.rmtree, folder, True))


def _package(wb: Workbench, ref: str, folder: Path) -> tuple[Path, dict[str, Any]]:
    from ..annotate import get_case
    from ..export.case import write_case_package

    name = get_case(wb.archive, ref).id  # (a name may hold anything a file's cannot)
    out = folder / name
    package = write_case_package(wb.archive, ref, out, key=wb.recorder.key,
                                 principal=str(wb.recorder.principal))
    zipped = Path(shutil.make_archive(str(folder / package.case_id), "zip", folder, name))
    details: dict[str, Any] = {"case_id": package.case_id, "name": package.name,
                               "capture_ids": package.capture_ids, "folder": name,
                               "manifest_sha256": package.manifest_sha256,
                               "credentials": False}
    if package.secrets is not None:
        details["secrets"] = package.secrets
    return zipped, details
