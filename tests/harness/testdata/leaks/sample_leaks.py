"""A sample suite for the no-leak tests (run by test_no_leaks.py, never collected
on its own): every test holds a supervised service that has a child process.

LEAK_SCENARIO picks what the tests do: "pass", "fail" or "hang" (signal the
start through a file in LEAK_DIR, then sleep until killed).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.process import ServiceProcess

FAKE = Path(__file__).resolve().parents[2] / "fake_service.py"
SCENARIO = os.environ["LEAK_SCENARIO"]
LEAK_DIR = Path(os.environ["LEAK_DIR"])


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ServiceProcess]:
    proc = ServiceProcess(
        "fake",
        [sys.executable, str(FAKE)],
        env={"FAKE_MODE": "spawn", "PATH": os.environ["PATH"]},
        workdir=tmp_path,
        ready_env="FAKE_READY_FILE",
    )
    with proc:
        (LEAK_DIR / f"{proc.pid}.addr").write_text(proc.address("tcp"))
        yield proc


@pytest.mark.parametrize("n", range(4))
def test_sample(service: ServiceProcess, n: int) -> None:
    if SCENARIO == "fail":
        pytest.fail("failing on purpose")
    if SCENARIO == "hang":
        (LEAK_DIR / f"started-{os.getpid()}-{n}").touch()
        time.sleep(600)
