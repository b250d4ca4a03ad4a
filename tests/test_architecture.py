"""The house rules that code review alone does not keep: arrows run one way, no module imports
itself back through others, and no module or class grows past the size a reader can hold.

The import graph is read from the source with :mod:`ast`, so it counts every import: at module
level, inside functions and under ``TYPE_CHECKING``. An import of ``pkg.mod`` or ``from pkg
import mod`` is an arrow to that module; ``from pkg import name`` is an arrow to ``pkg``'s
``__init__``. The implicit import of a parent package when a submodule loads is not an arrow.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("ledger", "api", "exhibits", "local_chain", "contracts")
#: Hard limits (the aim, in ../shared/ARCHITECTURE.md, is about 800 and 400).
MAX_MODULE_LINES = 1000
MAX_CLASS_LINES = 600
#: Who may not import whom: ``ledger`` is the core, ``local_chain`` runs the local node only.
FORBIDDEN = {
    "ledger": {"api", "exhibits", "local_chain"},
    "local_chain": {"api", "exhibits"},
    "contracts": {"api", "exhibits", "local_chain"},
}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _owner(name: str, modules: Mapping[str, Path]) -> str | None:
    """The project module that an import of ``name`` loads (None: outside the project)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path, modules: Mapping[str, Path]) -> set[str]:
    targets: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            names = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                for alias in node.names
            ]
        else:
            continue
        targets.update(t for t in (_owner(n, modules) for n in names) if t and t != module)
    return targets


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycles(graph: Mapping[str, set[str]]) -> Iterator[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    yield sorted(component)


def test_the_checker_finds_a_cycle_and_a_clean_graph_has_none() -> None:
    """The cycle finder itself: a three-module loop is found, a chain into it is not part of
    it, and a graph without loops gives nothing."""
    looped = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert list(_cycles(looped)) == [["a", "b", "c"]]
    assert list(_cycles({"a": {"b"}, "b": {"c"}, "c": set()})) == []


def test_the_import_reader_sees_function_local_and_type_checking_imports(
    tmp_path: Path,
) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pkg.b import Thing\n"
        "def f():\n    import pkg.c\n    from pkg import d\n    from . import e\n",
        encoding="utf-8",
    )
    modules = {name: tmp_path for name in ("pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.d", "pkg.e")}
    assert _imports("pkg.a", source, modules) == {"pkg.b", "pkg.c", "pkg.d", "pkg.e"}


def test_no_module_imports_itself_back() -> None:
    assert list(_cycles(_graph())) == []


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_arrows_run_one_way(package: str) -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in _graph().items()
        if module.split(".")[0] == package
        for target in targets
        if target.split(".")[0] in FORBIDDEN[package]
    )
    assert wrong == []


def test_every_module_and_class_stays_readable_whole() -> None:
    too_big: list[str] = []
    for path in _modules().values():
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines > MAX_MODULE_LINES:
            too_big.append(f"{path.relative_to(REPO)}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                length = node.end_lineno - node.lineno + 1
                if length > MAX_CLASS_LINES:
                    too_big.append(f"{path.relative_to(REPO)}: class {node.name}, {length} lines")
    assert too_big == []


def test_no_module_reaches_into_another_objects_private_state() -> None:
    # `index._db`-style reads outside the object's own class bind callers to its storage:
    # they call its public queries instead (ledger.index.queries serves the listing and the API).
    pattern = re.compile(r"\b(?!self\b|cls\b)[A-Za-z_][A-Za-z0-9_]*\._(?:db|conn|connection)\b")
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for package in PACKAGES
        for path in sorted((REPO / package).rglob("*.py"))
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []
