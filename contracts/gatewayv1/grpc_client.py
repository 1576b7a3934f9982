"""gRPC client of the gateway (``galaxy.gateway.v1.GatewayService``); errors
carry ``google.rpc.ErrorInfo`` with the stable code, in the gateway's domain. Given a ``trace``
(``contracts.tracing``), every call carries a ``traceparent`` from it in its
metadata."""

from __future__ import annotations

from typing import Any

from contracts.gatewayv1._pb import gateway_pb2, gateway_pb2_grpc
from contracts.gatewayv1.models import Login, LoginChallenge, Me, SessionInfo
from contracts.grpc_client import GrpcClient, timestamp
from contracts.grpc_errors import ERROR_DOMAINS
from contracts.tracing import TraceSource

__all__ = ["GatewayGrpcClient"]


class GatewayGrpcClient(GrpcClient):
    SERVICE = "galaxy.gateway.v1.GatewayService"
    ERROR_DOMAIN = ERROR_DOMAINS["gateway"]
    transport = "grpc"

    def __init__(self, target: str, timeout: float = 10.0, *, trace: TraceSource | None = None) -> None:
        super().__init__(target, timeout, trace=trace)
        self.stub = gateway_pb2_grpc.GatewayServiceStub(self.channel)

    def _login(self, resp: Any) -> Login:
        login = Login(
            access_token=resp.access_token,
            token_type=resp.token_type,
            access_token_expires_at=timestamp(resp.access_token_expires_at),
            refresh_token=resp.refresh_token,
            refresh_token_expires_at=timestamp(resp.refresh_token_expires_at),
            session_id=resp.session_id,
            user_id=resp.user_id,
        )
        self.received_secrets += [login.access_token, login.refresh_token]
        return login

    def start_email_login(self, email: str) -> LoginChallenge:
        resp = self._call(self.stub.StartEmailLogin, gateway_pb2.StartEmailLoginRequest(email=email))
        return LoginChallenge(challenge_id=resp.challenge_id, expires_at=timestamp(resp.expires_at))

    def confirm_email_login(self, challenge_id: str, code: str) -> Login:
        req = gateway_pb2.ConfirmEmailLoginRequest(challenge_id=challenge_id, code=code)
        return self._login(self._call(self.stub.ConfirmEmailLogin, req))

    def refresh_session(self, refresh_token: str) -> Login:
        req = gateway_pb2.RefreshSessionRequest(refresh_token=refresh_token)
        return self._login(self._call(self.stub.RefreshSession, req))

    def me(self, access_token: str | None) -> Me:
        resp = self._call(self.stub.GetMe, gateway_pb2.GetMeRequest(), token=access_token)
        return Me(
            user_id=resp.user_id,
            email=resp.email,
            session_id=resp.session_id,
            session_expires_at=timestamp(resp.session_expires_at),
        )

    def logout(self, access_token: str | None) -> None:
        self._call(self.stub.Logout, gateway_pb2.LogoutRequest(), token=access_token)

    def list_sessions(self, access_token: str | None) -> list[SessionInfo]:
        resp = self._call(self.stub.ListSessions, gateway_pb2.ListSessionsRequest(), token=access_token)
        return [
            SessionInfo(s.session_id, timestamp(s.created_at), timestamp(s.expires_at), s.current)
            for s in resp.sessions
        ]

    def revoke_session(self, access_token: str | None, session_id: str) -> None:
        req = gateway_pb2.RevokeSessionRequest(session_id=session_id)
        self._call(self.stub.RevokeSession, req, token=access_token)
