"""Programmable faults of the HTTP stubs (:mod:`harness.stubs.server`): what a fault is, which apply to a request.

A :class:`Fault` applies to the next N requests, or to all of them until
cleared, optionally only on one path; a :class:`FaultPlan` holds the active
ones and hands each request its share. Hand-written because pytest-httpserver
has no such thing: its one-shot handlers answer one request each in place of
the route, and are matched and removed without a lock under a threaded
server; its ``Delay`` hook sleeps after the route has answered, and nothing
can cut the sleep short.
"""

from __future__ import annotations

import enum
import re
import threading
from dataclasses import dataclass, field
from typing import TypeAlias

__all__ = ["Fault", "FaultKind", "FaultPlan", "PathSpec"]

PathSpec: TypeAlias = str | re.Pattern[str]
"""Selects request paths: a string matches exactly, a pattern must ``fullmatch``."""


class FaultKind(enum.Enum):
    """What a :class:`Fault` does to a request."""

    STATUS = "status"
    """Answer with a given status and body instead of the stub."""
    DELAY = "delay"
    """Wait before going on (to further faults, or to the stub)."""
    MALFORMED = "malformed"
    """Answer with a body that is not JSON, or JSON of the wrong shape."""
    DROP = "drop"
    """Close the connection without writing any response."""


@dataclass(eq=False)
class Fault:
    """A programmed fault; returned by the fault methods of :class:`~harness.stubs.server.HttpStub`.

    It applies to the next ``times`` requests whose path matches ``path``
    (every path when None), or to all of them until cleared when ``times`` is
    None. ``applied`` counts the requests it was applied to so far; it is
    counted when a request arrives, before any delay.
    """

    kind: FaultKind
    times: int | None
    path: PathSpec | None = None
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    seconds: float = 0.0
    applied: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.times is not None and self.times < 1:
            raise ValueError(f"times must be None (until cleared) or at least 1, not {self.times}")
        if not 100 <= self.status <= 599:
            raise ValueError(f"not an HTTP status: {self.status}")
        if self.seconds < 0:
            raise ValueError(f"a delay cannot be negative: {self.seconds}")

    @property
    def remaining(self) -> int | None:
        """How many more requests it applies to; None means until cleared."""
        return None if self.times is None else self.times - self.applied

    @property
    def exhausted(self) -> bool:
        """Whether it has been applied ``times`` times."""
        return self.times is not None and self.applied >= self.times

    def matches(self, path: str) -> bool:
        """Whether it applies to a request for ``path``."""
        if isinstance(self.path, str):
            return path == self.path
        return self.path is None or self.path.fullmatch(path) is not None

    def describe(self) -> str:
        """A short human-readable description, as used in logs."""
        what = {
            FaultKind.STATUS: f"status {self.status}",
            FaultKind.DELAY: f"delay {self.seconds:g}s",
            FaultKind.MALFORMED: f"malformed body (status {self.status})",
            FaultKind.DROP: "drop connection",
        }[self.kind]
        if self.path is not None:
            what += f" on {self.path if isinstance(self.path, str) else self.path.pattern}"
        count = "until cleared" if self.times is None else f"{self.applied}/{self.times} applied"
        return f"{what} [{count}]"


class FaultPlan:
    """The active faults, in the order they were added; used from many threads at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    @property
    def active(self) -> list[Fault]:
        """The faults not yet exhausted nor cleared, oldest first (a copy)."""
        with self._lock:
            return list(self._faults)

    def add(self, fault: Fault) -> Fault:
        """Make ``fault`` active after the others; returns it."""
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def take(self, path: str) -> list[Fault]:
        """The faults for a request for ``path``, counted as applied: any delays, then at most one other fault."""
        taken: list[Fault] = []
        with self._lock:
            for fault in [f for f in self._faults if f.matches(path)]:
                fault.applied += 1
                if fault.exhausted:
                    self._faults.remove(fault)
                taken.append(fault)
                if fault.kind is not FaultKind.DELAY:
                    break
        return taken
