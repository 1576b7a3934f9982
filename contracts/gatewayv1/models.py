"""Transport-neutral shapes of the gateway's operations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["GatewayApi", "Login", "LoginChallenge", "Me"]


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


@dataclass(frozen=True)
class Me:
    user_id: str
    email: str
    session_id: str
    session_expires_at: datetime


class GatewayApi(Protocol):
    """The gateway's operations, whichever transport carries them."""

    transport: str

    def start_email_login(self, email: str) -> LoginChallenge: ...
    def confirm_email_login(self, challenge_id: str, code: str) -> Login: ...
    def me(self, access_token: str | None) -> Me: ...
    def close(self) -> None: ...
