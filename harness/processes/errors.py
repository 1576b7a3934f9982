"""What can go wrong with a service process, as typed errors that carry its
command line and the tail of its log; and how an exit reads."""

from __future__ import annotations

import signal
from collections.abc import Sequence

__all__ = ["ProcessError", "ProcessExitedEarly", "ReadinessTimeout", "data_races", "describe_returncode"]


class ProcessError(RuntimeError):
    """A service process misbehaved; carries its command line and log tail."""

    def __init__(self, message: str, *, name: str, argv: Sequence[str], log_tail: str) -> None:
        super().__init__(f"{message}\n  command: {' '.join(argv)}\n  log tail:\n{_indent(log_tail)}")
        self.name = name
        self.argv = list(argv)
        self.log_tail = log_tail


class ProcessExitedEarly(ProcessError):
    """The process exited before it was ready."""

    def __init__(self, *, name: str, argv: Sequence[str], returncode: int, log_tail: str) -> None:
        super().__init__(
            f"{name} exited before it was ready: {describe_returncode(returncode)}",
            name=name,
            argv=argv,
            log_tail=log_tail,
        )
        self.returncode = returncode


class ReadinessTimeout(ProcessError):
    """The process did not write its ready file in time."""


def data_races(log: str) -> list[str]:
    """The Go race detector's reports in ``log``, one string each."""
    reports = log.split("WARNING: DATA RACE")[1:]
    return [r.split("==================")[0].strip() for r in reports]


def describe_returncode(returncode: int) -> str:
    if returncode < 0:
        return f"killed by signal {signal.Signals(-returncode).name}"
    return f"exit code {returncode}"


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines()) or "    (empty)"
