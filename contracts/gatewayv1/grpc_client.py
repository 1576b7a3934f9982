"""gRPC client of the gateway (``galaxy.gateway.v1.GatewayService``); errors
carry ``google.rpc.ErrorInfo`` with the stable code."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from contracts.errors import ApiError
from contracts.gatewayv1._pb import gateway_pb2, gateway_pb2_grpc
from contracts.gatewayv1.models import Login, LoginChallenge, Me

__all__ = ["GatewayGrpcClient", "grpc_error"]

T = TypeVar("T")


def grpc_error(err: grpc.RpcError) -> ApiError:
    """Turn a failed call into an ApiError; a status without ErrorInfo is
    reported as a contract violation (code ``<no ErrorInfo>``)."""
    call: grpc.Call = err  # type: ignore[assignment]  # every RpcError raised by a call is also a Call
    status = rpc_status.from_call(call)
    code, metadata = "<no ErrorInfo>", {}
    if status is not None:
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info):
                code, metadata = info.reason, dict(info.metadata)
                break
    return ApiError(code, "grpc", call.code(), call.details() or "", metadata, raw=err)


def _ts(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


class GatewayGrpcClient:
    transport = "grpc"

    def __init__(self, target: str, timeout: float = 10.0) -> None:
        self.target = target
        self.timeout = timeout
        self.channel = grpc.insecure_channel(target)
        self.stub = gateway_pb2_grpc.GatewayServiceStub(self.channel)

    def _call(self, fn: Callable[..., T], request: object, token: str | None = None) -> T:
        metadata = (("authorization", f"Bearer {token}"),) if token is not None else None
        try:
            return fn(request, timeout=self.timeout, metadata=metadata)
        except grpc.RpcError as err:
            raise grpc_error(err) from None

    def start_email_login(self, email: str) -> LoginChallenge:
        resp = self._call(self.stub.StartEmailLogin, gateway_pb2.StartEmailLoginRequest(email=email))
        return LoginChallenge(challenge_id=resp.challenge_id, expires_at=_ts(resp.expires_at))

    def confirm_email_login(self, challenge_id: str, code: str) -> Login:
        req = gateway_pb2.ConfirmEmailLoginRequest(challenge_id=challenge_id, code=code)
        resp = self._call(self.stub.ConfirmEmailLogin, req)
        return Login(
            access_token=resp.access_token,
            token_type=resp.token_type,
            access_token_expires_at=_ts(resp.access_token_expires_at),
            refresh_token=resp.refresh_token,
            refresh_token_expires_at=_ts(resp.refresh_token_expires_at),
            session_id=resp.session_id,
            user_id=resp.user_id,
        )

    def me(self, access_token: str | None) -> Me:
        resp = self._call(self.stub.GetMe, gateway_pb2.GetMeRequest(), token=access_token)
        return Me(
            user_id=resp.user_id,
            email=resp.email,
            session_id=resp.session_id,
            session_expires_at=_ts(resp.session_expires_at),
        )

    def close(self) -> None:
        self.channel.close()
