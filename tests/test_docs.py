"""The documentation site: it builds without a warning, every page is in its navigation,
and its command reference -- generated from the code -- has every command and option,
each with its help."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from custody.cli import main

ROOT = Path(__file__).parent.parent


def commands() -> dict[str, click.Command]:
    context = click.Context(main)
    found: dict[str, click.Command] = {}

    def walk(group: click.Group, prefix: str) -> None:
        for name in group.list_commands(context):
            command = group.get_command(context, name)
            assert command is not None, prefix + name
            found[prefix + name] = command
            if isinstance(command, click.Group):
                walk(command, prefix + name + " ")

    walk(main, "")
    return found


def test_every_command_and_option_says_what_it_does() -> None:
    for name, command in commands().items():
        assert (command.help or command.short_help or "").strip(), name
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert (param.help or "").strip(), f"custody {name} {param.opts[0]}"


def _pages(nav: Any) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [p for value in nav.values() for p in _pages(value)]
    return [p for item in nav for p in _pages(item)]


def test_every_page_is_in_the_navigation() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    listed = set(_pages(config["nav"]))
    pages = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")}
    assert pages == listed


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    mkdocs = Path(sys.executable).with_name("mkdocs")
    built = subprocess.run([str(mkdocs), "build", "--strict", "--quiet", "--site-dir",
                            str(out)], cwd=ROOT, capture_output=True, text=True,
                           env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    assert built.returncode == 0, built.stderr  # strict: a broken link or page fails it
    return out


def test_the_reference_has_every_command_and_option(site: Path) -> None:
    reference = (site / "reference" / "cli" / "index.html").read_text()
    anchors = re.findall(r'<h\d id="([^"]+)"', reference)
    for name, command in commands().items():
        anchor = "custody-" + name.replace(" ", "-")
        assert anchor in anchors, name
        start = reference.index(f'id="{anchor}"')
        following = [reference.index(f'id="{a}"') for a in anchors
                     if reference.index(f'id="{a}"') > start]
        section = reference[start:min(following, default=len(reference))]
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert param.opts[-1] in section, f"custody {name} {param.opts[-1]}"
