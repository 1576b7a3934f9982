"""``--service-ref NAME=REF`` and the ``since`` marker (harness/suites/plugin.py),
against this repository's own history."""

from __future__ import annotations

import subprocess
from pathlib import Path

from scratch_suite import run_pytest

from harness.builds.refs import resolve
from harness.paths import PROJECT_ROOT

# A path this module's own change added: absent at any commit before it.
ADDED = "harness/builds/refs.py"
EARLIER = "a3485ef"  # a commit of main from before it

SUITE = f'''
import pytest

@pytest.mark.since("{ADDED}")
def test_newer_behaviour(): pass

def test_older_behaviour(): pass
'''


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_suite.py").write_text(SUITE)
    return run_pytest(tmp_path, "-rs", "-p", "no:randomly", *args, str(tmp_path), timeout=120)


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
