"""CI's matrix (harness/suites/ci_matrix.py): one job per session tagged ``ci``, and a
registered suite whose recorded durations pass the registry's budget fanned out into
``--shard K/N`` jobs that .github/workflows/ci.yml passes to the session."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.paths import PROJECT_ROOT
from harness.suites.ci_matrix import jobs

PYPROJECT = """
[tool.galaxy-integration]
suites = ["slow", "quick"]
ci_shard_budget_s = 10
ci_workers = 2
"""


def _session(name: str) -> dict[str, object]:
    return {"session": name, "name": name, "tags": ["ci"]}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    for suite, seconds in (("slow", [20.0, 15.0, 10.0]), ("quick", [1.0])):
        (tmp_path / suite).mkdir()
        durations = {f"{suite}/test_x.py::test_{i}": s for i, s in enumerate(seconds)}
        (tmp_path / suite / "durations.json").write_text(json.dumps(durations))
    return tmp_path


def test_a_suite_over_the_budget_is_fanned_out_into_shards_and_the_rest_are_one_job_each(root: Path) -> None:
    # slow: 45 s recorded over 2 workers is 22.5 s a job, over the 10 s budget: 3 shards.
    listed = jobs([_session("lint"), _session("slow"), _session("quick"), _session("skew(slow:a-at-base)")], root)
    assert listed == [
        {"session": "lint", "args": "", "name": "lint"},
        {"session": "slow", "args": "-- --shard 1/3", "name": "slow 1/3"},
        {"session": "slow", "args": "-- --shard 2/3", "name": "slow 2/3"},
        {"session": "slow", "args": "-- --shard 3/3", "name": "slow 3/3"},
        {"session": "quick", "args": "", "name": "quick"},
        {"session": "skew(slow:a-at-base)", "args": "", "name": "skew(slow:a-at-base)"},
    ]


def test_the_module_prints_the_workflow_s_matrix_for_this_repository() -> None:
    sessions = [_session("lint"), _session("gatewayauthsession")]
    done = subprocess.run(
        [sys.executable, "-m", "harness.suites.ci_matrix"],
        input=json.dumps(sessions), capture_output=True, text=True, cwd=PROJECT_ROOT, check=True, timeout=60,
    )  # fmt: skip
    matrix = json.loads(done.stdout)
    assert [job["session"] for job in matrix["include"]][:1] == ["lint"]
    assert {job["session"] for job in matrix["include"]} == {"lint", "gatewayauthsession"}


def test_the_workflow_runs_each_job_s_session_with_its_arguments() -> None:
    workflow = (PROJECT_ROOT / ".github" / "workflows" / "ci.yml").read_text()
    assert "./noxw -l --json -t ci | python3 -m harness.suites.ci_matrix" in workflow
    assert './noxw -s "${{ matrix.session }}" ${{ matrix.args }}' in workflow
