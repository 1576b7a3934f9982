"""Shards (harness/suites/shards.py, ``--shard K/N`` and Bazel's protocol) add up
to the whole suite, each test exactly once, whatever the order of each run."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from scratch_suite import collected, run_pytest

from harness.paths import PROJECT_ROOT
from harness.suites.shards import bazel_shard, parse_shard, plan

SUITE = """
import pytest

@pytest.mark.parametrize("n", range(12))
def test_many(n): pass

def test_slow(): pass

def test_new(): pass

class TestGroup:
    def test_a(self): pass
    def test_b(self): pass
"""


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    (tmp_path / "test_suite.py").write_text(SUITE)
    durations = {f"test_suite.py::test_many[{n}]": 0.1 * (n + 1) for n in range(12)}
    durations |= {"test_suite.py::test_slow": 3.0, "test_suite.py::TestGroup::test_a": 0.5}  # test_new: not recorded
    (tmp_path / "durations.json").write_text(json.dumps(durations))
    return tmp_path


@pytest.mark.parametrize("total", [2, 3, 4])
def test_the_shards_add_up_to_the_suite_each_test_once_whatever_the_order(suite: Path, total: int) -> None:
    everything = collected(suite, "-p", "no:randomly", str(suite))
    shards = [
        collected(suite, f"--shard={k}/{total}", "--durations-file=durations.json", f"--randomly-seed={k}", str(suite))
        for k in range(1, total + 1)
    ]
    seen = [test for shard in shards for test in shard]
    assert sorted(seen) == sorted(everything), "every test in exactly one shard"
    assert all(shards), f"an empty shard: {shards}"


def test_the_plan_is_the_same_in_any_order_and_balances_by_duration() -> None:
    durations = {"a": 4.0, "b": 3.0, "c": 2.0, "d": 2.0, "e": 1.0}
    one = plan(list(durations), 2, durations)
    other = plan(list(reversed(durations)), 2, durations)
    assert one == other
    assert sorted(one.loads) == [6.0, 6.0]
    assert one.imbalance == 1.0
    assert plan(["x", "y"], 2, {}).loads == [0.1, 0.1], "with nothing recorded every test counts the same"


def test_bazels_sharding_protocol_is_honoured(suite: Path) -> None:
    status, xml = suite / "shard-status", suite / "out" / "test.xml"
    env = {"TEST_TOTAL_SHARDS": "2", "TEST_SHARD_INDEX": "1", "TEST_SHARD_STATUS_FILE": str(status)}
    done = run_pytest(
        suite, "-q", "--durations-file=durations.json", str(suite), env={**env, "XML_OUTPUT_FILE": str(xml)}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert status.exists(), "the status file tells Bazel the runner shards"
    cases = {f"{c.get('classname')}.{c.get('name')}" for c in ET.parse(xml).getroot().iter("testcase")}  # noqa: S314
    second = collected(suite, "--shard=2/2", "--durations-file=durations.json", str(suite))
    assert len(cases) == len(second), (cases, second)
    assert "shard 2/2" in run_pytest(suite, "--collect-only", str(suite), env=env).stdout


def test_durations_are_recorded_for_the_next_plan(suite: Path) -> None:
    target = suite / "recorded.json"
    done = run_pytest(suite, "-q", "--record-durations", f"--durations-file={target}", str(suite))
    assert done.returncode == 0, done.stdout + done.stderr
    recorded = json.loads(target.read_text())
    assert "test_suite.py::test_new" in recorded
    assert len(recorded) == 16


def test_a_bad_shard_is_a_usage_error(suite: Path) -> None:
    done = run_pytest(suite, "--shard=3/2", str(suite))
    assert done.returncode == 4
    assert "want K/N" in done.stderr
    with pytest.raises(ValueError, match="outside"):
        bazel_shard({"TEST_TOTAL_SHARDS": "2", "TEST_SHARD_INDEX": "2"})
    assert parse_shard("1/1") == (1, 1)


@pytest.mark.parametrize("total", [2, 4])
def test_the_boundary_suites_shards_add_up_to_it(total: int) -> None:
    where = str(PROJECT_ROOT / "gatewayauthsession")
    argv = ["--collect-only", "-q", "-p", "no:randomly", where]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *argv], capture_output=True, text=True, cwd=PROJECT_ROOT, check=False
    )
    everything = [line for line in done.stdout.splitlines() if "::" in line]
    assert len(everything) > 100, done.stdout[-2000:] + done.stderr
    seen = []
    for k in range(1, total + 1):
        shard_argv = ["--collect-only", "-q", f"--shard={k}/{total}", f"--randomly-seed={k}", where]
        run = subprocess.run(
            [sys.executable, "-m", "pytest", *shard_argv], capture_output=True, text=True, cwd=PROJECT_ROOT, check=False
        )
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr
        seen += [line for line in run.stdout.splitlines() if "::" in line]
    assert sorted(seen) == sorted(everything)
