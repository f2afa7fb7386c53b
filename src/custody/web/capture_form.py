"""The capture form's fields made into a capture's seeds and settings, by the same rules
`custody archive`'s options and a queued job are held to (capture/validation.py)."""

from __future__ import annotations

from typing import Any

from ..core.archive import Archive
from ..core.errors import InvalidURL, UsageError

MAX_SEEDS = 10_000


def seeds_from(text: str) -> tuple[list[str], list[list[str]]]:
    """URLs one per line ('#' comments and blank lines skipped), each checked, a bad one
    named by its line; a URL's user:password@ taken out of it, as `custody archive` does."""
    from ..core.urls import check_url, split_login

    seeds: list[str] = []
    logins: dict[str, tuple[str, str, str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        bare, login = split_login(line.strip())
        try:
            seeds.append(check_url(bare))
        except InvalidURL as exc:
            raise UsageError(f"line {number}: {exc}") from exc
        if login is not None and logins.setdefault(login[0], login) != login:
            raise UsageError(f"line {number}: two logins for {login[0]}: give one")
    if not seeds:
        raise UsageError("no URLs to capture: give one or more, one per line")
    if len(seeds) > MAX_SEEDS:
        raise UsageError(f"at most {MAX_SEEDS} URLs in one capture")
    return list(dict.fromkeys(seeds)), [list(x) for x in logins.values()]


def _number(values: dict[str, str], name: str, kind: type) -> Any:
    text = (values.get(name) or "").strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError as exc:
        raise UsageError(f"{name.replace('_', ' ')}: {text!r} is not a number") from exc


def settings_from(archive: Archive, values: dict[str, str], cookies: str | None, *,
                  allow_profile: bool) -> tuple[list[str], list[list[str]], dict[str, Any]]:
    from pathlib import Path

    from ..capture.settings import Settings
    from ..capture.validation import check_settings
    from ..core.config import load

    seeds, logins = seeds_from(values.get("urls", ""))
    settings = Settings()
    for name, kind in (("depth", int), ("max_pages", int), ("page_timeout", float),
                       ("time_limit", float), ("delay", float)):
        number = _number(values, name, kind)
        if number is not None:
            setattr(settings, name, number)
    scope = values.get("scope")
    if scope:
        settings.scope = scope
    settings.browser = values.get("browser") == "on"
    settings.media = values.get("media") == "on"
    settings.allow_private = values.get("allow_private") == "on"
    settings.requisites = values.get("no_requisites") != "on"
    settings.tsa = load(archive.root).tsa
    if cookies:
        from ..core.cookies import load as load_cookies

        load_cookies(cookies, None)  # readable, before anything is fetched
        settings.cookies = cookies
    profile = (values.get("profile") or "").strip()
    if profile:
        if not allow_profile:
            raise UsageError("a browser profile is a folder of the server's: only a "
                             "workbench on loopback for one person takes one")
        if not Path(profile).is_dir():
            raise UsageError(f"no browser profile folder at {profile}")
        from ..core.cookies import load as load_cookies

        load_cookies(None, profile)
        settings.browser_profile = str(Path(profile).resolve())
    if settings.browser:
        from ..browser.chromium import require_chromium

        require_chromium()
    checked = check_settings(settings.to_json())
    return seeds, logins, checked.to_json()
