"""The public Redis keys of ``contracts/redis.md``: names and record shapes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis

__all__ = ["SESSION_FIELDS", "SessionRecord", "events_channel", "public_keyspace", "read_session", "session_key"]

SESSION_FIELDS = frozenset({"session_id", "user_id", "email", "status", "created_at", "expires_at"})


def session_key(prefix: str, session_id: str) -> str:
    return f"{prefix}session:{session_id}"


def events_channel(prefix: str) -> str:
    """The pub/sub channel of the revocation signal, ``{p}session-events``."""
    return f"{prefix}session-events"


@dataclass(frozen=True)
class SessionRecord:
    session_id: str
    user_id: str
    email: str
    status: str
    created_at: int
    expires_at: int

    @classmethod
    def from_hash(cls, fields: dict[str, str]) -> SessionRecord:
        if set(fields) != SESSION_FIELDS:
            raise ValueError(
                f"session record fields {sorted(fields)} differ from the contract's {sorted(SESSION_FIELDS)}"
            )
        return cls(
            session_id=fields["session_id"],
            user_id=fields["user_id"],
            email=fields["email"],
            status=fields["status"],
            created_at=int(fields["created_at"]),
            expires_at=int(fields["expires_at"]),
        )

    @property
    def active(self) -> bool:
        return self.status == "active"


def read_session(client: redis.Redis, prefix: str, session_id: str) -> SessionRecord | None:
    """The session's public record, or None when the key does not exist."""
    fields = client.hgetall(session_key(prefix, session_id))
    return SessionRecord.from_hash(fields) if fields else None  # type: ignore[arg-type]


def public_keyspace(client: redis.Redis, prefix: str, *, limit: int = 1000) -> dict[str, Any]:
    """The public keys under ``prefix`` (``{p}session:{id}``, at most ``limit``):
    each key's fields as stored and its TTL in seconds (-1: none). The private
    keys are never read."""
    sessions: dict[str, Any] = {}
    pattern = session_key(prefix, "").replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?") + "*"
    for key in client.scan_iter(match=pattern, count=500):
        if len(sessions) >= limit:
            break
        sessions[str(key)] = {"fields": client.hgetall(key), "ttl_s": client.ttl(key)}
    return {"prefix": prefix, "sessions": dict(sorted(sessions.items()))}
