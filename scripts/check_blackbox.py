"""The black-box boundary check: no Python code reaches into a service's internals.

A suite may reach a service only through its binary (built from ``cmd/...``)
and its published contracts. This check fails when any Python file of the
project (outside the Go workspace):

- imports a module named ``galaxy`` or anything below it, or
- names a path into an ``internal`` package: a string literal that is
  ``internal`` or has ``internal`` as a path segment (``galaxy/x/internal/y``).

The build cache hashes the Go workspace as opaque bytes and names no
package, so it passes. Run: ``python scripts/check_blackbox.py [PATH ...]``.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {".git", ".nox", ".venv", ".cache", "galaxy", "node_modules", "reports", "_pb"}
INTERNAL_SEGMENT = re.compile(r"(^|[/\\])internal([/\\]|$)")


def python_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_file() and path.suffix == ".py":
            yield path
        elif path.is_dir():
            for child in sorted(path.iterdir()):
                if child.is_file() and child.suffix == ".py":
                    yield child
                elif child.is_dir() and child.name not in SKIP_DIRS and not child.name.startswith("."):
                    yield from python_files([child])


def violations(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            if name == "galaxy" or name.startswith("galaxy."):
                yield f"{path}:{line}: imports {name!r}: reach services only through binaries and contracts"
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and INTERNAL_SEGMENT.search(node.value):
            yield f"{path}:{line}: names an internal package path {node.value!r}"


def main(argv: list[str]) -> int:
    targets = [Path(a) for a in argv] or [ROOT]
    checked, found = 0, list[str]()
    for path in python_files(targets):
        if path.resolve() == Path(__file__).resolve():
            continue
        checked += 1
        found.extend(violations(path))
    for line in found:
        print(line)
    if found:
        print(f"black-box check: {len(found)} violation(s) in {checked} Python files")
        return 1
    if checked == 0:
        print("black-box check: no Python files found; nothing was checked")
        return 1
    print(f"black-box check: {checked} Python files, none reaches into galaxy/*/internal")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
