"""Wire format of the user service (``contracts/user.md``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from contracts.errors import WireFormatError

__all__ = ["RESOLVE_PATH", "STATUSES", "USERS_PATH", "User", "UserStatus", "parse_resolve_request"]

RESOLVE_PATH = "/v1/users/resolve"
USERS_PATH = "/v1/users"

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


def parse_resolve_request(body: Any, json_error: str | None = None) -> str:
    """The email of a ``POST /v1/users/resolve`` body; raise :class:`WireFormatError` if malformed."""
    if json_error is not None:
        raise WireFormatError(json_error)
    if not isinstance(body, dict):
        raise WireFormatError(f"the body must be a JSON object, not {type(body).__name__}")
    email = body.get("email")
    if not isinstance(email, str) or "@" not in email.strip("@"):
        raise WireFormatError(f'"email" must be an email address, not {email!r}')
    return email
