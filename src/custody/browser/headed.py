"""The Chromium a person browses in (archive --interactive): headed, on the archivist's
display, with a profile folder made for the session, through the recording proxy.

It says it is no automated browser (no "controlled by automated software" bar, no
``navigator.webdriver``), and Chromium's own services that would talk through the proxy
as the pages do (password leak checks, autofill and account lookups, search
suggestions, Safe Browsing) are off in its profile: none of that is the person's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..core.errors import UsageError
from .ca import CaptureCA
from .chromium import FLAGS, MARK
from .proxy import RecordingProxy

PORT_FOR_TESTS = "CUSTODY_TEST_INTERACTIVE_PORT"  # a DevTools port, for a test's stand-in
QUIET_PROFILE = {
    "credentials_enable_service": False,
    "profile": {"password_manager_enabled": False, "password_manager_leak_detection": False},
    "autofill": {"enabled": False, "profile_enabled": False, "credit_card_enabled": False},
    "signin": {"allowed": False, "allowed_on_next_startup": False},
    "search": {"suggest_enabled": False},
    "safebrowsing": {"enabled": False},
    "translate": {"enabled": False},
    "browser": {"has_seen_welcome_page": True},
}


def require_display() -> None:
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise UsageError("--interactive opens a browser window, and there is no display "
                         "(DISPLAY is not set): run it on the archivist's desktop")


async def launch(playwright: Any, executable: str, folder: Path, proxy: RecordingProxy,
                 visit_id: str, ca: CaptureCA, user_agent: str | None) -> Any:
    """The browser's one context (its windows and tabs), its requests all made as
    ``visit_id`` through ``proxy``."""
    profile = folder / "profile"
    (profile / "Default").mkdir(parents=True, exist_ok=True)
    (profile / "Default" / "Preferences").write_text(json.dumps(QUIET_PROFILE))
    args = [*FLAGS, f"--ignore-certificate-errors-spki-list={ca.spki_hash}",
            f"{MARK}={os.getpid()}", "--disable-blink-features=AutomationControlled",
            "--allow-browser-signin=false"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium's sandbox refuses to run as root
    if os.environ.get(PORT_FOR_TESTS):
        args += [f"--remote-debugging-port={int(os.environ[PORT_FOR_TESTS])}",
                 "--remote-debugging-address=127.0.0.1"]
    if user_agent:
        args.append(f"--user-agent={user_agent}")
    return await playwright.chromium.launch_persistent_context(
        str(profile), executable_path=executable, headless=False, args=args,
        ignore_default_args=["--enable-automation"], no_viewport=True,
        proxy={"server": proxy.url, "username": visit_id, "password": proxy.secret},
        accept_downloads=False, user_agent=user_agent, handle_sigint=False,
        handle_sigterm=False, handle_sighup=False)
