"""The house's rooms: packages by stage, imports only from earlier stages, no circles,
no private name used across modules, modules small enough to read in one sitting."""

from __future__ import annotations

from pathlib import Path

from custody.testing.layout import ORDER, read

SRC = Path(__file__).parent.parent / "src" / "custody"
LAYOUT = read(SRC)


def test_every_module_is_in_a_stage_package() -> None:
    loose = [m for m in LAYOUT.modules if m != "custody" and LAYOUT.package(m) not in ORDER]
    assert not loose, loose


def test_no_import_runs_upward() -> None:
    assert LAYOUT.upward() == []


def test_no_imports_in_circles() -> None:
    assert LAYOUT.cycles() == []


def test_no_private_name_crosses_a_module_line() -> None:
    assert LAYOUT.private == []


def test_modules_stay_small() -> None:
    large = {m: n for m, n in LAYOUT.lines.items() if n > 400}
    assert not large, large


def test_the_checker_sees_what_breaks_the_rules(tmp_path: Path) -> None:
    package = tmp_path / "custody"
    for folder in ("core", "cli", "seal"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "core" / "a.py").write_text("from ..seal import b\nfrom ..cli import c\n")
    (package / "seal" / "b.py").write_text("from ..core import a\nx = a._hidden\n")
    (package / "cli" / "c.py").write_text("from ..seal.b import _private\n")
    layout = read(package)
    assert ("custody.core.a", "custody.seal.b") in layout.upward()
    assert ("custody.core.a", "custody.cli.c") in layout.upward()
    assert layout.cycles() == [["custody.cli.c", "custody.core.a", "custody.seal.b"]]
    assert len(layout.private) == 2
