"""The standard ``grpc.health.v1`` check, as both services serve it."""

from __future__ import annotations

from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

__all__ = ["grpc_health"]


def grpc_health(target: str, service: str = "", timeout: float = 5.0) -> str:
    """The serving status name (``SERVING``, ``NOT_SERVING``, ...) of ``service`` at ``target``."""
    with grpc.insecure_channel(target) as channel:
        stub: Any = health_pb2_grpc.HealthStub(channel)  # the typing stubs omit the generated methods
        resp = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    name: str = health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
    return name
