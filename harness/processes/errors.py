"""What can go wrong with a service process, as typed errors that carry its
command line and the tail of its log; and how an exit reads."""

from __future__ import annotations

import signal
from collections.abc import Sequence

__all__ = [
    "RACE_MARKER",
    "RACE_SEPARATOR",
    "ProcessError",
    "ProcessExitedEarly",
    "ReadinessTimeout",
    "data_races",
    "describe_returncode",
]


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


RACE_SEPARATOR = "=================="
RACE_MARKER = "WARNING: DATA RACE"


def _log_record(line: str) -> bool:
    """Whether ``line`` is a structured log line (a JSON object), which no race report line is."""
    return line.startswith("{") and line.endswith("}")


def data_races(log: str) -> list[str]:
    """The Go race detector's reports in one process's ``log``, one string each.

    The detector writes a report to stderr as plain lines of its own: a
    separator line, the line ``WARNING: DATA RACE``, the accesses and the
    goroutines, a separator line again. Only that shape is a report: a log
    line that holds the marker's text (an access line whose path holds it)
    is none. Log lines another goroutine writes between the report's lines
    are left out of it; a report cut short by the process's end is kept as far
    as it goes."""
    lines = log.splitlines()
    reports: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i] == RACE_MARKER and _opens_report(lines, i):
            body: list[str] = []
            i += 1
            while i < len(lines) and lines[i] != RACE_SEPARATOR:
                if not _log_record(lines[i]):
                    body.append(lines[i])
                i += 1
            reports.append("\n".join(body).strip())
        i += 1
    return reports


def _opens_report(lines: list[str], marker: int) -> bool:
    """Whether the marker line at ``marker`` follows a separator line (log lines aside)."""
    before = marker - 1
    while before >= 0 and _log_record(lines[before]):
        before -= 1
    return before >= 0 and lines[before] == RACE_SEPARATOR


def describe_returncode(returncode: int) -> str:
    if returncode < 0:
        return f"killed by signal {signal.Signals(-returncode).name}"
    return f"exit code {returncode}"


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines()) or "    (empty)"
