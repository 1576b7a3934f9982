"""A stateful stub of the user service (contracts/user.md).

* ``POST /v1/users/resolve {"email": ...}`` answers the user named by the
  address's normal form (``contracts/email.md``, read by :mod:`contracts.email`)
  with 200, or creates an active one and answers 201; ``email`` in the answer
  is the normal form. Like the user service, it answers an address the policy
  refuses 400 ``INVALID_ARGUMENT``, creating nothing, and a spelling that is
  not its own normal form by the user of its normal form. authsession sends
  only normal forms, so either also counts as a contract violation of the
  caller (see :meth:`~harness.stubs.server.HttpStub.check`), as does a body
  other than ``{"email": "<string>"}`` (400 ``INVALID_ARGUMENT``).
* ``GET /v1/users/{id}`` answers the user (200) or a problem whose code is
  ``NOT_FOUND`` (404).
* A request whose ``traceparent`` is malformed (``contracts/tracing.md``)
  is answered 400 and counted as a contract violation.

A user is ``{"id": "usr_<32 hex digits>", "email": ..., "status": "active" | "disabled"}``.
Tests arrange users with :meth:`UserStub.add_user` and :meth:`UserStub.disable`
and read them with :attr:`UserStub.users` and :meth:`UserStub.user_by_email`
(each takes any spelling of an address, and means its normal form);
:meth:`UserStub.cross_resolve` makes a change cross one email's resolve answer
on its way (answered as the user stood, the change made before it arrives),
whatever other resolves run beside it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import replace
from http import HTTPStatus

from contracts.email import EmailRefused, normalize
from contracts.errors import WireFormatError
from contracts.tracing import check_traceparent
from contracts.user import RESOLVE_PATH, STATUSES, USERS_PATH, User, UserStatus, parse_resolve_request
from harness.stubs.server import HttpStub, RecordedRequest, Reply, json_reply, problem_reply

__all__ = ["User", "UserStatus", "UserStub"]


class UserStub(HttpStub):
    """The user service: resolves and serves users; see the module docstring."""

    name = "user stub"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self._users: dict[str, User] = {}
        self._users_by_email: dict[str, str] = {}  # normal form -> id
        self._crossings: dict[str, list[Callable[[], object]]] = {}  # normal form -> changes, in order
        self._route("POST", re.escape(RESOLVE_PATH), self._resolve)
        self._route("GET", re.escape(USERS_PATH) + r"/(?P<id>[^/]+)", self._get)

    # ----------------------------------------------------------------- arrangement and inspection

    @property
    def users(self) -> dict[str, User]:
        """Every user by id (a copy)."""
        with self._lock:
            return dict(self._users)

    def add_user(self, email: str, status: UserStatus = "active") -> User:
        """Create a user; ``ValueError`` if one with that normal form exists (or the policy refuses the address)."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {status!r}")
        normal = normalize(email)
        with self._lock:
            existing = self._users_by_email.get(normal)
            if existing is not None:
                raise ValueError(f"{self.name} already has a user with email {normal!r}: {self._users[existing]}")
            return self._create(normal, status)

    def disable(self, email_or_id: str) -> User:
        """Mark the user with that id or email as disabled; returns it. ``LookupError`` if unknown."""
        with self._lock:
            user = self._users.get(email_or_id) or self._find_email(email_or_id)
            if user is None:
                known = ", ".join(f"{u.id} <{u.email}>" for u in self._users.values()) or "none"
                raise LookupError(f"{self.name} has no user {email_or_id!r}; known users: {known}")
            user = replace(user, status="disabled")
            self._users[user.id] = user
            return user

    def cross_resolve(self, email: str, meanwhile: Callable[[], object]) -> None:
        """A resolve of ``email`` (any spelling: its normal form) is answered as the user stands,
        and ``meanwhile`` runs, in the stub's thread, before that answer is sent: a change (a
        disable, a revocation) that crosses the answer on its way. Crossings of one email are
        run one a resolve, in the order they were set."""
        with self._lock:
            self._crossings.setdefault(_normal(email), []).append(meanwhile)

    def uncross_resolve(self, email: str, meanwhile: Callable[[], object]) -> bool:
        """Forget that crossing of ``email``; False when a resolve already ran it (or it was never set)."""
        with self._lock:
            waiting = self._crossings.get(_normal(email), [])
            if meanwhile not in waiting:
                return False
            waiting.remove(meanwhile)
            return True

    def user_by_email(self, email: str) -> User | None:
        """The user named by the normal form of ``email``, or None."""
        with self._lock:
            return self._find_email(email)

    # ----------------------------------------------------------------- serving

    def _reset_state(self) -> None:
        self._users.clear()
        self._users_by_email.clear()
        self._crossings.clear()

    def _find_email(self, email: str) -> User | None:
        found = self._users_by_email.get(_normal(email))  # a refused address is no user's normal form
        return self._users[found] if found is not None else None

    def _create(self, normal: str, status: UserStatus) -> User:
        user = User(f"usr_{secrets.token_hex(16)}", normal, status)
        self._users[user.id] = user
        self._users_by_email[normal] = user.id
        return user

    def _resolve(self, request: RecordedRequest, _match: re.Match[str]) -> Reply:
        try:
            check_traceparent(request.headers)
            email = parse_resolve_request(request.json, request.json_error)
            normal = normalize(email)
        except (WireFormatError, EmailRefused) as exc:
            return problem_reply(HTTPStatus.BAD_REQUEST, str(exc), code="INVALID_ARGUMENT", violation=True)
        with self._lock:
            found = self._users_by_email.get(normal)
            if found is not None:
                reply = json_reply(HTTPStatus.OK, self._users[found].to_json())
            else:
                reply = json_reply(HTTPStatus.CREATED, self._create(normal, "active").to_json())
            waiting = self._crossings.get(normal)
            crossing = waiting.pop(0) if waiting else None
        if crossing is not None:
            crossing()
        if normal != email:  # answered as the user service answers it, but authsession sends only normal forms
            return replace(reply, violation=f"{email!r} is not a normal form (contracts/email.md: {normal!r})")
        return reply

    def _get(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        try:
            check_traceparent(request.headers)
        except WireFormatError as exc:
            return problem_reply(HTTPStatus.BAD_REQUEST, str(exc), violation=True)
        with self._lock:
            user = self._users.get(match["id"])
        if user is None:
            return problem_reply(HTTPStatus.NOT_FOUND, f"no user {match['id']!r}", code="NOT_FOUND")
        return json_reply(HTTPStatus.OK, user.to_json())


def _normal(email: str) -> str:
    """The normal form of ``email``, or ``email`` itself where the policy refuses it (no resolve of it is answered)."""
    try:
        return normalize(email)
    except EmailRefused:
        return email
