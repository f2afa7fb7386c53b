"""What an import lists, kept on disk while it is imported: its records (as the manifest
lists them) and the documents extracted from them, one JSON line each, read back as
often as the seal and the index need them. A file of 300,000 records is then held one
record at a time, whatever its size."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


class Spool:
    """An append-only list of JSON values in a temporary file (removed on close)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix=".spool-", suffix=".jsonl")
        self.path = Path(name)
        self._out = os.fdopen(fd, "w", encoding="utf-8")
        self.count = 0

    def add(self, value: Any) -> None:
        self._out.write(json.dumps(value, ensure_ascii=False) + "\n")
        self.count += 1

    def extend(self, values: Iterable[Any]) -> None:
        for value in values:
            self.add(value)

    def __iter__(self) -> Iterator[Any]:
        self._out.flush()
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                yield json.loads(line)

    def close(self) -> None:
        if not self._out.closed:
            self._out.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
