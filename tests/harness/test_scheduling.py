"""Tests marked ``waits``, and those recorded as long, are handed out first (harness/suites/plugin.py)."""

from __future__ import annotations

import json
from pathlib import Path

from scratch_suite import collected

SUITE = """
import pytest

def test_a(): pass

@pytest.mark.waits
def test_b(): pass

def test_c(): pass

@pytest.mark.parametrize("n", [1, pytest.param(2, marks=pytest.mark.waits), 3])
def test_d(n): pass
"""


def _collected(tmp_path: Path, *args: str) -> list[str]:
    (tmp_path / "test_suite.py").write_text(SUITE)
    return [node.split("::", 1)[1] for node in collected(tmp_path, *args, str(tmp_path))]


def test_waiting_tests_come_first_and_the_rest_keep_their_order(tmp_path: Path) -> None:
    assert _collected(tmp_path, "-p", "no:randomly") == [
        "test_b",
        "test_d[2]",
        "test_a",
        "test_c",
        "test_d[1]",
        "test_d[3]",
    ]


def test_under_random_order_the_waiting_tests_still_come_first(tmp_path: Path) -> None:
    orders = set()
    for seed in range(1, 6):
        order = _collected(tmp_path, f"--randomly-seed={seed}")
        assert sorted(order[:2]) == ["test_b", "test_d[2]"], f"seed {seed}: {order}"
        assert sorted(order[2:]) == ["test_a", "test_c", "test_d[1]", "test_d[3]"], f"seed {seed}: {order}"
        orders.add(tuple(order))
    assert len(orders) > 1, "pytest-randomly did not shuffle: the check above proves nothing"


def test_tests_recorded_as_long_come_first_longest_first(tmp_path: Path) -> None:
    durations = {"test_suite.py::test_c": 2.0, "test_suite.py::test_d[3]": 5.0, "test_suite.py::test_a": 0.2}
    (tmp_path / "durations.json").write_text(json.dumps(durations))
    order = _collected(tmp_path, "-p", "no:randomly", "--durations-file=durations.json")
    assert order == ["test_d[3]", "test_c", "test_b", "test_d[2]", "test_a", "test_d[1]"]
