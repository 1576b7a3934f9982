"""Test ids given without their suite's folder: found, or named, at once.

pytest reads a test id relative to where it runs. In the project's root,
``test_login.py::test_x`` names nothing (the test is
``gatewayauthsession/test_login.py::test_x``): a run without xdist says "file or
directory not found", one under xdist ends on "no tests ran" once its workers have
collected nothing. :func:`resolve` looks the file up in the folders the run takes its
tests from: found in exactly one, the id is read as that one; found in several, or in
none, one line names what there is (the nearest file names, when none has that name).
A test name the file does not define is named with the nearest ones, at once, where
xdist would end on "no tests ran" too.

* :func:`suite_args` — a nox session's pytest arguments for a suite's folder: the folder
  and the session's arguments, or, when these name tests of the suite (with or without
  its folder, as a failure bundle's rerun.sh does), only those, resolved.
* as a pytest plugin (``-p harness.suites.testids``, in pyproject's ``addopts``) — the
  same for a pytest run's own arguments, looked up under its ``testpaths``, before pytest
  loads the conftests of the folders its arguments name; the header says what was read.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.suites.hints import closest

if TYPE_CHECKING:
    import pytest

__all__ = ["TestIdError", "resolve", "suite_args"]

# pytest's options whose value is the next argument and may end in .py: that value is no test id.
_TAKES_A_VALUE = frozenset(
    {"-k", "-m", "-p", "-n", "-o", "-c", "--ignore", "--ignore-glob", "--deselect", "--rootdir", "--confcutdir"}
)


class TestIdError(ValueError):
    """A test id whose file is in none, or in more than one, of the folders looked in; its message is one line."""

    __test__ = False  # a name pytest would otherwise collect


def _file_of(arg: str) -> str | None:
    """The file of test id or test file ``arg`` (``x.py``, ``dir/x.py::test[param]``); None for anything else."""
    path = arg.split("::", 1)[0]
    return path if path.endswith(".py") and not arg.startswith("-") else None


def resolve(arg: str, folders: Iterable[Path], here: Path) -> str:
    """``arg`` as pytest run in ``here`` finds it: as given when it is no test id or its file is there, else
    under the one of ``folders`` that holds its file; a :class:`TestIdError` when none or several do, or when
    the file has no test of the id's name (:func:`_check_name`)."""
    path = _file_of(arg)
    if path is None:
        return arg
    rest = arg[len(path) :]
    if (here / path).exists():
        _check_name(arg, here / path, rest)
        return arg
    folders = list(folders)
    files = sorted({os.path.relpath(f, here) for folder in folders for f in folder.rglob("*.py")})
    found = [file for file in files if f"/{file}".endswith(f"/{path}")]
    if len(found) == 1:
        _check_name(arg, here / found[0], rest)
        return found[0] + rest
    if found:
        raise TestIdError(f"{arg}: no such file in {here}; it is {' or '.join(f + rest for f in found)}: give one")
    by_stem: dict[str, list[str]] = {}  # compared without the "test_" every test file starts with
    for file in files:
        by_stem.setdefault(Path(file).stem.removeprefix("test_"), []).append(file)
    near = [file for stem in closest(Path(path).stem.removeprefix("test_"), by_stem) for file in by_stem[stem]]
    where = ", ".join(os.path.relpath(folder, here) for folder in folders)
    said = f"did you mean {' or '.join(near)}?" if near else "pytest --collect-only -q lists the tests"
    raise TestIdError(f"{arg}: no file {path} in {here} nor under {where}; {said}")


def _check_name(arg: str, file: Path, rest: str) -> None:
    """The test (or class) an id names after its file (``::test_x[param]``, ``::TestX::test_y``) is defined at the
    top of ``file``, as a function, a class, or a name bound there (a generated ``TestCase``); else a
    :class:`TestIdError` naming the nearest tests. Under xdist, pytest would end on "no tests ran" instead."""
    name = rest.removeprefix("::").split("::", 1)[0].split("[", 1)[0]
    if not name:
        return
    try:
        tree = ast.parse(file.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return  # pytest will say what is wrong with the file
    defined: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined |= {target.id for target in targets if isinstance(target, ast.Name)}
    if name in defined:
        return
    near = closest(name, [n for n in defined if n.lower().startswith("test")])
    said = f"did you mean {' or '.join(near)}?" if near else "pytest --collect-only -q lists its tests"
    raise TestIdError(f"{arg}: {file.name} has no test {name}; {said}")


def _test_args(args: Sequence[str]) -> list[int]:
    """The positions in pytest arguments ``args`` of the test ids and files (not an option's value)."""
    return [
        i for i, arg in enumerate(args) if _file_of(arg) is not None and not (i > 0 and args[i - 1] in _TAKES_A_VALUE)
    ]


def suite_args(args: Sequence[str], suites: Sequence[str], root: Path) -> list[str]:
    """pytest's arguments for the suites in folders ``suites`` (relative to ``root``, where pytest runs) given a
    session's ``args``: ``[*suites, *args]``, or, when ``args`` name tests in the suites' folders (with or without
    them), ``args`` alone, each test id resolved (:func:`resolve`)."""
    folders = [(root / suite).resolve() for suite in suites]
    resolved = list(args)
    named = False
    for i in _test_args(args):
        resolved[i] = resolve(args[i], folders, root)
        found = (root / resolved[i].split("::", 1)[0]).resolve()
        named = named or any(found.is_relative_to(folder) for folder in folders)
    return resolved if named else [*suites, *resolved]


def _read_as(config: pytest.Config, args: Sequence[str]) -> Iterator[tuple[int, str]]:
    """Each test id of pytest arguments ``args`` that a run of ``config`` reads otherwise: its position and how it
    is read, looked up under the run's ``testpaths``."""
    from harness.suites.registry import suites

    here = config.invocation_params.dir
    folders = [config.rootpath / p for p in config.getini("testpaths")]
    folders += [s.path for s in suites(config.rootpath) if s.path not in folders]
    for i in _test_args(args):
        if (found := resolve(args[i], folders, here)) != args[i]:
            yield i, found


def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """A pytest run's test ids resolved under its ``testpaths`` (in ``args``, in place), before pytest loads the
    conftests of the folders they name; an id found nowhere, or in several folders, is a usage error of one line."""
    import pytest

    positional: list[str] = early_config.known_args_namespace.file_or_dir
    try:
        for i, found in list(_read_as(early_config, args)):
            if args[i] in positional:
                positional[positional.index(args[i])] = found
            args[i] = found
    except TestIdError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_report_header(config: pytest.Config) -> list[str]:
    args = config.invocation_params.args
    return [f"{args[i]} read as {found}" for i, found in _read_as(config, args)]
