"""Who seals, with what, where: the manifest's ``collector``, the same for a capture, an
import and a queue worker's seal."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from .. import __version__

if TYPE_CHECKING:
    from ..core.archive import Archive
    from ..core.sshsig import Ed25519PrivateKey


def collector_of(archive: Archive, key: Ed25519PrivateKey) -> dict[str, Any]:
    import platform
    import socket

    from ..core import sshsig

    public = key.public_key()
    return {
        "software": "custody",
        "version": __version__,
        "python": platform.python_version(),
        "libraries": libraries(),
        "host": socket.gethostname(),
        "operator": archive.principal_for(public) or "unknown",
        "key_fingerprint": sshsig.fingerprint(public),
    }


@cache
def libraries() -> dict[str, str]:
    """The version of each library custody depends on, as installed: what made the bytes.
    Read from the names of the installed ``*.dist-info`` folders (name-version, as wheels
    install them): one listing of each folder on the path, where asking
    importlib.metadata for each library walks the path and parses a file each time."""
    import os
    import re
    import sys

    listed: list[tuple[str, list[str]]] = []  # each folder of the path, and its entries
    for folder in sys.path:
        try:
            listed.append((folder or ".", os.listdir(folder or ".")))
        except OSError:
            continue
    wanted = {}  # the name as custody's requirements write it, lower case
    for requirement in _requirements(listed):
        if "extra ==" in requirement:
            continue
        match = re.match(r"[A-Za-z0-9._-]+", requirement)
        if match is not None:
            wanted[_normal(match.group(0))] = match.group(0).lower()
    found: dict[str, str] = {}
    for _, names in listed:
        for entry in names:
            if entry.endswith(".dist-info") and "-" in entry:
                dist, _, rest = entry.removesuffix(".dist-info").partition("-")
                name = wanted.get(_normal(dist))
                if name is not None and name not in found:
                    found[name] = rest
    for normal, name in wanted.items():
        if name not in found:
            from importlib.metadata import PackageNotFoundError, version

            try:
                found[name] = version(normal)
            except PackageNotFoundError:
                continue
    return dict(sorted(found.items()))


def _requirements(listed: list[tuple[str, list[str]]]) -> list[str]:
    """custody's Requires-Dist, from the METADATA of the first custody-*.dist-info on the
    path, as importlib.metadata finds it (whose import costs a one-page capture 10 ms);
    through importlib.metadata where there is none (an egg-info, say)."""
    import os

    for folder, names in listed:
        for entry in names:
            if entry.endswith(".dist-info") and _normal(entry.partition("-")[0]) == "custody":
                try:
                    with open(os.path.join(folder, entry, "METADATA"), encoding="utf-8") as fh:
                        head = fh.read().partition("\n\n")[0]
                except OSError:
                    break
                return [line.removeprefix("Requires-Dist:").strip()
                        for line in head.splitlines() if line.startswith("Requires-Dist:")]
    from importlib.metadata import requires

    return requires("custody") or []


def _normal(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")
