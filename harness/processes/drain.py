"""What a service process does when told to go, and what it holds while it runs:
:meth:`ProcessDrain.terminate_and_drain` sends SIGTERM, as a deployment does, and
reports the drain (:class:`Drain`); :meth:`ProcessDrain.readings` reads its file
descriptors, resident memory and threads (:class:`Readings`)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from harness.processes.errors import describe_returncode

__all__ = ["Drain", "ProcessDrain", "Readings"]


@dataclass(frozen=True)
class Drain:
    """What a process did after SIGTERM (:meth:`ServiceProcess.terminate_and_drain`).

    Times are seconds from the signal. ``not_ready_after``: when the caller's
    readiness probe first answered not-ready (None: no answer said so while the
    process lived, or no probe was given); ``exited_after``: when it exited (None:
    it was still running at the bound and was stopped by force, SIGQUIT then
    SIGKILL); ``returncode``: how it ended (negative: killed by that signal).
    ``probes`` counts the probe's answers, ``probe_errors`` the calls that raised
    instead (a refused connection is no answer)."""

    not_ready_after: float | None
    exited_after: float | None
    returncode: int
    probes: int = 0
    probe_errors: int = 0

    @property
    def forced(self) -> bool:
        """Whether the process outlived the bound and had to be stopped by force."""
        return self.exited_after is None

    def describe(self) -> str:
        ready = "never seen" if self.not_ready_after is None else f"{self.not_ready_after * 1000:.1f} ms"
        exited = "forced" if self.exited_after is None else f"{self.exited_after * 1000:.1f} ms"
        return (
            f"not ready: {ready}, exit: {exited}, {describe_returncode(self.returncode)} "
            f"({self.probes} probe answers, {self.probe_errors} errors)"
        )


@dataclass(frozen=True)
class Readings:
    """A process's resources at one moment: open file descriptors, resident
    memory in bytes and OS threads (a Go binary's threads, not its goroutines)."""

    fds: int
    rss_bytes: int
    threads: int


class _Draining(Protocol):
    name: str
    paused: bool
    stop_timeout: float

    @property
    def pid(self) -> int: ...

    def is_running(self) -> bool: ...

    def halt(self) -> int | None: ...

    def dump_goroutines(self, wait: float = 1.0) -> None: ...

    def _wait_exit(self, timeout: float) -> bool: ...


class ProcessDrain:
    """The drain and the readings of :class:`~harness.processes.service.ServiceProcess`."""

    def readings(self: _Draining) -> Readings:
        """Its open file descriptors, resident memory and threads now (psutil).

        Goroutines cannot be read this way: the services offer no public debug
        surface (no pprof or expvar endpoint), and the only way in from outside,
        SIGQUIT's dump (:meth:`dump_goroutines`), ends the process."""
        import psutil  # off the module's import: most callers never read

        if not self.is_running():
            raise RuntimeError(f"{self.name} is not running ({self!r})")
        proc = psutil.Process(self.pid)
        with proc.oneshot():
            return Readings(fds=proc.num_fds(), rss_bytes=proc.memory_info().rss, threads=proc.num_threads())

    def terminate_and_drain(
        self: _Draining, ready: Callable[[], bool] | None = None, *, timeout: float | None = None, poll: float = 0.002
    ) -> Drain:
        """Send SIGTERM, as a deployment does, and observe the drain (:class:`Drain`).

        ``ready`` is the caller's readiness probe (an HTTP ``/readyz``, a gRPC
        health check: whatever the service offers), asked every ``poll`` seconds
        from a thread of its own until it answers False (not ready) or the process
        exits; it should bound its own wait, and raise when it gets no answer
        (a refused connection), which is counted and asked again. The process gets ``timeout`` seconds
        (default: its ``stop_timeout``) to exit; one still running is stopped as
        :meth:`stop` does (a goroutine dump, then SIGKILL of its group), and
        either way it is reaped: nothing is left running."""
        if not self.is_running():
            raise RuntimeError(f"{self.name} is not running ({self!r})")
        bound = self.stop_timeout if timeout is None else timeout
        done = threading.Event()
        seen: dict[str, float] = {}
        counts = {"answers": 0, "errors": 0}

        def watch() -> None:
            assert ready is not None
            while not done.is_set():
                try:
                    answer = ready()
                except Exception:  # no answer (refused, timed out): only counted
                    counts["errors"] += 1
                else:
                    counts["answers"] += 1
                    if not answer:
                        seen["not_ready"] = time.monotonic()
                        return
                done.wait(poll)

        signalled = time.monotonic()
        os.kill(self.pid, signal.SIGTERM)
        if self.paused:  # a stopped process takes the signal once it runs again
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGCONT)
            self.paused = False
        watcher = threading.Thread(target=watch, name=f"{self.name}-drain-probe", daemon=True)
        if ready is not None:
            watcher.start()
        try:
            exited = self._wait_exit(bound)
            exited_at = time.monotonic()
            if not exited:  # past the bound: a goroutine dump for the record, then the group goes
                self.dump_goroutines()
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.pid, signal.SIGKILL)
        finally:
            done.set()
            returncode = self.halt()  # reaps it (and ends it, should anything above have failed)
        if watcher.is_alive():
            watcher.join(timeout=5.0)  # a probe bounds its own wait; a stuck one is a daemon thread
        assert returncode is not None
        not_ready = seen.get("not_ready")
        return Drain(
            not_ready_after=None if not_ready is None else not_ready - signalled,
            exited_after=exited_at - signalled if exited else None,
            returncode=returncode,
            probes=counts["answers"],
            probe_errors=counts["errors"],
        )
