"""Facts of the machine and the checkout, for the report's header and the sections' goals."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from benchlib.common import ROOT


def run_text(argv: Sequence[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"unknown ({exc})"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory() -> str:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    return "unknown"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def xdist_auto_workers() -> str:
    """How many workers ``-n auto`` starts for a suite: the harness's answer
    (``harness.topology.plugin.suite_workers``: two per CPU, unless
    PYTEST_XDIST_AUTO_NUM_WORKERS says otherwise)."""
    from harness.topology.plugin import suite_workers

    return str(os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS") or suite_workers())


def bytecode_home() -> str:
    """Where this run's Python processes keep their bytecode (``harness.paths.bytecode_env``)."""
    if sys.pycache_prefix:
        return f"under `{sys.pycache_prefix}` (PYTHONPYCACHEPREFIX)"
    if sys.dont_write_bytecode:
        return "not written (PYTHONDONTWRITEBYTECODE): every process compiles again"
    return "beside the sources"


def venv_bytecode() -> str:
    """Whether the dependencies' bytecode is cached (else every process compiles them on import)."""
    import importlib.util

    import grpc

    cached = importlib.util.cache_from_source(grpc.__file__ or "")
    return "yes" if Path(cached).exists() else "no"


def git_commit() -> str:
    commit = run_text(["git", "rev-parse", "--short=12", "HEAD"])
    dirty = run_text(["git", "status", "--porcelain", "--untracked-files=no"])
    return commit + (" (with uncommitted changes)" if dirty and not dirty.startswith("unknown") else "")
