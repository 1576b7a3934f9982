"""HTTP JSON client of the gateway (``/v1/...``), errors as RFC 9457 problems
(:mod:`contracts.http`).

Given a ``trace`` (``contracts.tracing``), every request carries a
``traceparent`` from it, unless the caller sets one of its own.

Every answer the typed calls get is held to what every answer of the API
carries (``contracts/errors.md``, "Answers from the HTTP layer"): a success
with its documented status, shape and headers, an error as a whole problem
document with the headers of its status and code. An answer that breaks
that is no answer of the contract: a success raises
:class:`~contracts.errors.WireFormatError`, and a problem becomes an
:class:`~contracts.errors.ApiError` whose code says so (``<not a problem>``,
``<problem breaks its contract>``), which no scenario expects."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests

from contracts import http
from contracts.errors import ApiError, WireFormatError
from contracts.gatewayv1.models import Login, LoginChallenge, Me, SessionInfo
from contracts.http import PROBLEM_CONTENT_TYPE, JsonHttpClient
from contracts.tracing import TraceSource

__all__ = [
    "EVERY_ANSWER",
    "PROBLEM_CONTENT_TYPE",
    "GatewayHttpClient",
    "answer_violations",
    "problem_error",
    "problem_violations",
]

PROBLEM_TYPE = "urn:galaxy:error:"

EVERY_ANSWER = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
"""The headers every answer of the API carries, success or problem (errors.md, "Answers from the HTTP layer")."""


def answer_violations(resp: requests.Response) -> list[str]:
    """How ``resp`` lacks the headers every answer of the API carries (none: it has them)."""
    return [
        f"{name}: {resp.headers.get(name)!r}, want {want!r}"
        for name, want in EVERY_ANSWER.items()
        if resp.headers.get(name) != want
    ]


def problem_violations(resp: requests.Response, body: dict[str, Any]) -> list[str]:
    """How the problem document ``body`` (answered in ``resp``) breaks errors.md and the
    OpenAPI document's ``Problem``: its fields, and the headers of its status and code."""
    code = body.get("code")
    found = answer_violations(resp)
    if body.get("type") != f"{PROBLEM_TYPE}{code}":
        found.append(f"type {body.get('type')!r}, want {PROBLEM_TYPE}{code}")
    if not isinstance(body.get("title"), str) or not body["title"]:
        found.append(f"title {body.get('title')!r}, want a short summary of the code")
    if body.get("status") != resp.status_code or isinstance(body.get("status"), bool):
        found.append(f"status {body.get('status')!r}, want the answer's {resp.status_code}")
    if not isinstance(body.get("detail"), str):
        found.append(f"detail {body.get('detail')!r}, want a string")
    metadata = body.get("metadata")
    if code == "DEPENDENCY_UNAVAILABLE":
        if not isinstance(metadata, dict) or not isinstance(metadata.get("dependency"), str):
            found.append(f"metadata {metadata!r}, want the failed dependency")
        elif not all(isinstance(v, str) for v in metadata.values()):
            found.append(f"metadata {metadata!r}, want string values")
    elif metadata is not None:
        found.append(f"metadata {metadata!r} with {code}: only DEPENDENCY_UNAVAILABLE carries one")
    challenge = resp.headers.get("WWW-Authenticate")
    if resp.status_code == 401 and not (challenge or "").startswith("Bearer"):
        found.append(f"a 401 with WWW-Authenticate {challenge!r}, want the Bearer challenge")
    retry_after = resp.headers.get("Retry-After")
    if code == "RATE_LIMITED" and not (retry_after or "").isdigit():
        found.append(f"RATE_LIMITED with Retry-After {retry_after!r}, want whole seconds")
    elif code == "RATE_LIMITED" and int(retry_after or "0") < 1:
        found.append(f"Retry-After {retry_after!r}, want at least 1")
    elif code != "RATE_LIMITED" and retry_after is not None:
        found.append(f"Retry-After {retry_after!r} with {code}: only RATE_LIMITED carries one")
    return found


def problem_error(resp: requests.Response) -> ApiError:
    """Turn an error response of the gateway into an ApiError (:func:`contracts.http.problem_error`), a
    problem held to the gateway's document and the headers of its status and code (:func:`problem_violations`)."""
    return http.problem_error(resp, problem_violations)


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


class GatewayHttpClient(JsonHttpClient):
    def __init__(self, base_url: str, timeout: float = 10.0, *, trace: TraceSource | None = None) -> None:
        super().__init__(base_url, timeout, trace=trace)
        self.received_secrets: list[str] = []

    def problem(self, resp: requests.Response) -> ApiError:
        return problem_error(resp)

    def _call(self, method: str, path: str, *, token: str | None = None, json: Any = None, status: int = 200) -> Any:
        """One typed call: its body as JSON, None for a 204; a problem raises :class:`ApiError`,
        a success other than the documented ``status`` and shape :class:`WireFormatError`."""
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        resp = self._answer(method, path, json=json, headers=headers)
        found = answer_violations(resp)
        if resp.status_code != status:
            found.append(f"status {resp.status_code}, want {status}")
        elif status == 204 and resp.content:
            found.append(f"a 204 with a body: {resp.content[:200]!r}")
        elif status != 204 and not resp.headers.get("Content-Type", "").startswith("application/json"):
            found.append(f"Content-Type {resp.headers.get('Content-Type')!r}, want application/json")
        if found:
            raise WireFormatError(f"{method} {path}: " + "; ".join(found))
        return resp.json() if status != 204 else None

    def _login(self, body: dict[str, Any]) -> Login:
        expires_in = body["expires_in"]
        if not isinstance(expires_in, int) or isinstance(expires_in, bool):
            raise WireFormatError(f"expires_in {expires_in!r}: want whole seconds")
        login = Login(
            access_token=body["access_token"],
            token_type=body["token_type"],
            access_token_expires_at=_ts(body["access_token_expires_at"]),
            refresh_token=body["refresh_token"],
            refresh_token_expires_at=_ts(body["refresh_token_expires_at"]),
            session_id=body["session_id"],
            user_id=body["user_id"],
            expires_in=expires_in,
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
        self._call("POST", "/v1/auth/logout", token=access_token, status=204)

    def list_sessions(self, access_token: str | None) -> list[SessionInfo]:
        body = self._call("GET", "/v1/sessions", token=access_token)
        return [
            SessionInfo(s["session_id"], _ts(s["created_at"]), _ts(s["expires_at"]), bool(s["current"]))
            for s in body["sessions"]
        ]

    def revoke_session(self, access_token: str | None, session_id: str) -> None:
        self._call("DELETE", f"/v1/sessions/{quote(session_id, safe='')}", token=access_token, status=204)
