"""What every gRPC client of a galaxy contract shares: a plaintext channel, a
deadline per call, the bearer token and the ``traceparent`` of its ``trace``
(``contracts/tracing.md``) in each call's metadata, and errors as
:class:`contracts.errors.ApiError` (``contracts.grpc_errors``), their ErrorInfo
held to the domain of the service called (:attr:`GrpcClient.ERROR_DOMAIN`,
one of :data:`contracts.grpc_errors.ERROR_DOMAINS`).

A client names the proto service it covers (:attr:`GrpcClient.SERVICE`); a
harness test holds every client to every RPC of its service in ``proto/``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import ClassVar, Self, TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from contracts.grpc_errors import grpc_error
from contracts.tracing import TRACEPARENT, TraceSource

__all__ = ["GrpcClient", "timestamp"]

T = TypeVar("T")


def timestamp(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


class GrpcClient:
    """A client of one galaxy gRPC service at ``target``. ``received_secrets``
    lists every token it was given, so a suite can check that none leaks into a log."""

    SERVICE: ClassVar[str]
    """The full name of the proto service it covers (``galaxy.gateway.v1.GatewayService``)."""
    ERROR_DOMAIN: ClassVar[str]
    """The ``domain`` of the ErrorInfo of every error the service answers."""

    def __init__(self, target: str, timeout: float = 10.0, *, trace: TraceSource | None = None) -> None:
        self.target = target
        self.timeout = timeout
        self.trace = trace
        self.received_secrets: list[str] = []
        self.channel = grpc.insecure_channel(target)

    def metadata(self, token: str | None = None) -> tuple[tuple[str, str], ...]:
        """The metadata of a call: the bearer token, if any, and the trace's traceparent."""
        md: list[tuple[str, str]] = []
        if token is not None:
            md.append(("authorization", f"Bearer {token}"))
        if self.trace is not None:
            md.append((TRACEPARENT, self.trace.traceparent()))
        return tuple(md)

    def _call(
        self, fn: Callable[..., T], request: object, token: str | None = None, *, timeout: float | None = None
    ) -> T:
        """One call, within ``timeout`` seconds (default: the client's)."""
        try:
            wait = self.timeout if timeout is None else timeout
            return fn(request, timeout=wait, metadata=self.metadata(token) or None)
        except grpc.RpcError as err:
            raise grpc_error(err, self.ERROR_DOMAIN) from None

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
