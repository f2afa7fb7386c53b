"""The workbench's pages that act: capture (the form, and a job's live progress), verify
now, and downloads (report, bundle, WACZ). Every one is a POST with the session's CSRF
token, allowed by the account's role, done by the library, and logged in the custody
log with the account's name."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response

from ..core.errors import CustodyError, NotFound, SecretsFound, UsageError
from .pages import DOWNLOADS, bench, capture_id_of, cases_of
from .security import form_of, require

# -- verify now -----------------------------------------------------------------------------


async def verify(request: Request) -> Response:
    wb = bench(request)
    cid = capture_id_of(request)
    session, _ = await form_of(request, "verify")
    check = wb.verifier.start(cid, session.account)
    if request.headers.get("accept", "").startswith("application/json"):
        return JSONResponse({"check": check.id})
    return RedirectResponse(f"/captures/{cid}?check={check.id}#verification", status_code=303)


def check_state(request: Request) -> Response:
    check = bench(request).verifier.get(request.path_params["check_id"])
    if check is None:
        raise HTTPException(404, "no such verification")
    return JSONResponse({"state": check.state, "status": check.status, "counts": check.counts,
                         "problems": check.problems, "error": check.error,
                         "capture_id": check.capture_id})


# -- downloads ------------------------------------------------------------------------------


async def download(request: Request) -> Response:
    wb = bench(request)
    cid = capture_id_of(request)
    kind = request.path_params["kind"]
    if kind not in DOWNLOADS:
        raise HTTPException(404, "no such download")
    session, _ = await form_of(request, "download")
    if not wb.recorder.can_sign:
        raise HTTPException(409, "downloads are logged in the custody log, and this "
                                 "workbench has no archivist's key to sign it with")
    made = await in_scratch(request, lambda folder: _make(wb, cid, kind, folder), cid)
    if isinstance(made, Response):
        return made
    (path, name, details), folder = made
    await asyncio.to_thread(wb.recorder.record, details.pop("event"), session.account,
                            details)
    return FileResponse(path, filename=name, media_type="application/octet-stream",
                        background=BackgroundTask(shutil.rmtree, folder, True))


def _make(wb: Any, cid: str, kind: str, folder: Path) -> tuple[Path, str, dict[str, Any]]:
    """The file to download, its name, and the event that logs it."""
    from ..report.court import gather
    from ..report.html import render
    from ..report.secrets import search

    arch = wb.archive
    if kind in ("report", "report-pdf", "bundle"):
        facts = gather(arch, cid)
        html = render(facts)
        extra = {"report.html": html.encode("utf-8")}
        found = search(arch, [cid], extra=extra)
        found.refuse(allow=False)
        secrets = {**found.summary(), "allowed": False} if found.session else None
        if kind == "report":
            out = folder / f"{cid}-report.html"
            out.write_text(html, encoding="utf-8")
            details: dict[str, Any] = {"event": "reported", "capture_id": cid,
                                       "format": "html"}
        elif kind == "report-pdf":
            from ..report.pdf import print_pdf

            out = folder / f"{cid}-report.pdf"
            print_pdf(html, out)
            details = {"event": "reported", "capture_id": cid, "format": "pdf"}
        else:
            from ..seal.bundle import write_bundle

            files = write_bundle(arch, cid, folder / cid, extra=extra,
                                 verification=facts.verification)
            out = Path(shutil.make_archive(str(folder / f"{cid}-bundle"), "zip", folder, cid))
            details = {"event": "bundled", "capture_id": cid, "files": len(files),
                       "credentials": False}
        if secrets is not None:
            details["secrets"] = secrets
        return out, out.name, details
    from ..export.wacz import write_wacz

    out = folder / f"{cid}.wacz"
    summary = write_wacz(arch, [cid], out, key=wb.recorder.key,
                         principal=wb.recorder.principal)
    details = {"event": "exported", "capture_ids": [cid], "file": out.name,
               "format": "wacz", "credentials": False}
    if summary.get("secrets") is not None:
        details["secrets"] = summary["secrets"]
    return out, out.name, details


# -- capture ----------------------------------------------------------------------------------


def new_capture(request: Request) -> Response:
    wb = bench(request)
    require(request, "capture")
    return wb.page(request, "new_capture.html", error=None, values={}, queue=wb.captures
                   .queue_url, jobs=wb.captures.recent()[:20], cases=cases_of(wb))


async def start_capture(request: Request) -> Response:
    from .capture_form import settings_from

    wb = bench(request)
    session, form = await form_of(request, "capture")
    if not wb.recorder.can_sign:
        raise HTTPException(409, "captures are sealed with the archivist's key, and this "
                                 "workbench has none")
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
    cookies_path = None
    try:
        upload = form.get("cookies")
        if upload is not None and not isinstance(upload, str) and upload.filename:
            data = await upload.read(COOKIES_MAX + 1)
            if len(data) > COOKIES_MAX:
                raise UsageError(f"the cookies file is over {COOKIES_MAX // 1024} KiB: a "
                                 "cookies.txt of the sites captured is far smaller")
            handle, cookies_path = tempfile.mkstemp(prefix="custody-cookies-", suffix=".txt")
            with os.fdopen(handle, "wb") as out:
                out.write(data)
        seeds, logins, settings = await asyncio.to_thread(
            settings_from, wb.archive, values, cookies_path,
            allow_profile=wb.local_only_paths)
        case = await asyncio.to_thread(_case_for, wb, values.get("case") or None,
                                       session.role)
        job = wb.captures.submit(seeds, settings, logins, session.account,
                                 cookies_file=cookies_path, case=case)
    except CustodyError as exc:
        if cookies_path:
            Path(cookies_path).unlink(missing_ok=True)
        return wb.page(request, "new_capture.html", status=400, error=str(exc),
                       values=values, queue=wb.captures.queue_url,
                       jobs=wb.captures.recent()[:20], cases=cases_of(wb))
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


COOKIES_MAX = 1024 * 1024


def _case_for(wb: Any, ref: str | None, role: str) -> str | None:
    """The open case a capture asked for goes into once sealed: its id (UsageError for a
    case there is not, or one closed; 403 for a role that may not annotate)."""
    from ..annotate import get_case
    from .accounts import allowed

    if ref is None:
        return None
    if not allowed(role, "annotate"):
        raise UsageError("this account may not add captures to a case")
    try:
        case = get_case(wb.archive, ref)
    except NotFound as exc:
        raise UsageError(f"there is no case {ref!r}") from exc
    if case.status != "open":
        raise UsageError(f"the case {case.name!r} is closed: reopen it first")
    return case.id


def job_page(request: Request) -> Response:
    wb = bench(request)
    job = wb.captures.get(request.path_params["job_id"])
    if job is None:
        raise HTTPException(404, "no such capture job (jobs are kept while the server runs)")
    queued = wb.captures.queue_states(job)
    return wb.page(request, "job.html", job=job, queued=queued)


def job_state(request: Request) -> Response:
    wb = bench(request)
    job = wb.captures.get(request.path_params["job_id"])
    if job is None:
        raise HTTPException(404, "no such capture job")
    queue = wb.captures.queue_states(job)  # (first: the job follows its queued jobs)
    return JSONResponse({**job.to_json(), "queue": queue})


async def in_scratch(request: Request, make: Any, capture_id: str | None,
                     not_found: int = 409) -> Any:
    """``make(folder)`` run off the event loop in a scratch folder: what it made, and the
    folder (the caller's to remove once the file is sent); or the page that says why
    nothing was (secrets found), the folder gone either way."""
    folder = Path(tempfile.mkdtemp(prefix="custody-serve-"))
    try:
        return await asyncio.to_thread(make, folder), folder
    except SecretsFound as exc:
        shutil.rmtree(folder, ignore_errors=True)
        return bench(request).page(request, "refused.html", status=409, capture_id=capture_id,
                                   message=str(exc), lines=exc.lines[:50])
    except CustodyError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise HTTPException(not_found if isinstance(exc, NotFound) else 409, str(exc)) from exc
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise

