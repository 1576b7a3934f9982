"""Run pytest, with only the harness's plugin, on a scratch suite in a test's
temporary directory (its own rootdir, no project configuration), as a user
of the plugin would; and the ids of every test of the project (:func:`every_test_id`)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from harness.paths import PROJECT_ROOT
from harness.suites.shards import BAZEL_ENV


def pytest_argv(root: Path, *args: str) -> list[str]:
    """The command line of ``pytest ARGS`` in ``root`` with only the harness plugin."""
    argv = [sys.executable, "-m", "pytest", "-p", "harness.suites.plugin", "-p", "no:cacheprovider"]
    return [*argv, "--rootdir", str(root), "-c", os.devnull, *args]


def run_pytest(
    root: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``pytest ARGS`` in ``root`` with the harness plugin; ``env`` is added to
    this process's environment, with Bazel's sharding variables only if given."""
    argv = pytest_argv(root, *args)
    full_env = {k: v for k, v in os.environ.items() if k not in BAZEL_ENV}
    full_env |= {"PYTHONPATH": str(PROJECT_ROOT), **(env or {})}
    return subprocess.run(argv, capture_output=True, text=True, cwd=root, env=full_env, timeout=timeout, check=False)


def collected(root: Path, *args: str) -> list[str]:
    """The node ids ``pytest --collect-only -q ARGS`` lists, in its order."""
    done = run_pytest(root, "--collect-only", "-q", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return [line for line in done.stdout.splitlines() if "::" in line]


def every_test_id() -> list[str]:
    """The id of every test of the suites and of the harness, as the project's own configuration collects them
    (not the schemathesis ones, which need a dependency group of their own)."""
    argv = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly", "gatewayauthsession", "tests"]
    done = subprocess.run(argv, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False)
    ids = [line for line in done.stdout.splitlines() if "::" in line]
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert len(ids) > 500, f"only {len(ids)} tests collected"
    return ids
