"""The User-Agent custody announces by default: the installed Chromium's own, as that
browser sends it when a person uses it (no "Headless"), for the crawler, the browser and
yt-dlp alike, so that one capture speaks with one voice and an adversarial site sees an
ordinary browser rather than an archiver. It is recorded in the manifest's settings;
``--user-agent`` replaces it.

Chromium's version is read once from ``chromium --version`` and kept in the user's cache
with the binary's size and time, since running it costs a capture 50 ms or more. Without
Chromium the agent names the version custody was last tested with.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"  # Debian's; CUSTODY_CHROMIUM names another
TESTED_MAJOR = 156  # the Chromium major version custody was last tested with
TEMPLATE = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/{major}.0.0.0 Safari/537.36")  # as Chrome reduces its agent since 110


def chromium_path() -> str:
    return os.environ.get("CUSTODY_CHROMIUM") or CHROMIUM


def browser_user_agent() -> str:
    return TEMPLATE.format(major=chromium_major() or TESTED_MAJOR)


def chromium_major() -> int | None:
    """The installed Chromium's major version; None when there is none that answers."""
    path = chromium_path()
    try:
        found = os.stat(path)
    except OSError:
        return None
    key = f"{path} {found.st_size} {found.st_mtime_ns}"
    kept = _cache_file()
    if kept is not None:
        try:
            cached = json.loads(kept.read_text())
            if cached.get("key") == key and isinstance(cached.get("major"), int):
                return int(cached["major"])
        except (OSError, ValueError, AttributeError):
            pass
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20,
                             check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\b(\d+)\.\d+\.\d+\.\d+\b", out)
    if match is None:
        return None
    major = int(match.group(1))
    if kept is not None:
        try:
            kept.parent.mkdir(parents=True, exist_ok=True)
            tmp = kept.with_name(f".{kept.name}.{os.getpid()}")
            tmp.write_text(json.dumps({"key": key, "major": major}))
            os.replace(tmp, kept)
        except OSError:
            pass  # a cache that cannot be written is asked again next time
    return major


def _cache_file() -> Path | None:
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        try:
            base = str(Path.home() / ".cache")
        except RuntimeError:
            return None
    return Path(base) / "custody" / "chromium-version.json"
