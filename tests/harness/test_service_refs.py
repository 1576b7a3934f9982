"""``--service-ref NAME=REF`` and the ``since`` marker (harness/pytest_plugin.py),
against this repository's own history."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.paths import PROJECT_ROOT
from harness.refs import resolve

# A path this module's own change added: absent at any commit before it.
ADDED = "harness/refs.py"
EARLIER = "a3485ef"  # a commit of main from before it

SUITE = f'''
import pytest

@pytest.mark.since("{ADDED}")
def test_newer_behaviour(): pass

def test_older_behaviour(): pass
'''


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_suite.py").write_text(SUITE)
    argv = [sys.executable, "-m", "pytest", "-rs", "-p", "harness.pytest_plugin", "-p", "no:cacheprovider"]
    argv += ["-p", "no:randomly", "--rootdir", str(tmp_path), "-c", os.devnull, *args, str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=False)


def test_a_scenario_for_a_change_the_ref_predates_is_skipped_with_its_reason(tmp_path: Path) -> None:
    resolve(PROJECT_ROOT, EARLIER)  # the history this test reads is there
    done = _run(tmp_path, f"--service-ref=ledger={EARLIER}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 1 skipped" in done.stdout, done.stdout
    assert f"checks behaviour added by {ADDED}, which ledger at {EARLIER}" in done.stdout, done.stdout
    assert f"ledger: {EARLIER}" in done.stdout, "the header says which service is built from which commit"


def test_at_a_ref_that_has_the_change_the_scenario_runs(tmp_path: Path) -> None:
    done = _run(tmp_path, "--service-ref=ledger=HEAD")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout, done.stdout


def test_an_unknown_ref_is_a_usage_error(tmp_path: Path) -> None:
    done = _run(tmp_path, "--service-ref=ledger=no-such-ref")
    assert done.returncode == 4, done.stdout + done.stderr
    assert "'no-such-ref' is not a commit" in done.stderr
