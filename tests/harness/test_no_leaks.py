"""No service process and no port of theirs outlives a run: after a normal
run, a failing test, SIGINT, or SIGKILL of an xdist worker or of pytest; and a
failing run ends, within a few of its tests' deadlines."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.processes.sweep import HARNESS_TAG_ENV, run_processes

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = Path(__file__).with_name("testdata") / "leaks" / "sample_leaks.py"


AT_A_TERMINAL = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)
"""Runs the rest of its arguments with SIGINT as a terminal's foreground job has it. A job a script starts in the
background (``cmd &``, as CI runners and wrappers do) has SIGINT ignored, which every process it starts inherits,
and Python then never turns SIGINT into KeyboardInterrupt: the sample run could not be interrupted at all."""


class Run:
    """pytest on the sample suite, in its own process group."""

    def __init__(self, tmp_path: Path, scenario: str, *args: str) -> None:
        self.dir = tmp_path
        env = {k: v for k, v in os.environ.items() if k != HARNESS_TAG_ENV}
        # PYTHONFAULTHANDLER: a run that does not end is asked, with SIGABRT, where each of its threads is.
        env |= {"LEAK_SCENARIO": scenario, "LEAK_DIR": str(tmp_path), "PYTHONFAULTHANDLER": "1"}
        cmd = [sys.executable, "-c", AT_A_TERMINAL, "-m", "pytest", str(SAMPLE), "-q", "-p", "no:cacheprovider"]
        cmd += ["--timeout=0", *args]
        # a later --timeout in args wins over the default 0 (no timeout)
        self.junit = tmp_path / "junit.xml"
        cmd.append(f"--junitxml={self.junit}")
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait(self, timeout: float = 60) -> int:
        """The run's exit code, once it ended within ``timeout``; else a failure that says what each of its
        processes was doing (their states, and every Python thread's stack, dumped on SIGABRT)."""
        try:
            self.output = self.proc.communicate(timeout=timeout)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the sample run did not end within {timeout:.0f}s:\n{self._where()}") from None
        return self.proc.returncode

    def _where(self) -> str:
        """What each process of a run that does not end is doing; the run is then ended."""
        try:
            tree = [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.Error:
            tree = []
        states = []
        for p in tree:
            with contextlib.suppress(psutil.Error):
                states.append(f"  {p.pid} {p.status()} {' '.join(p.cmdline())[:160]}")
        for p in tree:
            with contextlib.suppress(psutil.Error):
                if "python" in p.name():
                    p.send_signal(signal.SIGABRT)
        try:
            output = self.proc.communicate(timeout=10)[0]
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            output = self.proc.communicate()[0]
        return "\n".join(["processes:", *states, "output:", output.decode(errors="replace")[-20000:]])

    def wait_started(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(list(self.dir.glob("started-*"))) < count:
            assert time.monotonic() < deadline, "the sample tests never started"
            time.sleep(0.01)

    def tagged(self) -> list[psutil.Process]:
        """Processes tagged with this run (whose owner is the pytest process)."""
        return run_processes(self.proc.pid)

    def addresses(self) -> list[str]:
        return [f.read_text() for f in self.dir.glob("*.addr")]

    def assert_nothing_left(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while (left := self.tagged()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not left, f"processes left behind: {[(p.pid, p.cmdline()) for p in left]}"
        assert self.addresses(), "the sample services never started"
        for addr in self.addresses():
            host, port = addr.rsplit(":", 1)
            with socket.socket() as s:
                try:
                    s.connect((host, int(port)))
                except ConnectionRefusedError:
                    continue
            strangers = self.listeners(int(port))
            assert not strangers, f"{addr} is still served after the run, by {strangers}"

    @staticmethod
    def listeners(port: int) -> list[tuple[int, list[str]]]:
        """The processes listening on ``port``, but for this test run's own
        (tagged with its id): the sample run freed the port, and a proxy of
        this run may have been given it since. Anything else, an untagged
        leftover included, is a leak."""
        outer = os.environ.get(HARNESS_TAG_ENV)
        found = []
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.laddr.port != port or conn.pid is None:
                continue
            try:
                proc = psutil.Process(conn.pid)
                if outer is not None and proc.environ().get(HARNESS_TAG_ENV) == outer:
                    continue
                found.append((proc.pid, proc.cmdline()))
            except psutil.Error:
                continue
        return found


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    started: list[Run] = []
    yield started
    for run in started:  # never leave a stray sample run behind, whatever happened
        if run.proc.poll() is None:
            os.killpg(run.proc.pid, signal.SIGKILL)
        if run.proc.stdout is not None and not run.proc.stdout.closed:
            run.proc.communicate()  # reaps it and closes its pipe, which a run that did not end left open
        run.proc.wait()
        for p in run.tagged():
            p.kill()


def test_nothing_is_left_after_a_normal_run(tmp_path: Path, runs: list[Run]) -> None:
    runs.append(run := Run(tmp_path, "pass", "-n", "2"))
    assert run.wait() == 0
    run.assert_nothing_left(timeout=0)


def test_nothing_is_left_after_failing_tests(tmp_path: Path, runs: list[Run]) -> None:
    runs.append(run := Run(tmp_path, "fail", "-n", "2"))
    assert run.wait() == 1
    run.assert_nothing_left(timeout=0)


def test_nothing_is_left_after_ctrl_c(tmp_path: Path, runs: list[Run]) -> None:
    runs.append(run := Run(tmp_path, "hang", "-n", "2"))
    run.wait_started(2)
    os.killpg(run.proc.pid, signal.SIGINT)  # what a terminal does: the whole foreground group
    assert run.wait() != 0
    run.assert_nothing_left()


def test_nothing_is_left_after_sigint_to_pytest_alone(tmp_path: Path, runs: list[Run]) -> None:
    runs.append(run := Run(tmp_path, "hang"))
    run.wait_started(1)
    run.proc.send_signal(signal.SIGINT)
    assert run.wait() != 0
    run.assert_nothing_left()


def test_nothing_is_left_after_an_xdist_worker_is_killed(tmp_path: Path, runs: list[Run]) -> None:
    runs.append(run := Run(tmp_path, "hang", "-n", "2"))
    run.wait_started(2)
    worker = next(p for p in psutil.Process(run.proc.pid).children() if "python" in p.name())
    worker.kill()
    deadline = time.monotonic() + 10
    while any(p.ppid() == worker.pid for p in run.tagged()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in run.tagged() if p.ppid() == worker.pid], "the killed worker's service outlived it"
    os.killpg(run.proc.pid, signal.SIGINT)
    run.wait()
    run.assert_nothing_left()


def test_nothing_is_left_after_pytest_itself_is_killed(tmp_path: Path, runs: list[Run]) -> None:
    runs.append(run := Run(tmp_path, "hang", "-n", "2"))
    run.wait_started(2)
    run.proc.kill()  # the controller only; its workers and their services must not linger
    run.wait()
    run.assert_nothing_left(timeout=15)


def test_a_test_that_times_out_gets_a_goroutine_dump_in_its_report(tmp_path: Path, runs: list[Run]) -> None:
    runs.append(run := Run(tmp_path, "timeout", "-k", "test_sample[0]", "--timeout=2"))
    assert run.wait() == 1
    assert "Timeout" in run.output
    assert "fake service log" in run.output, "the service log was not attached to the failure"
    assert "fake dump on SIGQUIT" in run.output, "no goroutine dump was asked for before the logs were read"
    assert "fake dump on SIGQUIT" in run.junit.read_text(), "the JUnit XML lacks the dump"
    run.assert_nothing_left()


RUN_BOUND_S = 60
"""Two deadlines of 3 s, and room for a loaded machine to stop the services and the workers."""


@pytest.mark.timeout(240)  # the nested run's start-up and its bound
def test_a_run_stopping_at_its_failures_ends_within_its_deadlines_and_leaves_nothing(
    tmp_path: Path, runs: list[Run]
) -> None:
    """Two failures under ``-x -n 2``: a Hypothesis example that hangs (Hypothesis
    takes pytest's failures for failing examples and replays them) and a test that
    times out, then hangs in its teardown. Each test is failed within two of its
    deadlines, the run ends and nothing it started is left."""
    timeout = 3
    only = "test_sample[0] or test_sample[1]"
    runs.append(run := Run(tmp_path, "stuck", "-x", "-n", "2", f"--timeout={timeout}", "-p", "no:randomly", "-k", only))
    run.wait_started(2, timeout=60)
    started = time.monotonic()
    try:
        code = run.wait(timeout=RUN_BOUND_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the run was still going {RUN_BOUND_S}s after its tests started", pytrace=False)
    took = time.monotonic() - started
    assert code == pytest.ExitCode.INTERRUPTED, run.output  # xdist stopping at the first failures
    assert took < RUN_BOUND_S, f"the run took {took:.1f}s after its tests started:\n{run.output}"
    assert "TestTimedOut: Timeout (>3.0s) from pytest-timeout." in run.output, run.output  # the example
    assert f"Still running {float(timeout)}s after it." in run.output, run.output  # the teardown
    run.assert_nothing_left()
