"""Wire format of the mail service (``contracts/mail.md``): what authsession sends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts.errors import WireFormatError
from contracts.tracing import Traceparent, check_traceparent

__all__ = ["LOGIN_CODE_TEMPLATE", "MESSAGES_PATH", "MessageRequest", "parse_message_request"]

MESSAGES_PATH = "/v1/messages"
LOGIN_CODE_TEMPLATE = "login_code"


@dataclass(frozen=True)
class MessageRequest:
    idempotency_key: str
    to: str
    template: str
    data: dict[str, Any]
    traceparent: Traceparent | None


def parse_message_request(headers: Mapping[str, str], body: Any, json_error: str | None = None) -> MessageRequest:
    """Validate ``POST /v1/messages`` (headers with lower-cased names, the
    decoded JSON body); raise :class:`WireFormatError` saying what is wrong."""
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise WireFormatError(f"Content-Type must be application/json, not {content_type or 'missing'!r}")
    key = headers.get("idempotency-key", "").strip()
    if not key:
        raise WireFormatError("the Idempotency-Key header is missing or empty")
    traceparent = check_traceparent(headers)
    if json_error is not None:
        raise WireFormatError(json_error)
    if body is None:
        raise WireFormatError("the body is empty")
    if not isinstance(body, dict):
        raise WireFormatError(f"the body must be a JSON object, not {type(body).__name__}")
    to, template, data = body.get("to"), body.get("template"), body.get("data")
    if not isinstance(to, str) or "@" not in to.strip("@"):
        raise WireFormatError(f'"to" must be an email address, not {to!r}')
    if template != LOGIN_CODE_TEMPLATE:
        raise WireFormatError(f'"template" must be {LOGIN_CODE_TEMPLATE!r}, not {template!r}')
    if not isinstance(data, dict):
        raise WireFormatError(f'"data" must be an object, not {data!r}')
    code = data.get("code")
    if not isinstance(code, str) or not code:
        raise WireFormatError(f'"data.code" must be a non-empty string, not {code!r}')
    expires_at = data.get("expires_at")
    try:
        if not isinstance(expires_at, str) or datetime.fromisoformat(expires_at).tzinfo is None:
            raise ValueError
    except ValueError:
        raise WireFormatError(f'"data.expires_at" must be an RFC 3339 time with a zone, not {expires_at!r}') from None
    return MessageRequest(key, to, template, data, traceparent)
