"""The shape of custody's source: its packages, their modules, and who imports whom.

The packages are stages of the data flow, in an order: a module may import from its own
package and from those before it, never from one after (so ``capture`` uses ``seal`` and
``index``, and ``verify`` reads what both wrote, but nothing below the command line
imports it). ``testing`` stands apart: custody never imports it. Read with ``ast``; both
module-level imports and those inside functions count.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ORDER = ("core", "warc", "extract", "index", "seal", "store", "capture", "browser", "media",
         "queue", "verify", "check", "ingest", "annotate", "watch", "report", "export", "replay",
         "web", "cli", "testing")


@dataclass
class Layout:
    modules: dict[str, Path] = field(default_factory=dict)  # dotted name -> file
    lines: dict[str, int] = field(default_factory=dict)
    imports: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    private: list[str] = field(default_factory=list)  # private names used across modules

    def package(self, module: str) -> str:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else ""

    def upward(self) -> list[tuple[str, str]]:
        """Imports of a later stage by an earlier one (or of the CLI, or of testing)."""
        rank = {name: i for i, name in enumerate(ORDER)}
        out = []
        for source, targets in self.imports.items():
            here = self.package(source)
            for target in targets:
                there = self.package(target)
                if not there or there == here:
                    continue
                into_testing = there == "testing" and here != "testing"
                later = here != "testing" and rank.get(there, 99) > rank.get(here, -1)
                if into_testing or later:
                    out.append((source, target))
        return sorted(out)

    def cycles(self) -> list[list[str]]:
        """Sets of modules that import one another, round in a circle (Tarjan)."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        found: list[list[str]] = []
        counter = [0]

        def visit(node: str) -> None:
            index[node] = low[node] = counter[0]
            counter[0] += 1
            stack.append(node)
            on_stack.add(node)
            for nxt in self.imports.get(node, ()):
                if nxt not in self.modules:
                    continue
                if nxt not in index:
                    visit(nxt)
                    low[node] = min(low[node], low[nxt])
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))

        for module in sorted(self.modules):
            if module not in index:
                visit(module)
        return found


def read(src: Path) -> Layout:
    """The layout of the package at ``src`` (the folder holding ``__init__.py``)."""
    layout = Layout()
    root = src.name
    for path in sorted(src.rglob("*.py")):
        parts = [root, *path.relative_to(src).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        layout.modules[".".join(parts)] = path
    for name, path in layout.modules.items():
        text = path.read_text(encoding="utf-8")
        layout.lines[name] = text.count("\n")
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(text)
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith(root + ".") or alias.name == root:
                        layout.imports[name].add(alias.name)
                        aliases[(alias.asname or alias.name).split(".")[0]] = alias.name
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(package, node.module, node.level, root)
                if base is None:
                    continue
                for alias in node.names:
                    candidate = f"{base}.{alias.name}"
                    target = candidate if candidate in layout.modules else base
                    layout.imports[name].add(target)
                    if candidate in layout.modules:
                        aliases[alias.asname or alias.name] = candidate
                    elif alias.name.startswith("_") and not alias.name.startswith("__"):
                        layout.private.append(f"{name} imports {base}.{alias.name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in aliases and node.attr.startswith("_") \
                    and not node.attr.startswith("__"):
                layout.private.append(f"{name} uses {aliases[node.value.id]}.{node.attr}")
        layout.imports[name].discard(name)
    return layout


def _resolve(package: str, module: str | None, level: int, root: str) -> str | None:
    if level == 0:
        if module is None or not (module == root or module.startswith(root + ".")):
            return None
        return module
    parts = package.split(".")
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    base = ".".join(parts)
    return f"{base}.{module}" if module else base


def summary(layout: Layout) -> str:
    """Modules and lines per package, the largest module, and what breaks the order."""
    by_package: dict[str, list[str]] = defaultdict(list)
    for module in layout.modules:
        by_package[layout.package(module) or "(top)"].append(module)
    lines = [f"{'package':10} {'modules':>7} {'lines':>6}  largest"]
    for package in ["(top)", *ORDER]:
        members = by_package.get(package, [])
        if not members:
            continue
        largest = max(members, key=lambda m: layout.lines[m])
        total = sum(layout.lines[m] for m in members)
        lines.append(f"{package:10} {len(members):7} {total:6}  {largest.rsplit('.', 1)[-1]} "
                     f"({layout.lines[largest]})")
    edges = sum(len(t) for t in layout.imports.values())
    lines.append(f"\n{len(layout.modules)} modules, {edges} imports between them; "
                 f"upward: {len(layout.upward())}; in circles: {len(layout.cycles())}; "
                 f"private names across modules: {len(layout.private)}")
    lines += [f"  upward: {a} -> {b}" for a, b in layout.upward()]
    lines += [f"  circle: {' -> '.join(c)}" for c in layout.cycles()]
    lines += [f"  private: {p}" for p in layout.private]
    return "\n".join(lines)
