#!/usr/bin/env python3
"""The package and import graph of src/custody: modules and lines per package, and every
import that runs upward (against the order of the stages) or in a circle, and every
private name used across modules.

    .venv/bin/python scripts/layout.py [SRC]      # default: src/custody of this checkout

Point it at another checkout's src/custody (a `git worktree` of an older commit, say) to
compare the shapes before and after a change.
"""

from __future__ import annotations

import sys
from pathlib import Path

from custody.testing.layout import read, summary

REPO = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "src" / "custody"
    print(summary(read(src)))
