"""Signing in and out, and the admin's page of accounts (team mode, `--host`).

A login is refused for a while after too many failures (sessions.LoginLimit, by name and
by address), with one message whatever was wrong, in the time a right one takes. Each
change to an account is an event in the custody log naming the admin who made it.
"""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..core.errors import UsageError
from .accounts import ROLES
from .pages import bench
from .security import form_of, session_of
from .sessions import COOKIE


def login_page(request: Request) -> Response:
    wb = bench(request)
    if wb.accounts is None:
        return wb.page(request, "login.html", status=200, error=None, local=True, next="/")
    return wb.page(request, "login.html", error=None, local=False,
                   next=_safe_next(request.query_params.get("next")))


async def login(request: Request) -> Response:
    wb = bench(request)
    if wb.accounts is None:
        raise HTTPException(404, "on loopback, open the address custody serve printed")
    form = await request.form()
    name = str(form.get("name") or "")[:64]
    password = str(form.get("password") or "")
    target = _safe_next(str(form.get("next") or "/"))
    client = request.client.host if request.client else "?"
    keys = (f"name:{name.lower()}", f"ip:{client}")
    wait = wb.limits.wait(*keys)
    if wait > 0:
        return wb.page(request, "login.html", status=429, local=False, next=target,
                       error=f"too many failed sign-ins: try again in {int(wait // 60) + 1} "
                             "minutes")
    account = await asyncio.to_thread(wb.accounts.authenticate, name, password)
    if account is None:
        wb.limits.failed(*keys)
        return wb.page(request, "login.html", status=401, local=False, next=target,
                       error="that name and password do not sign in")
    wb.limits.succeeded(*keys)
    opened = wb.sessions.open(account.name, account.role)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, opened.id, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")
    return response


async def logout(request: Request) -> Response:
    wb = bench(request)
    session, _ = await form_of(request, "read")
    wb.sessions.close(session.id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _safe_next(target: str | None) -> str:
    """Only a path of this server: never another site (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return "/"
    return target


def accounts_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    wb = bench(request)
    session = session_of(request)
    if wb.accounts is None or session.role != "admin":
        raise HTTPException(403, "accounts are for a team's workbench, and its admins")
    return wb.page(request, "accounts.html", status=status, error=error,
                   accounts=sorted(wb.accounts.accounts.values(), key=lambda a: a.name),
                   roles=ROLES)


async def change_account(request: Request) -> Response:
    wb = bench(request)
    session, form = await form_of(request, "admin")
    if wb.accounts is None:
        raise HTTPException(404, "no accounts on a loopback workbench")
    action = str(form.get("action") or "")
    name = str(form.get("name") or "")
    details: dict[str, object]
    try:
        if action == "add":
            role = str(form.get("role") or "")
            await asyncio.to_thread(wb.accounts.add, name, role, str(form.get("password") or ""))
            details = {"name": name, "role": role}
        elif action == "role":
            role = str(form.get("role") or "")
            wb.accounts.set_role(name, role)
            wb.sessions.close_account(name)
            details = {"name": name, "role": role}
        elif action in ("disable", "enable"):
            if name == session.account:
                raise UsageError("an admin cannot disable their own account")
            wb.accounts.set_disabled(name, action == "disable")
            wb.sessions.close_account(name)
            details = {"name": name, "disabled": action == "disable"}
        else:
            raise UsageError(f"no such change: {action!r}")
    except UsageError as exc:
        return accounts_page(request, str(exc), 400)
    event = {"add": "account-added", "role": "account-role-changed",
             "disable": "account-disabled", "enable": "account-enabled"}[action]
    await asyncio.to_thread(wb.recorder.record, event, session.account, details)
    return RedirectResponse("/accounts", status_code=303)
