"""Helpers of the stub tests (test_stubs.py, test_stub_faults.py): requests
sent the way authsession sends them, and a stub with a bug in it."""

from __future__ import annotations

import re
import time
from typing import Any

import requests

from contracts.user.stub import UserStub
from harness.stubs.server import HttpStub, RecordedRequest, Reply, json_reply

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACED = {"traceparent": TRACEPARENT}
"""The header authsession sends on every request to mail and users."""

MESSAGE: dict[str, Any] = {
    "to": "ada@example.com",
    "template": "login_code",
    "data": {"code": "123456", "expires_at": "2026-01-01T00:10:00Z"},
}


def send(stub: HttpStub, key: str = "ch_1", body: Any = None, timeout: float = 5, **kwargs: Any) -> requests.Response:
    """POST a message to the mail stub the way authsession does."""
    headers = {**TRACED, "Idempotency-Key": key} if key else dict(TRACED)
    payload = MESSAGE if body is None else body
    return requests.post(f"{stub.url}/v1/messages", json=payload, headers=headers, timeout=timeout, **kwargs)


def resolve(stub: UserStub, email: str, timeout: float = 5) -> requests.Response:
    return requests.post(f"{stub.url}/v1/users/resolve", json={"email": email}, headers=TRACED, timeout=timeout)


def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


class BuggyStub(HttpStub):
    """A stub whose only route has a bug."""

    name = "buggy stub"

    def __init__(self) -> None:
        super().__init__()
        self._route("GET", "/ok", lambda _req, _m: json_reply(200, {"ok": True}))
        self._route("GET", "/boom", self._boom)
        self._route("GET", "/assert", self._assert)

    def _boom(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        raise RuntimeError("stub bug: boom")

    def _assert(self, request: RecordedRequest, match: re.Match[str]) -> Reply:
        raise AssertionError("stub assertion failed")
