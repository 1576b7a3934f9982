"""The shapes of authsession's gRPC answers (``galaxy.authsession.v1``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Challenge", "Session", "SessionGrant", "TokenPair"]


@dataclass(frozen=True)
class Challenge:
    """A started email login (``StartEmailLoginResponse``)."""

    challenge_id: str
    expires_at: datetime


@dataclass(frozen=True)
class Session:
    session_id: str
    user_id: str
    email: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime


@dataclass(frozen=True)
class SessionGrant:
    """A session and its tokens: what a confirmed login and a refresh answer."""

    session: Session
    tokens: TokenPair
