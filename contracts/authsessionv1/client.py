"""gRPC client of authsession's API (``galaxy.authsession.v1.AuthSessionService``),
every RPC of it, for the calls a suite makes in the role of another service: the
gateway's (logins, refreshes, sessions) or the user service's (revoking every
session of a user it disabled). Errors carry ``google.rpc.ErrorInfo`` with the
stable code, in authsession's domain; given a ``trace``, every call carries a
``traceparent`` from it; each call takes a ``timeout`` of its own (seconds) when
it is given one."""

from __future__ import annotations

from typing import Any

from contracts.authsessionv1._pb import authsession_pb2, authsession_pb2_grpc
from contracts.authsessionv1.models import Challenge, Session, SessionGrant, TokenPair
from contracts.grpc_client import GrpcClient, timestamp
from contracts.grpc_errors import ERROR_DOMAINS
from contracts.tracing import TraceSource

__all__ = ["AuthSessionGrpcClient"]


def _session(s: Any) -> Session:
    return Session(s.session_id, s.user_id, s.email, timestamp(s.created_at), timestamp(s.expires_at))


class AuthSessionGrpcClient(GrpcClient):
    SERVICE = "galaxy.authsession.v1.AuthSessionService"
    ERROR_DOMAIN = ERROR_DOMAINS["authsession"]

    def __init__(self, target: str, timeout: float = 10.0, *, trace: TraceSource | None = None) -> None:
        super().__init__(target, timeout, trace=trace)
        self.stub = authsession_pb2_grpc.AuthSessionServiceStub(self.channel)

    def _grant(self, resp: Any) -> SessionGrant:
        t = resp.tokens
        tokens = TokenPair(
            t.access_token, timestamp(t.access_token_expires_at), t.refresh_token, timestamp(t.refresh_token_expires_at)
        )
        self.received_secrets += [tokens.access_token, tokens.refresh_token]
        return SessionGrant(_session(resp.session), tokens)

    def start_email_login(self, email: str, client_id: str = "", *, timeout: float | None = None) -> Challenge:
        req = authsession_pb2.StartEmailLoginRequest(email=email, client_id=client_id)
        resp = self._call(self.stub.StartEmailLogin, req, timeout=timeout)
        return Challenge(resp.challenge_id, timestamp(resp.expires_at))

    def confirm_email_login(self, challenge_id: str, code: str, client_id: str = "") -> SessionGrant:
        req = authsession_pb2.ConfirmEmailLoginRequest(challenge_id=challenge_id, code=code, client_id=client_id)
        return self._grant(self._call(self.stub.ConfirmEmailLogin, req))

    def refresh_session(self, refresh_token: str, client_id: str = "") -> SessionGrant:
        req = authsession_pb2.RefreshSessionRequest(refresh_token=refresh_token, client_id=client_id)
        return self._grant(self._call(self.stub.RefreshSession, req))

    def revoke_session(self, user_id: str, session_id: str) -> None:
        req = authsession_pb2.RevokeSessionRequest(user_id=user_id, session_id=session_id)
        self._call(self.stub.RevokeSession, req)

    def revoke_all_sessions(self, user_id: str, *, timeout: float | None = None) -> int:
        req = authsession_pb2.RevokeAllSessionsRequest(user_id=user_id)
        count: int = self._call(self.stub.RevokeAllSessions, req, timeout=timeout).revoked_count
        return count

    def list_sessions(self, user_id: str) -> list[Session]:
        resp = self._call(self.stub.ListSessions, authsession_pb2.ListSessionsRequest(user_id=user_id))
        return [_session(s) for s in resp.sessions]
