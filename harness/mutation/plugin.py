"""The pytest side of :mod:`harness.mutation.runner`, loaded into the test command
through ``PYTEST_PLUGINS``; it does nothing unless the runner's variables
are set.

* :data:`ONLY_ENV` names a file of node ids, one a line: every other test
  is deselected, so the tests that killed a mutant last time run alone.
* :data:`FAILED_ENV` names a file the run's controller writes the node ids
  of its failed tests to as it ends (one a line), so the runner learns
  which test killed a mutant. Under pytest-xdist the controller sees every
  worker's reports; the workers write nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["FAILED_ENV", "ONLY_ENV"]

ONLY_ENV = "HARNESS_MUTATION_ONLY"
FAILED_ENV = "HARNESS_MUTATION_FAILED"

_failed: list[str] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    only_file = os.environ.get(ONLY_ENV)
    if not only_file:
        return
    wanted = set(Path(only_file).read_text().splitlines())
    kept = [item for item in items if item.nodeid in wanted]
    config.hook.pytest_deselected(items=[item for item in items if item.nodeid not in wanted])
    items[:] = kept


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed and report.nodeid not in _failed:
        _failed.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = os.environ.get(FAILED_ENV)
    if out and not hasattr(session.config, "workerinput"):
        Path(out).write_text("".join(f"{nodeid}\n" for nodeid in _failed))
