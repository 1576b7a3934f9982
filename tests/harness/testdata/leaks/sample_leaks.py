"""A sample suite for the no-leak tests (run by test_no_leaks.py, never collected
on its own): every test holds a supervised service that has a child process.

LEAK_SCENARIO picks what the tests do: "pass", "fail", or "hang"/"timeout"
(signal the start through a file in LEAK_DIR, then sleep until killed or
until pytest-timeout ends the test), or "stuck" (after the same signal, the
even tests run a Hypothesis example that hangs, the odd ones sleep past their
deadline and then wait for ever in their teardown). Each worker also runs a fault proxy
(toxiproxy) with a link open, and the first test freezes its service
(SIGSTOP) before it goes on: a paused process must not outlive the run either.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.faults.toxiproxy import ToxiproxyServer
from harness.forensics.failure_report import attach_diagnostics, watch_processes
from harness.processes.service import ServiceProcess

FAKE = Path(__file__).resolve().parents[2] / "fake_service.py"
SCENARIO = os.environ["LEAK_SCENARIO"]
LEAK_DIR = Path(os.environ["LEAK_DIR"])


@pytest.fixture(scope="session")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToxiproxyServer]:
    with ToxiproxyServer(tmp_path_factory.mktemp("toxiproxy")) as server:
        (LEAK_DIR / f"toxiproxy-{server.process.pid}.addr").write_text(server.process.address("api"))
        yield server


@pytest.fixture
def service(request: pytest.FixtureRequest, tmp_path: Path, proxy: ToxiproxyServer) -> Iterator[ServiceProcess]:
    proc = ServiceProcess(
        "fake",
        [sys.executable, str(FAKE)],
        env={"FAKE_MODE": "spawn", "PATH": os.environ["PATH"]},
        workdir=tmp_path,
        ready_env="FAKE_READY_FILE",
    )
    with proc:
        (LEAK_DIR / f"{proc.pid}.addr").write_text(proc.address("tcp"))
        link = proxy.link("sample->fake", proc.address("tcp"))
        (LEAK_DIR / f"link-{proc.pid}.addr").write_text(link.listen)
        watch_processes(request.node, proc)
        attach_diagnostics(request.node, "fake service log", proc.log_text)
        yield proc
        if SCENARIO == "stuck" and request.node.callspec.params["n"] % 2:
            threading.Event().wait()  # a stop that waits on what never comes


@pytest.mark.parametrize("n", range(4))
def test_sample(service: ServiceProcess, n: int) -> None:
    if n == 0:
        service.pause()
    if SCENARIO == "fail":
        pytest.fail("failing on purpose")
    if SCENARIO in ("hang", "timeout", "stuck"):
        (LEAK_DIR / f"started-{os.getpid()}-{n}").touch()
    if SCENARIO == "stuck" and n % 2 == 0:
        _an_example_that_hangs()
    if SCENARIO in ("hang", "timeout", "stuck"):
        time.sleep(600)


@settings(max_examples=5, deadline=None, database=None)
@given(st.integers())
def _an_example_that_hangs(i: int) -> None:
    time.sleep(600)
