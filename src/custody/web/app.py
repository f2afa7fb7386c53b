"""The workbench's routes, put together as one Starlette application behind the guard."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import actions, annotating, auth, pages, watching
from .security import Guard, GuardSettings
from .workbench import HERE, Workbench

log = logging.getLogger("custody.serve")

ID = "{capture_id:str}"
ROUTES = [
    Route("/", pages.home),
    Route("/captures", pages.captures),
    Route(f"/captures/{ID}", pages.capture),
    Route(f"/captures/{ID}/thumbnail", pages.thumbnail),
    Route(f"/captures/{ID}/records/{{index:int}}", pages.record),
    Route(f"/captures/{ID}/diff", pages.diff),
    Route(f"/captures/{ID}/verify", actions.verify, methods=["POST"]),
    Route(f"/captures/{ID}/download/{{kind:str}}", actions.download, methods=["POST"]),
    Route("/checks/{check_id:str}", actions.check_state),
    Route(f"/captures/{ID}/tags", annotating.tag, methods=["POST"]),
    Route(f"/captures/{ID}/notes", annotating.note, methods=["POST"]),
    Route(f"/captures/{ID}/notes/retract", annotating.retract, methods=["POST"]),
    Route("/cases", annotating.cases_page),
    Route("/cases", annotating.create, methods=["POST"]),
    Route("/cases/add", annotating.add_to_case, methods=["POST"]),
    Route("/cases/{case:str}", annotating.case_page),
    Route("/cases/{case:str}/export", annotating.export, methods=["POST"]),
    Route("/cases/{case:str}/change", annotating.case_change, methods=["POST"]),
    Route("/search", pages.search),
    Route("/watches", watching.watches_page),
    Route("/watches", watching.add, methods=["POST"]),
    Route("/watches/{watch_id:str}", watching.watch_page),
    Route("/watches/{watch_id:str}/change", watching.change_watch, methods=["POST"]),
    Route("/capture", actions.new_capture),
    Route("/capture", actions.start_capture, methods=["POST"]),
    Route("/jobs/{job_id:str}", actions.job_page),
    Route("/jobs/{job_id:str}/state", actions.job_state),
    Route("/login", auth.login_page),
    Route("/login", auth.login, methods=["POST"]),
    Route("/logout", auth.logout, methods=["POST"]),
    Route("/accounts", auth.accounts_page),
    Route("/accounts", auth.change_account, methods=["POST"]),
    Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
]


def make_app(workbench: Workbench, guard: GuardSettings) -> Guard:
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.headers.get("accept", "").startswith("application/json") or \
                request.url.path.endswith("/state") or request.url.path.startswith("/checks"):
            return PlainTextResponse(str(exc.detail), status_code=exc.status_code)
        return workbench.page(request, "error.html", status=exc.status_code,
                              message=str(exc.detail), code=exc.status_code)

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("%s %s", request.method, request.url.path, exc_info=exc)
        return PlainTextResponse("custody serve: something went wrong on the server; its "
                                 "log says what", status_code=500)

    app = Starlette(routes=ROUTES, exception_handlers={HTTPException: http_error,
                                                       Exception: server_error})
    app.state.workbench = workbench
    return Guard(app, guard)
