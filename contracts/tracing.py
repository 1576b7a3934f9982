"""W3C trace context across the hops of a request (``contracts/tracing.md``).

A ``traceparent`` is ``00-<trace id>-<parent id>-<flags>``: 32 and 16
lower-case hex digits, neither all zeros, and two hex digits of flags
(``01``: sampled). Formatted here by hand: it is a fixed, documented format
of four fields, and a strict reading of what a service sends is what a
contract check needs (https://www.w3.org/TR/trace-context/#traceparent-header).

:class:`Trace` gives a client's calls one trace id and each call a parent id
of its own; :func:`trace_id_for` (the harness's, re-exported) derives a trace id
from a name (a test's node id), so the logs of one test can be found by it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from contracts.errors import WireFormatError
from harness.forensics.traces import LOG_SPAN_ID, LOG_TRACE_ID, trace_id_for

__all__ = [
    "SPAN_ID_KEY",
    "TRACEPARENT",
    "TRACE_ID_KEY",
    "FixedTraceparent",
    "Trace",
    "TraceSource",
    "Traceparent",
    "check_traceparent",
    "continued_trace_id",
    "new_span_id",
    "new_trace_id",
    "require_traceparent",
    "trace_id_for",
]

TRACEPARENT = "traceparent"
"""The header (HTTP) and metadata key (gRPC) that carries the trace context."""

TRACE_ID_KEY = LOG_TRACE_ID
"""The log attribute, in both services' JSON lines, of a request's trace id."""

SPAN_ID_KEY = LOG_SPAN_ID
"""The log attribute of the logging hop's span id: the parent id it sends on."""

_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
_SENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


@dataclass(frozen=True)
class Traceparent:
    """One ``traceparent`` value, as the galaxy services send it (version 00)."""

    trace_id: str
    parent_id: str
    flags: str = "01"

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[0-9a-f]{32}", self.trace_id) or self.trace_id == _ZERO_TRACE:
            raise ValueError(f"not a trace id (32 lower-case hex digits, not all zeros): {self.trace_id!r}")
        if not re.fullmatch(r"[0-9a-f]{16}", self.parent_id) or self.parent_id == _ZERO_SPAN:
            raise ValueError(f"not a parent id (16 lower-case hex digits, not all zeros): {self.parent_id!r}")
        if not re.fullmatch(r"[0-9a-f]{2}", self.flags):
            raise ValueError(f"not trace flags (2 lower-case hex digits): {self.flags!r}")

    def __str__(self) -> str:
        return f"00-{self.trace_id}-{self.parent_id}-{self.flags}"

    @classmethod
    def parse(cls, value: str | None) -> Traceparent:
        """Read ``value`` as a service sends it: version 00, exactly four
        fields, lower-case hex, non-zero ids; :class:`WireFormatError` otherwise."""
        m = _SENT.fullmatch(value or "")
        if m is None or m[1] == _ZERO_TRACE or m[2] == _ZERO_SPAN:
            raise WireFormatError(f"traceparent must be 00-<32 hex>-<16 hex>-<2 hex> with non-zero ids, not {value!r}")
        return cls(m[1], m[2], m[3])


def require_traceparent(headers: Mapping[str, str]) -> Traceparent:
    """The one well-formed ``traceparent`` of a request (headers with
    lower-cased names); :class:`WireFormatError` when it is missing or malformed.
    A header sent twice reaches a stub joined by a comma, so it is malformed too."""
    value = headers.get(TRACEPARENT)
    if value is None:
        raise WireFormatError("the traceparent header is missing")
    return Traceparent.parse(value)


def check_traceparent(headers: Mapping[str, str]) -> Traceparent | None:
    """The stubs' check: the request's ``traceparent``, None when it has
    none (a service built before the trace context sends none; the tracing
    scenarios require it), :class:`WireFormatError` when it is malformed."""
    return None if TRACEPARENT not in headers else require_traceparent(headers)


_ACCEPTED = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?", re.DOTALL)


def continued_trace_id(value: str) -> str | None:
    """The trace id a service continues when a request carries ``value`` as
    its one ``traceparent`` (tracing.md, "What a service accepts"), or None
    when ``value`` is malformed and the service starts a new trace."""
    m = _ACCEPTED.fullmatch(value)
    if m is None:
        return None
    version, trace_id, parent_id, flags, rest = m.groups()
    if version == "ff" or trace_id == _ZERO_TRACE or parent_id == _ZERO_SPAN:
        return None
    if version == "00" and (rest is not None or int(flags, 16) & ~0x03):
        return None
    return trace_id


def new_trace_id() -> str:
    """A random trace id."""
    while (value := secrets.token_hex(16)) == _ZERO_TRACE:
        pass
    return value


def new_span_id() -> str:
    """A random span (parent) id."""
    while (value := secrets.token_hex(8)) == _ZERO_SPAN:
        pass
    return value


class TraceSource(Protocol):
    """What a client asks for the ``traceparent`` of each call."""

    def traceparent(self) -> str: ...


class FixedTraceparent:
    """Sends ``value`` verbatim on every call, well formed or not (to check
    what a service makes of it)."""

    def __init__(self, value: str) -> None:
        self.value = value

    def traceparent(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"FixedTraceparent({self.value!r})"


class Trace:
    """One trace that a client's calls join: :meth:`traceparent` gives each
    call the trace id and a parent id of its own, and remembers it."""

    def __init__(self, trace_id: str | None = None, *, sampled: bool = True) -> None:
        self.trace_id = trace_id if trace_id is not None else new_trace_id()
        self.flags = "01" if sampled else "00"
        Traceparent(self.trace_id, "1" * 16, self.flags)  # checks the id
        self.sent: list[Traceparent] = []

    def traceparent(self) -> str:
        """The ``traceparent`` of a new call: this trace, a new parent id."""
        tp = Traceparent(self.trace_id, new_span_id(), self.flags)
        self.sent.append(tp)
        return str(tp)

    def __repr__(self) -> str:
        return f"Trace({self.trace_id!r}, {len(self.sent)} call(s))"
