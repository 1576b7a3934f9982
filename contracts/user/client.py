"""HTTP clients of the user service: its public API (``contracts/user.md``), which
authsession calls, and its admin API (``galaxy/README.md``, section "user"),
which operators call to disable and enable a user; and :class:`UserService`,
both behind the arrangement a scenario makes of users (the user stub's:
``add_user``, ``user_by_email``, ``disable``).

Errors are problem documents, raised as :class:`~contracts.errors.ApiError`
(:mod:`contracts.http`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from contracts.errors import ApiError
from contracts.http import JsonHttpClient
from contracts.tracing import TraceSource
from contracts.user import RESOLVE_PATH, STATUSES, USERS_PATH, User, UserStatus, parse_user

__all__ = [
    "ADMIN_USERS_PATH",
    "AdminUser",
    "Resolved",
    "Revocation",
    "UserAdminClient",
    "UserApiClient",
    "UserService",
    "user_service",
]

ADMIN_USERS_PATH = "/v1/admin/users"

RevocationState = Literal["none", "pending", "done"]


@dataclass(frozen=True)
class Resolved:
    """The answer to a resolve: the user, and whether this call created it (201) or found it (200)."""

    user: User
    created: bool


class UserApiClient(JsonHttpClient):
    """The public API, as authsession calls it."""

    def resolve(self, email: str) -> Resolved:
        resp = self._answer("POST", RESOLVE_PATH, json={"email": email})
        if resp.status_code not in (200, 201):
            raise AssertionError(f"resolve answered {resp.status_code}, which contracts/user.md does not name")
        return Resolved(parse_user(resp.json()), resp.status_code == 201)

    def get(self, user_id: str) -> User:
        return parse_user(self._answer("GET", f"{USERS_PATH}/{quote(user_id, safe='')}").json())


@dataclass(frozen=True)
class Revocation:
    """What became of the sessions of the user's latest disable."""

    state: RevocationState
    generation: int | None = None
    attempts: int | None = None
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_sessions: int | None = None


@dataclass(frozen=True)
class AdminUser:
    """A user as the admin API shows it; ``http_status`` is the answer's (a disable: 200 done, 202 pending)."""

    id: str
    email: str
    status: UserStatus
    generation: int
    created_at: datetime
    status_changed_at: datetime
    revocation: Revocation
    http_status: int

    @property
    def user(self) -> User:
        return User(self.id, self.email, self.status)


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _admin_user(status: int, body: dict[str, Any]) -> AdminUser:
    rev = body["revocation"]
    if body["status"] not in STATUSES or rev["state"] not in ("none", "pending", "done"):
        raise AssertionError(f"not an admin view of a user: {body}")
    return AdminUser(
        id=body["id"],
        email=body["email"],
        status=body["status"],
        generation=int(body["generation"]),
        created_at=datetime.fromisoformat(body["created_at"]),
        status_changed_at=datetime.fromisoformat(body["status_changed_at"]),
        revocation=Revocation(
            state=rev["state"],
            generation=rev.get("generation"),
            attempts=rev.get("attempts"),
            last_error=rev.get("last_error"),
            next_attempt_at=_time(rev.get("next_attempt_at")),
            revoked_at=_time(rev.get("revoked_at")),
            revoked_sessions=rev.get("revoked_sessions"),
        ),
        http_status=status,
    )


class UserAdminClient(JsonHttpClient):
    """The admin API: read a user with the state of its sessions' revocation, disable it, enable it again."""

    def _admin(self, method: str, user_id: str, action: str = "") -> AdminUser:
        resp = self._answer(method, f"{ADMIN_USERS_PATH}/{quote(user_id, safe='')}{action}")
        return _admin_user(resp.status_code, resp.json())

    def get(self, user_id: str) -> AdminUser:
        return self._admin("GET", user_id)

    def disable(self, user_id: str) -> AdminUser:
        """200 once authsession acknowledged the revocation of every session of the user, else 202 (pending)."""
        return self._admin("POST", user_id, "/disable")

    def enable(self, user_id: str) -> AdminUser:
        """200; 503 ``DEPENDENCY_UNAVAILABLE`` (authsession) while the revocation is pending."""
        return self._admin("POST", user_id, "/enable")


class UserService:
    """The real user service, arranged as a scenario arranges the user stub (the same three calls),
    through its public and admin APIs."""

    def __init__(self, api: UserApiClient, admin: UserAdminClient) -> None:
        self.api = api
        self.admin = admin

    def add_user(self, email: str, status: UserStatus = "active") -> User:
        """Create the user of ``email``; ``ValueError`` if it exists. A disabled one is created and disabled
        (which, with no session yet, revokes nothing)."""
        resolved = self.api.resolve(email)
        if not resolved.created:
            raise ValueError(f"the user service already has a user with email {email!r}: {resolved.user}")
        return self.admin.disable(resolved.user.id).user if status == "disabled" else resolved.user

    def user_by_email(self, email: str) -> User | None:
        """The user of ``email``, or None when the service did not know it. The service has no lookup
        that leaves an unknown address alone: asking is resolving, which then creates the user."""
        resolved = self.api.resolve(email)
        return None if resolved.created else resolved.user

    def disable(self, email_or_id: str) -> User:
        """Disable the user (by id, or by an address it knows): the service ends its sessions too."""
        user_id = email_or_id
        if "@" in email_or_id:
            resolved = self.api.resolve(email_or_id)
            if resolved.created:
                raise LookupError(f"the user service had no user {email_or_id!r} (asking created it)")
            user_id = resolved.user.id
        try:
            return self.admin.disable(user_id).user
        except ApiError as err:
            if err.code == "NOT_FOUND":
                raise LookupError(f"the user service has no user {email_or_id!r}") from err
            raise

    def close(self) -> None:
        self.api.close()
        self.admin.close()


def user_service(http_url: str, admin_url: str, *, trace: TraceSource | None = None) -> UserService:
    """Clients of the user service whose APIs are at ``http_url`` and ``admin_url``."""
    return UserService(UserApiClient(http_url, trace=trace), UserAdminClient(admin_url, trace=trace))
