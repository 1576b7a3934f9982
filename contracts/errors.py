"""The stable error codes of ``contracts/errors.md`` and how they travel.

``ERRORS`` is the table (code → HTTP status, gRPC code); :class:`ApiError`
is what the typed clients raise, whichever transport the error came over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc

__all__ = ["ERRORS", "ApiError", "ErrorSpec", "WireFormatError"]


class WireFormatError(ValueError):
    """A message breaks a documented wire format; the text says how."""


@dataclass(frozen=True)
class ErrorSpec:
    http_status: int
    grpc_code: grpc.StatusCode


ERRORS: dict[str, ErrorSpec] = {
    "INVALID_ARGUMENT": ErrorSpec(400, grpc.StatusCode.INVALID_ARGUMENT),
    "INVALID_CODE": ErrorSpec(400, grpc.StatusCode.INVALID_ARGUMENT),
    "CHALLENGE_NOT_FOUND": ErrorSpec(404, grpc.StatusCode.NOT_FOUND),
    "TOO_MANY_ATTEMPTS": ErrorSpec(429, grpc.StatusCode.RESOURCE_EXHAUSTED),
    "USER_DISABLED": ErrorSpec(403, grpc.StatusCode.PERMISSION_DENIED),
    "UNAUTHENTICATED": ErrorSpec(401, grpc.StatusCode.UNAUTHENTICATED),
    "INVALID_REFRESH_TOKEN": ErrorSpec(401, grpc.StatusCode.UNAUTHENTICATED),
    "SESSION_NOT_FOUND": ErrorSpec(404, grpc.StatusCode.NOT_FOUND),
    "RATE_LIMITED": ErrorSpec(429, grpc.StatusCode.RESOURCE_EXHAUSTED),
    "DEPENDENCY_UNAVAILABLE": ErrorSpec(503, grpc.StatusCode.UNAVAILABLE),
    "NOT_FOUND": ErrorSpec(404, grpc.StatusCode.NOT_FOUND),
    "METHOD_NOT_ALLOWED": ErrorSpec(405, grpc.StatusCode.UNIMPLEMENTED),
    "UNSUPPORTED_MEDIA_TYPE": ErrorSpec(415, grpc.StatusCode.INVALID_ARGUMENT),
    "PAYLOAD_TOO_LARGE": ErrorSpec(413, grpc.StatusCode.INVALID_ARGUMENT),
    "INTERNAL": ErrorSpec(500, grpc.StatusCode.INTERNAL),
}


@dataclass
class ApiError(Exception):
    """An error answer from a service, with its stable ``code``.

    ``transport`` is ``"http"`` or ``"grpc"``; ``status`` the HTTP status or
    gRPC status code; ``metadata`` the problem's / ErrorInfo's metadata;
    ``retry_after`` the seconds of ``Retry-After`` / ``RetryInfo``, if any.
    """

    code: str
    transport: str
    status: int | grpc.StatusCode
    detail: str
    metadata: dict[str, str] = field(default_factory=dict)
    retry_after: float | None = None
    raw: Any = field(default=None, repr=False)

    def __str__(self) -> str:
        meta = f" {self.metadata}" if self.metadata else ""
        return f"{self.transport} {self.status}: {self.code}{meta}: {self.detail}"

    def check_against_table(self) -> None:
        """Raise AssertionError unless (code, status) agree with ``ERRORS``."""
        spec = ERRORS.get(self.code)
        assert spec is not None, f"{self.code!r} is not a stable error code of contracts/errors.md"
        want: int | grpc.StatusCode = spec.http_status if self.transport == "http" else spec.grpc_code
        assert self.status == want, (
            f"{self.code} came with {self.transport} status {self.status}, the table says {want}"
        )
