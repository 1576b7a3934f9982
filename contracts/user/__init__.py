"""Wire format of the user service (``contracts/user.md``)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

from contracts.errors import WireFormatError

__all__ = [
    "RESOLVE_PATH",
    "STATUSES",
    "USERS_BY_ID",
    "USERS_PATH",
    "User",
    "UserDirectory",
    "UserStatus",
    "parse_resolve_request",
    "parse_user",
]

RESOLVE_PATH = "/v1/users/resolve"
USERS_PATH = "/v1/users"
USERS_BY_ID = re.compile(re.escape(USERS_PATH) + r"/[^/]+")
"""The path of one user, ``/v1/users/{user_id}`` (for a stub's fault; ``RESOLVE_PATH`` has its shape too)."""

UserStatus = Literal["active", "disabled"]
STATUSES: tuple[UserStatus, ...] = ("active", "disabled")


@dataclass(frozen=True)
class User:
    """A user as the user service serves it."""

    id: str
    email: str
    status: UserStatus = "active"

    def to_json(self) -> dict[str, str]:
        return asdict(self)


class UserDirectory(Protocol):
    """How a scenario arranges and reads users, whichever implementation serves them: the stub
    (``contracts.user.stub``) or the user service (``contracts.user.client.UserService``). An address
    may be given in any spelling; it means its normal form."""

    def add_user(self, email: str, status: UserStatus = "active") -> User: ...

    def user_by_email(self, email: str) -> User | None: ...

    def disable(self, email_or_id: str) -> User: ...


def parse_resolve_request(body: Any, json_error: str | None = None) -> str:
    """The email of a ``POST /v1/users/resolve`` body, exactly ``{"email": "<string>"}`` as authsession sends it;
    raise :class:`WireFormatError` otherwise."""
    if json_error is not None:
        raise WireFormatError(json_error)
    if not isinstance(body, dict):
        raise WireFormatError(f"the body must be a JSON object, not {type(body).__name__}")
    if set(body) != {"email"} or not isinstance(body["email"], str):
        raise WireFormatError(f'the body must be {{"email": "<string>"}}, not {body!r}')
    email: str = body["email"]
    return email


def parse_user(body: Any) -> User:
    """A user as ``contracts/user.md`` states it (more fields may come, and are ignored);
    raise :class:`WireFormatError` if it is not one."""
    if not isinstance(body, dict):
        raise WireFormatError(f"a user is a JSON object, not {body!r}")
    user_id, email, status = body.get("id"), body.get("email"), body.get("status")
    if not isinstance(user_id, str) or not user_id or len(user_id.encode()) > 256:
        raise WireFormatError(f'"id" must be a non-empty string of at most 256 bytes, not {user_id!r}')
    if not isinstance(email, str):
        raise WireFormatError(f'"email" must be a string, not {email!r}')
    if status not in STATUSES:
        raise WireFormatError(f'"status" must be one of {STATUSES}, not {status!r}')
    return User(user_id, email, status)
