"""A sample suite for the no-leak tests (run by test_no_leaks.py, never collected
on its own): every test holds a supervised service that has a child process.

LEAK_SCENARIO picks what the tests do: "pass", "fail", or "hang"/"timeout"
(signal the start through a file in LEAK_DIR, then sleep until killed or
until pytest-timeout ends the test).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.process import ServiceProcess
from harness.pytest_plugin import attach_diagnostics, watch_processes

FAKE = Path(__file__).resolve().parents[2] / "fake_service.py"
SCENARIO = os.environ["LEAK_SCENARIO"]
LEAK_DIR = Path(os.environ["LEAK_DIR"])


@pytest.fixture
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServiceProcess]:
    proc = ServiceProcess(
        "fake",
        [sys.executable, str(FAKE)],
        env={"FAKE_MODE": "spawn", "PATH": os.environ["PATH"]},
        workdir=tmp_path,
        ready_env="FAKE_READY_FILE",
    )
    with proc:
        (LEAK_DIR / f"{proc.pid}.addr").write_text(proc.address("tcp"))
        watch_processes(request.node, proc)
        attach_diagnostics(request.node, "fake service log", proc.log_text)
        yield proc


@pytest.mark.parametrize("n", range(4))
def test_sample(service: ServiceProcess, n: int) -> None:
    if SCENARIO == "fail":
        pytest.fail("failing on purpose")
    if SCENARIO in ("hang", "timeout"):
        (LEAK_DIR / f"started-{os.getpid()}-{n}").touch()
        time.sleep(600)
