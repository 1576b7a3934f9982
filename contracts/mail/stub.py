"""A stateful stub of the mail service (contracts/mail.md).

``POST /v1/messages`` with ``Idempotency-Key``, a well-formed
``traceparent`` if any (``contracts/tracing.md``) and
``{"to", "template", "data": {"code", ...}}`` is validated strictly — a
malformed request is answered 400 and counted as a contract violation, so a
broken caller fails :meth:`~harness.stubs.server.HttpStub.check` — and a valid
one is stored and answered ``202 {"id": ...}``. The same Idempotency-Key
again gets the same id and stores nothing new.

Tests read what was delivered with :attr:`MailStub.messages`,
:meth:`MailStub.messages_to` and :meth:`MailStub.last_code`.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from contracts.errors import WireFormatError
from contracts.mail import MESSAGES_PATH, parse_message_request
from harness.stubs.server import HttpStub, RecordedRequest, Reply, json_reply, problem_reply

__all__ = ["MESSAGES_PATH", "MailMessage", "MailStub"]


@dataclass(frozen=True)
class MailMessage:
    """A message the stub accepted for delivery."""

    to: str
    template: str
    data: dict[str, Any]
    idempotency_key: str
    id: str


class MailStub(HttpStub):
    """The mail service: accepts and stores messages; see the module docstring."""

    name = "mail stub"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self._messages: list[MailMessage] = []
        self._by_key: dict[str, MailMessage] = {}
        self._route("POST", re.escape(MESSAGES_PATH), self._post_message)

    # ----------------------------------------------------------------- inspection

    @property
    def messages(self) -> list[MailMessage]:
        """Every message accepted so far, oldest first (a copy; replays are not repeated)."""
        with self._lock:
            return list(self._messages)

    def messages_to(self, email: str) -> list[MailMessage]:
        """The messages accepted for ``email`` (compared case-insensitively), oldest first."""
        wanted = email.casefold()
        return [m for m in self.messages if m.to.casefold() == wanted]

    def last_code(self, email: str) -> str:
        """The code of the latest message to ``email`` that carries one.

        Raises ``AssertionError`` listing what *was* delivered when there is none.
        """
        for message in reversed(self.messages_to(email)):
            code = message.data.get("code")
            if isinstance(code, str):
                return code
        delivered = self.messages
        listing = "\n".join(
            f"  - to={m.to!r} template={m.template!r} code={m.data.get('code')!r} id={m.id}" for m in delivered
        )
        raise AssertionError(
            f"{self.name} delivered no code to {email!r}; it delivered {len(delivered)} message(s)"
            + (f":\n{listing}" if delivered else "")
        )

    # ----------------------------------------------------------------- serving

    def secrets(self) -> set[str]:
        """Every login code authsession asked to mail (delivered or not): no log may hold one."""
        return {
            str(r.json["data"].get("code"))
            for r in self.requests
            if isinstance(r.json, dict) and isinstance(r.json.get("data"), dict)
        }

    def _reset_state(self) -> None:
        self._messages.clear()
        self._by_key.clear()

    def _post_message(self, request: RecordedRequest, _match: re.Match[str]) -> Reply:
        try:
            req = parse_message_request(request.headers, request.json, request.json_error)
        except WireFormatError as exc:
            return problem_reply(HTTPStatus.BAD_REQUEST, str(exc), violation=True)
        key, to, template, data = req.idempotency_key, req.to, req.template, req.data
        with self._lock:
            known = self._by_key.get(key)
            if known is None:
                message = MailMessage(to, template, data, key, f"msg_{secrets.token_hex(8)}")
                self._messages.append(message)
                self._by_key[key] = message
                return json_reply(HTTPStatus.ACCEPTED, {"id": message.id})
        if (known.to, known.template, known.data) != (to, template, data):
            return problem_reply(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                f"Idempotency-Key {key!r} reused with a different message (first: to={known.to!r} "
                f"template={known.template!r} data={known.data!r})",
                violation=True,
            )
        return json_reply(HTTPStatus.ACCEPTED, {"id": known.id})
