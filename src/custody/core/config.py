"""An archive's settings file, ``custody.toml`` in its root (optional).

    [timestamp]
    tsa = ["https://tsa.example/tsr"]   # asked in turn after each capture is signed
    roots = ["tsa-roots.pem"]           # trusted TSA roots, relative to the root
                                        # (unnamed: tsa-roots.pem, if it is there)
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UsageError

FILENAME = "custody.toml"


@dataclass
class Config:
    tsa: list[str] = field(default_factory=list)
    tsa_roots: list[Path] = field(default_factory=list)


def _default_roots(root: Path) -> list[Path]:
    """``tsa-roots.pem`` in the root, if there is one: the roots when none are named."""
    default_roots = root / "tsa-roots.pem"
    return [default_roots] if default_roots.exists() else []


def load(root: Path) -> Config:
    path = root / FILENAME
    if not path.exists():
        return Config(tsa_roots=_default_roots(root))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read settings: {exc}", where=str(path)) from exc
    section = data.get("timestamp", {})
    if not isinstance(section, dict):
        raise UsageError("[timestamp] must be a table of settings", where=str(path))
    tsa = section.get("tsa", [])
    roots = section.get("roots")
    if not isinstance(tsa, list) or not isinstance(roots, list | None):
        raise UsageError("[timestamp] tsa and roots are lists", where=str(path))
    return Config(tsa=[str(u) for u in tsa],
                  tsa_roots=_default_roots(root) if roots is None else
                  [root / str(r) for r in roots])
