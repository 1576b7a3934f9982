"""When the mail or user service fails, callers get a clear, bounded error,
no session is created, and nothing is lost once the dependency recovers."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from contracts.gatewayv1 import GatewayApi
from gatewayauthsession.scenario import expect_error, log_in, session_ids
from gatewayauthsession.stack import Stack
from harness.stubs.server import HttpStub

UPSTREAM_TIMEOUT = 0.5
WAITING = "slower-than-the-deadline"

FAULTS: dict[str, Callable[[HttpStub], object]] = {
    "status-500": lambda stub: stub.fail_with(500, times=None),
    "status-503": lambda stub: stub.fail_with(503, times=None),
    "connection-drop": lambda stub: stub.drop_connection(times=None),
    WAITING: lambda stub: stub.delay(UPSTREAM_TIMEOUT * 4, times=None),
}
USER_FAULTS: dict[str, Callable[[HttpStub], object]] = {
    **FAULTS,
    "malformed-json": lambda stub: stub.malformed("invalid_json", times=None),
    "wrong-shape": lambda stub: stub.malformed("wrong_shape", times=None),
}


def _cases(faults: dict[str, Callable[[HttpStub], object]]) -> list[object]:
    """The faults as parameters; the one that makes the call wait out its deadline is marked so."""
    return [pytest.param(name, marks=[pytest.mark.waits] if name == WAITING else []) for name in faults]


@pytest.mark.stack(upstream_timeout=f"{UPSTREAM_TIMEOUT}s")
@pytest.mark.parametrize("fault", _cases(FAULTS))
@pytest.mark.rule(
    "mail.answer",
    "errors.code.dependency-unavailable",
    "errors.dependency.innermost",
    "galaxy.env.authsession-upstream-timeout",
    "openapi.response.dependency-unavailable",
)
def test_a_failing_mail_service_gives_a_clear_error_and_no_login(stack: Stack, api: GatewayApi, fault: str) -> None:
    FAULTS[fault](stack.mail)

    started = time.monotonic()
    expect_error("DEPENDENCY_UNAVAILABLE", api.start_email_login, "quinn@example.com", dependency="mail")
    assert time.monotonic() - started < UPSTREAM_TIMEOUT + 2, "the error must come within the upstream deadline"
    assert session_ids(stack) == []

    stack.mail.clear_faults()
    login = log_in(stack, api, "quinn@example.com")
    assert api.me(login.access_token).email == "quinn@example.com"


@pytest.mark.needs_stub(
    "user", "programs the stub's faults (statuses, malformed bodies); authsessionuser breaks the link"
)
@pytest.mark.stack(upstream_timeout=f"{UPSTREAM_TIMEOUT}s")
@pytest.mark.parametrize("fault", _cases(USER_FAULTS))
@pytest.mark.rule(
    "user.resolve-on-confirm",
    "user.answer-fields",
    "errors.code.dependency-unavailable",
    "errors.dependency.innermost",
    "galaxy.env.authsession-upstream-timeout",
    "redis.private.challenge",
)
def test_a_failing_user_service_gives_a_clear_error_and_keeps_the_code(
    stack: Stack, api: GatewayApi, fault: str
) -> None:
    challenge = api.start_email_login("ruth@example.com")
    code = stack.mail.last_code("ruth@example.com")
    USER_FAULTS[fault](stack.user_stub)

    started = time.monotonic()
    expect_error("DEPENDENCY_UNAVAILABLE", api.confirm_email_login, challenge.challenge_id, code, dependency="user")
    assert time.monotonic() - started < UPSTREAM_TIMEOUT + 2, "the error must come within the upstream deadline"
    assert session_ids(stack) == []

    # Nothing was lost: once the user service is back, the same code works.
    stack.user_stub.clear_faults()
    login = api.confirm_email_login(challenge.challenge_id, code)
    assert session_ids(stack) == [login.session_id]


@pytest.mark.stack(resend_cooldown="1h", start_limit_per_email=1, start_limit_per_client=1)
@pytest.mark.rule(
    "redis.private.resend-cooldown", "redis.private.starts-email", "redis.private.starts-client", "mail.answer"
)
def test_a_code_the_mail_service_failed_to_send_uses_up_no_limit(stack: Stack, api: GatewayApi) -> None:
    stack.mail.fail_with(503)  # once
    expect_error("DEPENDENCY_UNAVAILABLE", api.start_email_login, "quill@example.com", dependency="mail")

    # The cooldown, the email's start and the client's start were given back: the retry is the first start.
    login = log_in(stack, api, "quill@example.com")
    assert api.me(login.access_token).email == "quill@example.com"
    expect_error("RATE_LIMITED", api.start_email_login, "quill@example.com")  # and the limits still hold
