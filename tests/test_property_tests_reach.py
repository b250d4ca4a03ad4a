"""Every property test shows that its examples reach an assertion (tests/reaching.py)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _decorator_names(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    names = []
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Name):
            names.append(target.id)
        elif isinstance(target, ast.Attribute):
            names.append(target.attr)
    return names


def _calls(node: ast.AST, name: str) -> bool:
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name
        for n in ast.walk(node)
    )


def test_every_given_test_is_decorated_with_reaches_and_calls_reached() -> None:
    missing: list[str] = []
    found = 0
    for path in sorted(TESTS.rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            names = _decorator_names(node)
            if "given" not in names:
                continue
            found += 1
            where = f"{path.relative_to(TESTS.parent)}:{node.lineno} {node.name}"
            if "reaches" not in names or names.index("reaches") > names.index("given"):
                missing.append(f"{where}: no @reaches above @given")
            elif not _calls(node, "reached"):
                missing.append(f"{where}: never calls reached()")
    assert found >= 40  # the scan sees the property tests (42 when this was written)
    assert not missing, "\n".join(missing)


def test_a_property_whose_examples_all_return_early_fails() -> None:
    import pytest
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from tests.reaching import reached, reaches

    @reaches(0.5)
    @settings(max_examples=20, database=None, derandomize=True)
    @given(st.integers())
    def returns_early(value: int) -> None:
        if value == value:  # always: the assertion below is never reached
            return
        reached()

    with pytest.raises(AssertionError, match="only 0 of 20 examples reached the assertion"):
        returns_early()

    @reaches(0.5)
    @settings(max_examples=20, database=None, derandomize=True)
    @given(st.integers())
    def half_return_early(value: int) -> None:
        if value % 4 == 0:
            return
        assert value % 4 != 0
        reached()

    half_return_early()  # most examples get there: it passes
