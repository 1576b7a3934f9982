"""Hand-made histories for the checker's tests: each operation invoked and
answered at times given in milliseconds, in the session model's vocabulary."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

from harness.robustness.history import Event, History

__all__ = ["MS", "HandMade", "pair"]

MS = 1_000_000
GRACE_30S = 30_000 * MS


class HandMade:
    """A history built one operation at a time; ids count from 1 in the order added."""

    def __init__(self, *, grace_ns: int = GRACE_30S, seed: Any = 1234, meta: dict[str, Any] | None = None) -> None:
        self.history = History(seed=seed, params={"retry_grace_ns": grace_ns}, meta=meta or {}, started_ns=0)
        self.history.started_at = 1_767_225_600.0
        self.ids = 0

    def op(  # noqa: PLR0917 - one operation a line, read as a table
        self,
        client: int,
        name: str,
        input: dict[str, Any],
        call: int,
        ret: int | None,
        status: Literal["ok", "fail", "unknown"] = "ok",
        output: dict[str, Any] | None = None,
    ) -> Self:
        """Add an operation invoked at ``call`` ms and completed at ``ret`` ms as ``status``
        (``ret`` None: no completion was recorded)."""
        self.ids += 1
        self.history.events.append(Event("invoke", self.ids, client, name, call * MS, input))
        if ret is not None:
            self.history.events.append(Event(status, self.ids, client, name, ret * MS, output or {}))
        return self

    def login(  # noqa: PLR0917 - as op
        self, client: int, challenge: str, session: str, token: str, access: str, call: int, ret: int
    ) -> Self:
        return self.op(
            client,
            "confirm",
            {"challenge_id": challenge, "code": "123456"},
            call,
            ret,
            "ok",
            pair(session, token, access),
        )

    def write(self, path: Path) -> Path:
        return self.history.write(path)


def pair(session: str, token: str, access: str, user: str = "u1") -> dict[str, Any]:
    return {"session_id": session, "user_id": user, "refresh_token": token, "access_token": access}
