"""The shape of the package, read from the modules' own imports (function-level ones too): no cycle; the engine
knows nothing of doors or of the command line; no door imports the command line or another door."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from scanner.cli import COMMANDS

PACKAGE = Path(__file__).resolve().parents[1] / "scanner"
# The way in and what it shares with the doors; the doors and what only they use.
EDGE = {"scanner.cli", "scanner.command"}
DOOR_SIDE = ("scanner.doors", "scanner.outbox")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def graph() -> dict[str, set[str]]:
    """module → the modules of the package it imports."""
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                # `from scanner.doors import icap_protocol` imports the module scanner.doors.icap_protocol
                found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base for a in node.names)
        edges[name] = {m for m in found if m in paths and m != name}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(edges[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def arrows(source: str | tuple[str, ...], target: str | tuple[str, ...]) -> list[str]:
    return sorted(
        f"{a} → {b}" for a, targets in graph().items() if a.startswith(source) for b in targets if b.startswith(target)
    )


def test_the_graph_is_read_from_the_source() -> None:
    assert "scanner.engine" in graph()["scanner.command"]
    assert "scanner.doors.icap_protocol" in graph()["scanner.doors.icap"]  # `from scanner.doors import icap_protocol`


def test_a_cycle_would_be_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_itself_back_through_others() -> None:
    assert cycles(graph()) == []


def test_the_engine_knows_nothing_of_doors_or_the_command_line() -> None:
    engine = [m for m in graph() if m not in EDGE and not m.startswith(DOOR_SIDE)]
    assert "scanner.engine" in engine and "scanner.policy" in engine
    assert [f"{a} → {b}" for a in engine for b in graph()[a] if b in EDGE or b.startswith(DOOR_SIDE)] == []


def test_no_door_imports_the_command_line() -> None:
    assert arrows(DOOR_SIDE, "scanner.cli") == []


def test_no_module_imports_a_door_the_command_line_loads_them_by_name() -> None:
    doors = set(COMMANDS.values())
    assert doors <= set(graph())
    assert sorted(f"{a} → {b}" for a, targets in graph().items() for b in targets if b in doors) == []
