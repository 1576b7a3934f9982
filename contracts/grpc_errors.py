"""Errors of a galaxy gRPC service: ``google.rpc.ErrorInfo`` (and ``RetryInfo``)
in the status details, as ``contracts/errors.md`` describes.

Each service names itself in the ``domain`` of its ErrorInfo
(:data:`ERROR_DOMAINS`); a caller that knows which service it called passes
that domain, and an error carrying another is reported as a contract
violation, as is a ``RATE_LIMITED`` without a whole-second ``RetryInfo``."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from contracts.errors import ApiError

__all__ = ["ERROR_DOMAINS", "grpc_error"]

ERROR_DOMAINS = {"gateway": "gateway.galaxy", "authsession": "authsession.galaxy"}
"""The ErrorInfo ``domain`` of each galaxy gRPC service (errors.md, the ``.proto`` files' headers)."""


def grpc_error(err: grpc.RpcError, domain: str | None = None) -> ApiError:
    """Turn a failed call into an ApiError; a status without ErrorInfo is
    reported as a contract violation (code ``<no ErrorInfo>``), and so is,
    with ``domain`` given, an ErrorInfo of another domain, or a
    ``RATE_LIMITED`` whose RetryInfo is missing or not whole seconds
    (code ``<ErrorInfo breaks its contract>``, how in ``detail``)."""
    call: grpc.Call = err  # type: ignore[assignment]  # every RpcError raised by a call is also a Call
    status = rpc_status.from_call(call)
    code, metadata, retry_after, found = "<no ErrorInfo>", {}, None, None
    if status is not None:
        for detail in status.details:
            info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
            if detail.Unpack(info):
                code, metadata, found = info.reason, dict(info.metadata), info.domain
            elif detail.Unpack(retry):
                retry_after = retry.retry_delay.ToTimedelta().total_seconds()
    violations = []
    if found is not None and domain is not None and found != domain:
        violations.append(f"domain {found!r}, want {domain!r}")
    if code == "RATE_LIMITED" and (retry_after is None or retry_after < 1 or retry_after != int(retry_after)):
        violations.append(f"RetryInfo {retry_after!r}, want whole seconds, at least 1")
    if violations:
        detail = f"{code}: " + "; ".join(violations)
        return ApiError("<ErrorInfo breaks its contract>", "grpc", call.code(), detail, metadata, raw=err)
    return ApiError(code, "grpc", call.code(), call.details() or "", metadata, retry_after, raw=err)
