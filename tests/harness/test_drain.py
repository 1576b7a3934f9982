"""Terminate-and-drain and the process readings of ``ServiceProcess``, on the fake service."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from fakes import fake_service

from harness.processes.service import ServiceProcess


def _listening(proc: ServiceProcess) -> Callable[[], bool]:
    """The fake's readiness: it accepts connections while ready, refuses them once draining."""
    host, port = proc.address("tcp").rsplit(":", 1)

    def ready() -> bool:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
        except ConnectionRefusedError:
            return False
        return True

    return ready


def test_a_drain_reports_when_readiness_went_and_when_the_process_exited(tmp_path: Path) -> None:
    # It stays ready half a second after SIGTERM: time for the probe to see it ready on a busy machine.
    proc = fake_service(tmp_path, FAKE_STILL_READY_MS="500", FAKE_DRAIN_MS="300").start()
    drain = proc.terminate_and_drain(_listening(proc), timeout=5)
    assert drain.returncode == 0
    assert not drain.forced
    assert drain.not_ready_after is not None, drain.describe()
    assert drain.exited_after is not None, drain.describe()
    assert 0.5 <= drain.not_ready_after < 2.0, drain.describe()
    assert drain.not_ready_after + 0.3 <= drain.exited_after < 3.5, drain.describe()
    assert drain.probes >= 2, "the probe answered ready at least once before it answered not-ready"
    assert not proc.is_running()
    assert proc.returncode == 0


def test_a_drain_reports_the_exit_code_the_process_chose(tmp_path: Path) -> None:
    proc = fake_service(tmp_path, FAKE_DRAIN_MS="50", FAKE_EXIT_CODE="1").start()
    drain = proc.terminate_and_drain(_listening(proc))
    assert (drain.returncode, drain.forced) == (1, False), drain.describe()
    assert "exit code 1" in drain.describe()


def test_a_process_that_outlives_the_bound_is_stopped_by_force_and_reaped(tmp_path: Path) -> None:
    proc = fake_service(tmp_path, FAKE_MODE="stubborn").start()
    pid = proc.pid
    started = time.monotonic()
    drain = proc.terminate_and_drain(_listening(proc), timeout=0.3)
    assert time.monotonic() - started < 10
    assert drain.forced
    assert drain.exited_after is None
    assert drain.returncode == -signal.SIGKILL
    assert drain.not_ready_after is None, "it never stopped listening"
    assert drain.probes > 0
    assert not psutil.pid_exists(pid), "the process was left behind (or unreaped)"


def test_a_probe_that_gets_no_answer_is_counted_and_never_taken_for_not_ready(tmp_path: Path) -> None:
    proc = fake_service(tmp_path, FAKE_DRAIN_MS="200").start()

    def unreachable() -> bool:
        raise ConnectionRefusedError("no answer")

    drain = proc.terminate_and_drain(unreachable)
    assert drain.not_ready_after is None
    assert drain.probes == 0
    assert drain.probe_errors > 0
    assert drain.exited_after is not None
    assert drain.exited_after >= 0.2


def test_a_paused_process_is_resumed_to_drain(tmp_path: Path) -> None:
    proc = fake_service(tmp_path, FAKE_DRAIN_MS="50").start()
    proc.pause()
    drain = proc.terminate_and_drain()
    assert (drain.returncode, drain.forced, drain.probes) == (0, False, 0), drain.describe()
    assert not proc.paused


def test_a_stopped_process_cannot_be_terminated(tmp_path: Path) -> None:
    proc = fake_service(tmp_path).start()
    proc.stop()
    with pytest.raises(RuntimeError, match="not running"):
        proc.terminate_and_drain()
    with pytest.raises(RuntimeError, match="not running"):
        proc.readings()


def test_readings_follow_the_process_open_connections(tmp_path: Path) -> None:
    with fake_service(tmp_path) as proc:
        before = proc.readings()
        assert before.fds >= 3
        assert before.rss_bytes > 1_000_000
        assert before.threads >= 2, "the fake serves from a thread of its own"
        host, port = proc.address("tcp").rsplit(":", 1)
        held = [socket.create_connection((host, int(port)), timeout=5) for _ in range(6)]
        try:
            for sock in held:  # an echo proves the fake accepted it and runs its thread
                sock.sendall(b"x")
                assert sock.recv(1) == b"x"
            during = proc.readings()
        finally:
            for sock in held:
                sock.close()
        assert during.fds >= before.fds + 6, (before, during)
        assert during.threads >= before.threads + 6, (before, during)
