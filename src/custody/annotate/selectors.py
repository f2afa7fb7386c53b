"""The selectors found in the captured text (extract/selectors.py), as an investigator
asks for them: those of a capture or of a case, each with the pages that hold it; and,
to pivot, every page of the archive that holds a given one. Each is a lookup by index in
custody.db's ``selectors`` (computed from the sealed text; verify compares them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.archive import Archive
from ..core.errors import UsageError
from ..extract.selectors import KINDS
from .cases import find_case
from .recording import reading


@dataclass(frozen=True)
class Sighting:
    capture_id: str
    url: str
    document_id: int
    position: int  # of its first sighting in the page's text, in characters
    count: int  # how often the page's text holds it
    shown: str  # as written there first


@dataclass
class Selector:
    kind: str  # email, phone, handle, profile, btc, eth
    value: str  # canonical: what groups its sightings
    pages: list[Sighting] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(s.count for s in self.pages)


_SQL = ("SELECT s.kind, s.value, s.capture_id, d.url, s.document_id, s.position, s.count, "
        "s.shown FROM selectors s JOIN documents d ON d.id = s.document_id")


def _kind(kind: str | None) -> str | None:
    if kind is not None and kind not in KINDS:
        raise UsageError(f"a selector's kind is one of {', '.join(KINDS)}; not {kind!r}")
    return kind


def _grouped(rows: list[Any]) -> list[Selector]:
    found: dict[tuple[str, str], Selector] = {}
    for kind, value, *sighting in rows:
        found.setdefault((kind, value), Selector(kind, value)).pages.append(Sighting(*sighting))
    return list(found.values())


def selectors_of_capture(archive: Archive, capture_id: str, *,
                         kind: str | None = None) -> list[Selector]:
    """The capture's selectors, by kind and value, each with its pages."""
    wanted = _kind(kind)
    with reading(archive) as conn:
        rows = conn.execute(
            f"{_SQL} WHERE s.capture_id = ?" + (" AND s.kind = ?" if wanted else "") +
            " ORDER BY s.kind, s.value, d.url, s.document_id",
            [capture_id, *([wanted] if wanted else [])]).fetchall()
    return _grouped(rows)


def selectors_of_case(archive: Archive, case: str, *,
                      kind: str | None = None) -> list[Selector]:
    """The selectors of every capture in the case, each with the pages (of which captures)
    that hold it."""
    wanted = _kind(kind)
    with reading(archive) as conn:
        case_id = find_case(conn, case).id
        rows = conn.execute(
            f"{_SQL} WHERE s.capture_id IN (SELECT capture_id FROM case_captures WHERE "
            "case_id = ?)" + (" AND s.kind = ?" if wanted else "") +
            " ORDER BY s.kind, s.value, s.capture_id, d.url, s.document_id",
            [case_id, *([wanted] if wanted else [])]).fetchall()
    return _grouped(rows)


def pages_with(archive: Archive, kind: str, value: str) -> Selector:
    """Every page of the archive whose text holds this selector (its canonical value, as
    the others give it), newest capture first."""
    wanted = _kind(kind)
    with reading(archive) as conn:
        rows = conn.execute(
            f"{_SQL} JOIN captures c ON c.id = s.capture_id WHERE s.kind = ? AND s.value = ? "
            "ORDER BY c.started_at DESC, d.url", [wanted, value]).fetchall()
    found = _grouped(rows)
    return found[0] if found else Selector(kind, value)
