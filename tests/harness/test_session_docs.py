"""The session list is the sessions' own docstrings (``./noxw -l`` prints each one's first
line, ``./noxw --usage NAME`` the whole): every session has one, its first line a whole
sentence, and a blank line before any detail."""

from __future__ import annotations

import ast

import pytest

from harness.paths import PROJECT_ROOT
from harness.suites.registry import Suite, suites


def _sessions() -> dict[str, str | None]:
    """Every function of the noxfile decorated as a nox session, with its docstring."""
    tree = ast.parse((PROJECT_ROOT / "noxfile.py").read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
            "nox.session" in ast.unparse(d) or "nox.parametrize" in ast.unparse(d) for d in node.decorator_list
        ):
            found[node.name] = ast.get_docstring(node)
    return found


def test_the_noxfile_is_read() -> None:
    assert {"lint", "harness", "regression", "scaffold"} <= set(_sessions())


@pytest.mark.parametrize("name", sorted(_sessions()))
def test_a_session_s_first_line_says_what_it_does_on_its_own(name: str) -> None:
    doc = _sessions()[name]
    assert doc, f"session {name} has no docstring: ./noxw -l would show nothing for it"
    first, *rest = doc.split("\n")
    assert first.endswith("."), f"{name}: {first!r} is cut mid-sentence (nox -l shows only the first line)"
    assert not rest or rest[0] == "", f"{name}: its summary runs on into line two: {rest[0]!r}"


@pytest.mark.parametrize("suite", suites(), ids=lambda s: s.name)
def test_a_suite_session_s_first_line_is_its_package_docstring(suite: Suite) -> None:
    assert suite.description.endswith("."), f"{suite.name}/__init__.py: {suite.description!r}"
