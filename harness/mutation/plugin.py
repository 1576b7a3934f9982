"""The pytest side of :mod:`harness.mutation.runner`, loaded into the test command
through ``PYTEST_PLUGINS``; it does nothing unless the runner's variables
are set.

* :data:`ONLY_ENV` names a file of node ids, one a line: every other test
  is deselected, so the tests that killed a mutant last time run alone. A
  line ``rule:ID`` (:data:`RULE_PREFIX`) keeps every test that names rule
  ``ID`` (``@pytest.mark.rule``): the scenarios that verify the rule a
  mutant breaks. The tests kept run in the order of the lines that keep
  them, then in file order, whatever other plugins sorted (a fail-fast
  run stops at the likeliest killer first).
* :data:`FAILED_ENV` names a file the run's controller writes the node ids
  of its failed tests to as it ends (one a line), so the runner learns
  which test killed a mutant. Under pytest-xdist the controller sees every
  worker's reports; the workers write nothing.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest

__all__ = ["FAILED_ENV", "ONLY_ENV", "RULE_PREFIX"]

ONLY_ENV = "HARNESS_MUTATION_ONLY"
FAILED_ENV = "HARNESS_MUTATION_FAILED"
RULE_PREFIX = "rule:"

_failed: list[str] = []


@pytest.hookimpl(wrapper=True)  # after every other plugin's sorting (a suite's long-tests-first, shards)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Generator[None]:
    collected = {item.nodeid: n for n, item in enumerate(items)}  # file order, before any plugin sorts
    yield
    only_file = os.environ.get(ONLY_ENV)
    if not only_file:
        return
    lines = Path(only_file).read_text().splitlines()
    rank = {line: n for n, line in reversed(list(enumerate(lines)))}

    def first_line(item: pytest.Item) -> int | None:
        """The rank of the first line that keeps ``item``; None when none does."""
        keys = [item.nodeid, *(f"{RULE_PREFIX}{rule}" for m in item.iter_markers("rule") for rule in m.args)]
        return min((rank[key] for key in keys if key in rank), default=None)

    ranks = {item.nodeid: first_line(item) for item in items}
    config.hook.pytest_deselected(items=[item for item in items if ranks[item.nodeid] is None])
    kept = {item: (n, collected.get(item.nodeid, 0)) for item in items if (n := ranks[item.nodeid]) is not None}
    items[:] = sorted(kept, key=kept.__getitem__)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed and report.nodeid not in _failed:
        _failed.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = os.environ.get(FAILED_ENV)
    if out and not hasattr(session.config, "workerinput"):
        Path(out).write_text("".join(f"{nodeid}\n" for nodeid in _failed))
