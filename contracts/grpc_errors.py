"""Errors of a galaxy gRPC service: ``google.rpc.ErrorInfo`` (and ``RetryInfo``)
in the status details, as ``contracts/errors.md`` describes."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from contracts.errors import ApiError

__all__ = ["grpc_error"]


def grpc_error(err: grpc.RpcError) -> ApiError:
    """Turn a failed call into an ApiError; a status without ErrorInfo is
    reported as a contract violation (code ``<no ErrorInfo>``)."""
    call: grpc.Call = err  # type: ignore[assignment]  # every RpcError raised by a call is also a Call
    status = rpc_status.from_call(call)
    code, metadata, retry_after = "<no ErrorInfo>", {}, None
    if status is not None:
        for detail in status.details:
            info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
            if detail.Unpack(info):
                code, metadata = info.reason, dict(info.metadata)
            elif detail.Unpack(retry):
                retry_after = retry.retry_delay.ToTimedelta().total_seconds()
    return ApiError(code, "grpc", call.code(), call.details() or "", metadata, retry_after, raw=err)
