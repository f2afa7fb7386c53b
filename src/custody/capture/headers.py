"""A response's header fields as custody reads them, without loading httpx."""

from __future__ import annotations

from typing import Any


class Headers:
    """A response's header fields, looked up by name in any case, each kept in order and
    as many times as it came (what httpx.Headers gives, without loading httpx: a capture
    records below it, at httpcore's level, and httpx's import is a tenth of a one-page
    capture's time)."""

    def __init__(self, fields: list[tuple[bytes, bytes]] | None = None) -> None:
        raw = list(fields or [])
        encoding = _encoding(raw)
        self._items = [(name.decode(encoding), value.decode(encoding)) for name, value in raw]

    def get(self, name: str, default: Any = None) -> Any:
        """The field's values joined by commas, as HTTP reads repeated fields."""
        found = [value for key, value in self._items if key.lower() == name.lower()]
        return ", ".join(found) if found else default

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return str(value)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(key.lower() == name.lower()
                                             for key, _ in self._items)

    def multi_items(self) -> list[tuple[str, str]]:
        return list(self._items)


def _encoding(fields: list[tuple[bytes, bytes]]) -> str:
    """As httpx reads header bytes: ASCII when they all are, else UTF-8 when they all
    decode as it, else Latin-1 (which decodes any byte)."""
    for encoding in ("ascii", "utf-8"):
        try:
            for name, value in fields:
                name.decode(encoding)
                value.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    return "iso-8859-1"
