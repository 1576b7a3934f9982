"""HTTP JSON client of the gateway (``/v1/...``), errors as RFC 9457 problems
(:mod:`contracts.http`).

Given a ``trace`` (``contracts.tracing``), every request carries a
``traceparent`` from it, unless the caller sets one of its own."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from contracts.gatewayv1.models import Login, LoginChallenge, Me, SessionInfo
from contracts.http import PROBLEM_CONTENT_TYPE, JsonHttpClient, problem_error
from contracts.tracing import TraceSource

__all__ = ["PROBLEM_CONTENT_TYPE", "GatewayHttpClient", "problem_error"]


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


class GatewayHttpClient(JsonHttpClient):
    def __init__(self, base_url: str, timeout: float = 10.0, *, trace: TraceSource | None = None) -> None:
        super().__init__(base_url, timeout, trace=trace)
        self.received_secrets: list[str] = []

    def _call(self, method: str, path: str, *, token: str | None = None, json: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        resp = self._answer(method, path, json=json, headers=headers)
        return resp.json() if resp.status_code != 204 else None

    def _login(self, body: dict[str, Any]) -> Login:
        login = Login(
            access_token=body["access_token"],
            token_type=body["token_type"],
            access_token_expires_at=_ts(body["access_token_expires_at"]),
            refresh_token=body["refresh_token"],
            refresh_token_expires_at=_ts(body["refresh_token_expires_at"]),
            session_id=body["session_id"],
            user_id=body["user_id"],
        )
        self.received_secrets += [login.access_token, login.refresh_token]
        return login

    def start_email_login(self, email: str) -> LoginChallenge:
        body = self._call("POST", "/v1/auth/email/start", json={"email": email})
        return LoginChallenge(challenge_id=body["challenge_id"], expires_at=_ts(body["expires_at"]))

    def confirm_email_login(self, challenge_id: str, code: str) -> Login:
        return self._login(
            self._call("POST", "/v1/auth/email/confirm", json={"challenge_id": challenge_id, "code": code})
        )

    def refresh_session(self, refresh_token: str) -> Login:
        return self._login(self._call("POST", "/v1/auth/refresh", json={"refresh_token": refresh_token}))

    def me(self, access_token: str | None) -> Me:
        body = self._call("GET", "/v1/me", token=access_token)
        return Me(
            user_id=body["user_id"],
            email=body["email"],
            session_id=body["session_id"],
            session_expires_at=_ts(body["session_expires_at"]),
        )

    def logout(self, access_token: str | None) -> None:
        self._call("POST", "/v1/auth/logout", token=access_token)

    def list_sessions(self, access_token: str | None) -> list[SessionInfo]:
        body = self._call("GET", "/v1/sessions", token=access_token)
        return [
            SessionInfo(s["session_id"], _ts(s["created_at"]), _ts(s["expires_at"]), bool(s["current"]))
            for s in body["sessions"]
        ]

    def revoke_session(self, access_token: str | None, session_id: str) -> None:
        self._call("DELETE", f"/v1/sessions/{quote(session_id, safe='')}", token=access_token)
