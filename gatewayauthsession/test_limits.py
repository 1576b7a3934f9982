"""Abuse limits: attempts, cooldowns and rate limits answer RATE_LIMITED with
a retry hint (Retry-After / RetryInfo), over HTTP and gRPC."""

from __future__ import annotations

import pytest

from contracts.gatewayv1 import GatewayApi
from gatewayauthsession.scenario import REPEATED_LOGINS, expect_error, log_in, wrong_code
from gatewayauthsession.stack import Stack


@pytest.mark.stack(resend_cooldown="30s")
@pytest.mark.rule(
    "galaxy.env.authsession-resend-cooldown",
    "redis.private.resend-cooldown",
    "errors.code.rate-limited",
    "errors.http.retry-after",
    "errors.grpc.retry-info",
    "openapi.response.rate-limited",
    "openapi.header.retry-after",
)
def test_a_resend_within_the_cooldown_is_refused_with_a_retry_hint(stack: Stack, api: GatewayApi) -> None:
    api.start_email_login("ola@example.com")

    err = expect_error("RATE_LIMITED", api.start_email_login, "ola@example.com")
    assert err.retry_after is not None
    assert 20 <= err.retry_after <= 30, "the hint is what is left of the 30 s cooldown, rounded up"
    assert len(stack.mail.messages_to("ola@example.com")) == 1
    api.start_email_login("other@example.com")  # the cooldown is per email


@REPEATED_LOGINS
@pytest.mark.stack(start_limit_per_email=2)
@pytest.mark.rule(
    "galaxy.env.authsession-start-limit-per-email",
    "galaxy.env.authsession-start-limit-window",
    "redis.private.starts-email",
    "errors.code.rate-limited",
    "errors.http.retry-after",
    "errors.grpc.retry-info",
)
def test_starting_logins_is_limited_per_email(stack: Stack, api: GatewayApi) -> None:
    api.start_email_login("pia@example.com")
    api.start_email_login("pia@example.com")

    err = expect_error("RATE_LIMITED", api.start_email_login, "pia@example.com")
    assert err.retry_after is not None
    assert 3500 <= err.retry_after <= 3600, "the hint is what is left of the one-hour start limit window"
    assert len(stack.mail.messages_to("pia@example.com")) == 2


@pytest.mark.stack(start_limit_per_client=3)
@pytest.mark.rule(
    "galaxy.env.authsession-start-limit-per-client",
    "redis.private.starts-client",
    "authsessionv1.client-id",
    "errors.code.rate-limited",
)
def test_starting_logins_is_limited_per_client(stack: Stack, api: GatewayApi) -> None:
    for n in range(3):
        api.start_email_login(f"user{n}@example.com")

    err = expect_error("RATE_LIMITED", api.start_email_login, "user9@example.com")
    # The hint points into the start-limit window (an hour), not at once.
    assert err.retry_after is not None
    assert 1 <= err.retry_after <= 3600, err
    assert len(stack.mail.messages) == 3


@pytest.mark.stack(failed_attempts_per_hour=3, code_max_attempts=10)
@pytest.mark.rule(
    "galaxy.env.authsession-failed-attempts-per-hour",
    "redis.private.failed-attempts",
    "errors.code.rate-limited",
    "errors.code.invalid-code",
)
def test_failed_attempts_are_capped_per_email_and_a_resend_does_not_reset_them(stack: Stack, api: GatewayApi) -> None:
    first = api.start_email_login("quin@example.com")
    code = stack.mail.last_code("quin@example.com")
    for _ in range(3):
        expect_error("INVALID_CODE", api.confirm_email_login, first.challenge_id, wrong_code(code))

    # The cap is reached: even the right code is refused, and a new challenge does not help.
    expect_error("RATE_LIMITED", api.confirm_email_login, first.challenge_id, code)
    expect_error("RATE_LIMITED", api.start_email_login, "quin@example.com")
    log_in(stack, api, "someone-else@example.com")  # other emails are unaffected


@pytest.mark.stack(login_rate_per_minute=1, login_burst=3)
@pytest.mark.rule(
    "openapi.rate-limit.login",
    "galaxy.env.gateway-login-burst",
    "errors.http.retry-after",
    "errors.grpc.retry-info",
    "openapi.header.retry-after",
)
def test_the_gateway_rate_limits_login_endpoints_per_client(stack: Stack, api: GatewayApi) -> None:
    for n in range(3):
        api.start_email_login(f"burst{n}@example.com")

    err = expect_error("RATE_LIMITED", api.start_email_login, "burst9@example.com")
    assert err.retry_after is not None
    assert err.retry_after >= 1
    assert len(stack.mail.messages) == 3  # the refused call never reached authsession
