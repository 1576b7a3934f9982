"""A stateful stub of the mail service (contracts/mail.md).

``POST /v1/messages`` with ``Idempotency-Key`` and
``{"to", "template", "data": {"code", ...}}`` is validated strictly — a
malformed request is answered 400 and counted as a contract violation, so a
broken caller fails :meth:`~harness.http_stub.HttpStub.check` — and a valid
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

from harness.http_stub import HttpStub, RecordedRequest, Reply, json_reply, problem_reply

__all__ = ["MESSAGES_PATH", "MailMessage", "MailStub"]

MESSAGES_PATH = "/v1/messages"


@dataclass(frozen=True)
class MailMessage:
    """A message the stub accepted for delivery."""

    to: str
    template: str
    data: dict[str, Any]
    idempotency_key: str
    id: str


class _InvalidRequest(Exception):
    """The request breaks the mail contract; the message says how."""


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

    def _reset_state(self) -> None:
        self._messages.clear()
        self._by_key.clear()

    def _post_message(self, request: RecordedRequest, _match: re.Match[str]) -> Reply:
        try:
            key, to, template, data = _validate(request)
        except _InvalidRequest as exc:
            return problem_reply(HTTPStatus.BAD_REQUEST, str(exc), violation=True)
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


def _validate(request: RecordedRequest) -> tuple[str, str, str, dict[str, Any]]:
    """``(idempotency_key, to, template, data)`` of a valid request; raises :class:`_InvalidRequest`."""
    content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise _InvalidRequest(f"Content-Type must be application/json, not {content_type or 'missing'!r}")
    key = (request.header("idempotency-key") or "").strip()
    if not key:
        raise _InvalidRequest("the Idempotency-Key header is missing or empty")
    if request.json_error is not None or not request.body:
        raise _InvalidRequest(request.json_error or "the body is empty")
    body = request.json
    if not isinstance(body, dict):
        raise _InvalidRequest(f"the body must be a JSON object, not {type(body).__name__}")
    to, template, data = body.get("to"), body.get("template"), body.get("data")
    if not isinstance(to, str) or "@" not in to.strip("@"):
        raise _InvalidRequest(f'"to" must be an email address, not {to!r}')
    if not isinstance(template, str) or not template:
        raise _InvalidRequest(f'"template" must be a non-empty string, not {template!r}')
    if not isinstance(data, dict):
        raise _InvalidRequest(f'"data" must be an object, not {data!r}')
    code = data.get("code")
    if not isinstance(code, str) or not code:
        raise _InvalidRequest(f'"data.code" must be a non-empty string, not {code!r}')
    return key, to, template, data
