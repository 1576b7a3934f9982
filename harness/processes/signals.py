"""Faults a service process takes from outside, as signals to its process
group: frozen (SIGSTOP, until SIGCONT), killed (SIGKILL, as a crash)."""

from __future__ import annotations

import os
import signal
import time
from typing import Protocol

from harness.processes.errors import ProcessError
from harness.processes.launch import all_threads_stopped

__all__ = ["ProcessSignals"]


class _Supervised(Protocol):
    name: str
    argv: list[str]
    paused: bool

    @property
    def pid(self) -> int: ...

    def is_running(self) -> bool: ...

    def halt(self) -> int | None: ...

    def log_tail(self, lines: int = 40) -> str: ...


def _signal_group(process: _Supervised, sig: signal.Signals) -> None:
    if not process.is_running():
        raise RuntimeError(f"{process.name} is not running ({process!r})")
    os.killpg(process.pid, sig)


class ProcessSignals:
    """The signal faults of :class:`~harness.processes.service.ServiceProcess`."""

    def pause(self: _Supervised, timeout: float = 5.0) -> None:
        """Freeze the process and its group (SIGSTOP): it holds its sockets
        open and answers nothing, like a hung peer, until :meth:`resume`.

        Returns once every thread of the process has stopped: the signal
        takes effect asynchronously, and on a busy machine a thread already
        running can serve a request in the meantime."""
        _signal_group(self, signal.SIGSTOP)
        self.paused = True
        deadline = time.monotonic() + timeout
        while not all_threads_stopped(self.pid):
            if time.monotonic() >= deadline:
                raise ProcessError(
                    f"{self.name} was not stopped {timeout:.1f}s after SIGSTOP",
                    name=self.name,
                    argv=self.argv,
                    log_tail=self.log_tail(),
                )
            time.sleep(0.0002)

    def resume(self: _Supervised) -> None:
        """Let a paused process run again (SIGCONT)."""
        _signal_group(self, signal.SIGCONT)
        self.paused = False

    def kill(self: _Supervised) -> int:
        """Kill the process group at once (SIGKILL), as a crash would; returns the exit code."""
        _signal_group(self, signal.SIGKILL)
        self.paused = False
        code = self.halt()
        assert code is not None
        return code
