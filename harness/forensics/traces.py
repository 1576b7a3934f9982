"""W3C trace context as forensics reads it: a test's trace id from its name, and
the trace id of a ``traceparent`` header or of a JSON log line (the services log
``trace_id`` and ``span_id`` on every line of a request)."""

from __future__ import annotations

import hashlib
import re
import secrets

__all__ = ["LOG_SPAN_ID", "LOG_TRACE_ID", "trace_id_for", "trace_id_of"]

LOG_TRACE_ID = "trace_id"
LOG_SPAN_ID = "span_id"
_ZERO_TRACE = "0" * 32
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")


def trace_id_for(name: str) -> str:
    """A trace id derived from ``name`` (the same name, the same id)."""
    value = hashlib.sha256(name.encode()).hexdigest()[:32]
    return value if value != _ZERO_TRACE else secrets.token_hex(16)


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id a ``traceparent`` value carries, if it is one."""
    m = _TRACEPARENT.match(traceparent or "")
    return m[1] if m and m[1] != _ZERO_TRACE else None
