"""The pytest side of :mod:`harness.mutation.runner`, loaded into the test command
through ``PYTEST_PLUGINS``; it does nothing unless the runner's variables
are set.

* :data:`ONLY_ENV` names a file of node ids, one a line: every other test
  is deselected, so the tests that killed a mutant last time run alone. A
  line ``rule:ID`` (:data:`RULE_PREFIX`) keeps every test that names rule
  ``ID`` (``@pytest.mark.rule``): the scenarios that verify the rule a
  mutant breaks.
* :data:`FAILED_ENV` names a file the run's controller writes the node ids
  of its failed tests to as it ends (one a line), so the runner learns
  which test killed a mutant. Under pytest-xdist the controller sees every
  worker's reports; the workers write nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["FAILED_ENV", "ONLY_ENV", "RULE_PREFIX"]

ONLY_ENV = "HARNESS_MUTATION_ONLY"
FAILED_ENV = "HARNESS_MUTATION_FAILED"
RULE_PREFIX = "rule:"

_failed: list[str] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    only_file = os.environ.get(ONLY_ENV)
    if not only_file:
        return
    lines = Path(only_file).read_text().splitlines()
    rules = {line.removeprefix(RULE_PREFIX) for line in lines if line.startswith(RULE_PREFIX)}
    wanted = set(lines)

    def kept(item: pytest.Item) -> bool:
        return item.nodeid in wanted or any(set(m.args) & rules for m in item.iter_markers("rule"))

    config.hook.pytest_deselected(items=[item for item in items if not kept(item)])
    items[:] = [item for item in items if kept(item)]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed and report.nodeid not in _failed:
        _failed.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = os.environ.get(FAILED_ENV)
    if out and not hasattr(session.config, "workerinput"):
        Path(out).write_text("".join(f"{nodeid}\n" for nodeid in _failed))
