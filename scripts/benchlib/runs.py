"""Timed child runs (pytest, nox, bare interpreters) and the binaries built before them."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchlib.common import ROOT, SERVICES, say

if TYPE_CHECKING:  # imported at run time only once sys.path holds the project root
    from harness.builds.binary import Binary

_PYTEST_SUMMARY = re.compile(r"^=*\s*(?P<summary>.*?)\s+in (?P<secs>\d+(?:\.\d+)?)s\b")


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child run: without this process's harness run tag, so every
    pytest run owns (and sweeps) its own processes."""
    from harness.processes.sweep import HARNESS_TAG_ENV

    env = {k: v for k, v in os.environ.items() if k != HARNESS_TAG_ENV}
    env.update(extra)
    return env


@dataclass(frozen=True)
class Run:
    wall: float
    returncode: int
    summary: str  # pytest's last line, e.g. "116 passed"
    pytest_seconds: float | None  # pytest's own "in X.XXs"
    output: str
    cpu: float = 0.0  # user + system seconds of the whole process tree (every process it waited for)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_timed(argv: Sequence[str], env: dict[str, str] | None = None) -> Run:
    cpu_before = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, env=env or child_env(), capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    output = proc.stdout + proc.stderr
    summary, pytest_seconds = "", None
    for line in reversed(output.splitlines()):
        match = _PYTEST_SUMMARY.match(line.strip())
        if match and re.search(r"\b(passed|failed|error|errors|skipped|deselected|no tests ran)\b", line):
            summary, pytest_seconds = match["summary"], float(match["secs"])
            break
    return Run(wall, proc.returncode, summary or f"exit code {proc.returncode}", pytest_seconds, output, cpu)


def show_run(label: str, run: Run) -> None:
    own = f", pytest says {run.pytest_seconds:.2f}s" if run.pytest_seconds is not None else ""
    say(f"  {label}: {run.wall:.2f}s wall ({run.summary}{own})")
    if run.returncode != 0:
        tail = "\n".join(run.output.splitlines()[-15:])
        say(f"  {label} exited with {run.returncode}; output tail:\n{tail}")


def prebuild() -> None:
    """Build (or find) the binaries before a timed run, so that a source changed meanwhile
    is not built inside the run; a failure is left for the run itself to report."""
    from harness.builds.binary import build

    with contextlib.suppress(Exception):
        for service in SERVICES:
            build(service)


def pytest_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", *args]


def summaries(runs: Sequence[Run]) -> str:
    distinct = sorted({r.summary for r in runs})
    return "; ".join(distinct)


def failed_note(count: int) -> str:
    return f" — **{count} run(s) failed**" if count else ""


def service_binaries() -> dict[str, Binary]:
    from harness.builds.binary import build

    return {service: build(service) for service in SERVICES}
