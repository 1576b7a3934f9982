"""Transport-neutral shapes of the gateway's operations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["GatewayApi", "Login", "LoginChallenge", "Me", "SessionInfo"]


@dataclass(frozen=True)
class LoginChallenge:
    challenge_id: str
    expires_at: datetime


@dataclass(frozen=True)
class Login:
    access_token: str
    token_type: str
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime
    session_id: str
    user_id: str
    expires_in: int | None = None
    """Seconds until the access token expires, as the HTTP API answers them (gRPC has no such field)."""


@dataclass(frozen=True)
class Me:
    user_id: str
    email: str
    session_id: str
    session_expires_at: datetime


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    created_at: datetime
    expires_at: datetime
    current: bool


class GatewayApi(Protocol):
    """The gateway's operations, whichever transport carries them.

    ``received_secrets`` lists every token the client was given, so a suite
    can check that none of them leaks into a log.
    """

    transport: str
    received_secrets: list[str]

    def start_email_login(self, email: str) -> LoginChallenge: ...
    def confirm_email_login(self, challenge_id: str, code: str) -> Login: ...
    def refresh_session(self, refresh_token: str) -> Login: ...
    def me(self, access_token: str | None) -> Me: ...
    def logout(self, access_token: str | None) -> None: ...
    def list_sessions(self, access_token: str | None) -> list[SessionInfo]: ...
    def revoke_session(self, access_token: str | None, session_id: str) -> None: ...
    def close(self) -> None: ...
