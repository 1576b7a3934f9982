"""Email one-time-code login through the gateway, over HTTP and gRPC."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest

from contracts.authsessionv1.client import AuthSessionGrpcClient
from contracts.gatewayv1 import GatewayApi
from contracts.health import grpc_health
from gatewayauthsession.scenario import REPEATED_LOGINS, expect_error, log_in, session_ids, wrong_code
from gatewayauthsession.stack import Stack


@pytest.mark.smoke
@pytest.mark.rule(
    "mail.request",
    "openapi.start.challenge-created",
    "openapi.start.challenge-id",
    "openapi.confirm.new-session",
    "openapi.confirm.session-created",
    "authsessionv1.confirm.new-session",
    "openapi.me.session",
    "openapi.me.email",
    "openapi.link.confirm-the-challenge",
    "openapi.link.with-get-me",
    "gatewayv1.get-me",
    "user.resolve-on-confirm",
    "authsessionv1.refresh-token",
    "redis.session.record",
)
def test_login_then_me_describes_the_session(stack: Stack, api: GatewayApi) -> None:
    challenge = api.start_email_login("ada@example.com")
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", challenge.challenge_id), challenge.challenge_id  # 16 bytes, base64url
    assert challenge.expires_at > datetime.now(UTC)

    [message] = stack.mail.messages_to("ada@example.com")
    code = message.data["code"]
    assert len(code) == 6
    assert code.isdigit()
    assert message.idempotency_key == challenge.challenge_id

    login = api.confirm_email_login(challenge.challenge_id, code)
    # A new session, with an id of its own: not the challenge's, which the mail and the client already hold.
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", login.session_id), login.session_id
    assert login.session_id != challenge.challenge_id, "the session took the id of its challenge"
    assert login.token_type == "Bearer"
    assert login.access_token.count(".") == 2
    assert len(login.refresh_token) >= 22  # at least 128 bits, base64url
    user = stack.users.user_by_email("ada@example.com")
    assert user is not None
    assert login.user_id == user.id

    me = api.me(login.access_token)
    assert (me.user_id, me.email, me.session_id) == (login.user_id, "ada@example.com", login.session_id)
    assert session_ids(stack) == [login.session_id]


@pytest.mark.smoke
@pytest.mark.rule("errors.code.invalid-code", "openapi.response.invalid-argument-or-code")
def test_wrong_code_is_rejected_and_the_right_one_still_works(stack: Stack, api: GatewayApi) -> None:
    challenge = api.start_email_login("bob@example.com")
    code = stack.mail.last_code("bob@example.com")
    wrong = wrong_code(code)

    expect_error("INVALID_CODE", api.confirm_email_login, challenge.challenge_id, wrong)
    assert session_ids(stack) == []

    login = api.confirm_email_login(challenge.challenge_id, code)
    assert api.me(login.access_token).email == "bob@example.com"


@pytest.mark.smoke
@pytest.mark.rule("tokens.retry.confirm", "tokens.retry.window")
def test_confirming_twice_within_the_grace_window_answers_the_same_session(stack: Stack, api: GatewayApi) -> None:
    """A client whose confirm answer was lost retries it (contracts/tokens.md, "Retries")."""
    challenge = api.start_email_login("carol@example.com")
    code = stack.mail.last_code("carol@example.com")
    first = api.confirm_email_login(challenge.challenge_id, code)

    again = api.confirm_email_login(challenge.challenge_id, code)

    assert (again.session_id, again.user_id, again.refresh_token) == (
        first.session_id,
        first.user_id,
        first.refresh_token,
    )
    assert session_ids(stack) == [first.session_id]
    assert api.me(again.access_token).session_id == first.session_id
    assert api.refresh_session(again.refresh_token).session_id == first.session_id


@pytest.mark.rule("tokens.retry.confirm-wrong-code", "errors.code.challenge-not-found")
def test_a_wrong_code_on_a_consumed_challenge_is_not_found(stack: Stack, api: GatewayApi) -> None:
    challenge = api.start_email_login("cody@example.com")
    code = stack.mail.last_code("cody@example.com")
    first = api.confirm_email_login(challenge.challenge_id, code)

    expect_error("CHALLENGE_NOT_FOUND", api.confirm_email_login, challenge.challenge_id, wrong_code(code))
    assert session_ids(stack) == [first.session_id]


@pytest.mark.rule("tokens.retry.confirm-after-window")
def test_a_used_code_is_refused_once_its_session_refreshed(stack: Stack, api: GatewayApi) -> None:
    challenge = api.start_email_login("cleo@example.com")
    code = stack.mail.last_code("cleo@example.com")
    first = api.confirm_email_login(challenge.challenge_id, code)
    api.refresh_session(first.refresh_token)  # the client clearly got its answer

    expect_error("CHALLENGE_NOT_FOUND", api.confirm_email_login, challenge.challenge_id, code)
    assert session_ids(stack) == [first.session_id]


@pytest.mark.stack(retry_grace="1s")
@pytest.mark.waits
@pytest.mark.rule("tokens.retry.confirm-after-window", "galaxy.env.authsession-retry-grace")
def test_a_code_cannot_be_used_again_after_the_grace_window(stack: Stack, api: GatewayApi) -> None:
    challenge = api.start_email_login("cory@example.com")
    code = stack.mail.last_code("cory@example.com")
    first = api.confirm_email_login(challenge.challenge_id, code)

    time.sleep(1.2)  # the configured window, plus a margin

    expect_error("CHALLENGE_NOT_FOUND", api.confirm_email_login, challenge.challenge_id, code)
    assert session_ids(stack) == [first.session_id]


@pytest.mark.stack(retry_grace="0s")
@pytest.mark.rule("tokens.retry.grace-zero")
def test_without_a_grace_window_a_code_cannot_be_used_twice(stack: Stack, api: GatewayApi) -> None:
    challenge = api.start_email_login("cyd@example.com")
    code = stack.mail.last_code("cyd@example.com")
    first = api.confirm_email_login(challenge.challenge_id, code)

    expect_error("CHALLENGE_NOT_FOUND", api.confirm_email_login, challenge.challenge_id, code)
    assert session_ids(stack) == [first.session_id]


@pytest.mark.stack(code_ttl="1s")
@pytest.mark.smoke
@pytest.mark.waits
@pytest.mark.rule(
    "galaxy.env.authsession-code-ttl",
    "openapi.start.expires-at",
    "errors.code.challenge-not-found",
    "openapi.response.challenge-not-found",
)
def test_an_expired_code_is_rejected(stack: Stack, api: GatewayApi) -> None:
    challenge = api.start_email_login("dan@example.com")
    code = stack.mail.last_code("dan@example.com")
    assert (challenge.expires_at - datetime.now(UTC)).total_seconds() <= 1.5

    time.sleep(1.2)  # the configured code lifetime, plus a margin

    expect_error("CHALLENGE_NOT_FOUND", api.confirm_email_login, challenge.challenge_id, code)
    assert session_ids(stack) == []


@pytest.mark.rule("errors.code.challenge-not-found", "openapi.response.challenge-not-found")
def test_an_unknown_challenge_is_rejected(stack: Stack, api: GatewayApi) -> None:
    expect_error("CHALLENGE_NOT_FOUND", api.confirm_email_login, "AAAAAAAAAAAAAAAAAAAAAA", "123456")
    assert session_ids(stack) == []


@pytest.mark.parametrize(
    "email",
    [
        "",
        "not-an-email",
        "@example.com",
        "ada@",
        "Ada <ada@example.com>",
        "a" * 250 + "@example.com",
        "ada@exa mple.com",
    ],
    ids=["empty", "no-at", "no-local", "no-domain", "display-name", "too-long", "space"],
)
@pytest.mark.rule(
    "email.refused.structure",
    "email.refused.lengths",
    "email.refused.invisible",
    "email.refused.before-anything",
    "errors.code.invalid-argument",
)
def test_a_malformed_email_is_rejected(stack: Stack, api: GatewayApi, email: str) -> None:
    expect_error("INVALID_ARGUMENT", api.start_email_login, email)
    assert stack.mail.messages == []


@pytest.mark.stack(code_max_attempts=1, failed_attempts_per_hour=1)
@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 456"])
@pytest.mark.rule("openapi.confirm.code", "errors.code.invalid-argument", "redis.private.challenge")
def test_a_malformed_code_is_rejected_and_does_not_count_as_an_attempt(
    stack: Stack, api: GatewayApi, code: str
) -> None:
    challenge = api.start_email_login("eve@example.com")
    for _ in range(2):
        expect_error("INVALID_ARGUMENT", api.confirm_email_login, challenge.challenge_id, code)

    # One counted attempt would have burned the challenge and reached the
    # email's cap: the right code still opens a session.
    login = api.confirm_email_login(challenge.challenge_id, stack.mail.last_code("eve@example.com"))
    assert session_ids(stack) == [login.session_id]


@pytest.mark.stack(code_max_attempts=3)
@pytest.mark.rule(
    "errors.code.too-many-attempts",
    "galaxy.env.authsession-code-max-attempts",
    "errors.code.invalid-code",
    "errors.code.challenge-not-found",
    "openapi.response.too-many-attempts-or-rate-limited",
    "errors.gateway.pass-through",
)
def test_too_many_wrong_codes_burn_the_challenge(stack: Stack, api: GatewayApi) -> None:
    challenge = api.start_email_login("fay@example.com")
    code = stack.mail.last_code("fay@example.com")
    wrong = wrong_code(code)

    expect_error("INVALID_CODE", api.confirm_email_login, challenge.challenge_id, wrong)
    expect_error("INVALID_CODE", api.confirm_email_login, challenge.challenge_id, wrong)
    expect_error("TOO_MANY_ATTEMPTS", api.confirm_email_login, challenge.challenge_id, wrong)
    # Even the right code is useless now.
    expect_error("CHALLENGE_NOT_FOUND", api.confirm_email_login, challenge.challenge_id, code)
    assert session_ids(stack) == []


@pytest.mark.rule("errors.code.user-disabled", "user.resolve-on-confirm", "openapi.response.user-disabled")
def test_a_disabled_user_gets_no_session(stack: Stack, api: GatewayApi) -> None:
    stack.users.add_user("gus@example.com", status="disabled")
    challenge = api.start_email_login("gus@example.com")

    expect_error(
        "USER_DISABLED", api.confirm_email_login, challenge.challenge_id, stack.mail.last_code("gus@example.com")
    )
    assert session_ids(stack) == []


@pytest.mark.rule("authsessionv1.start.same-answer", "openapi.start.same-answer", "user.resolve-on-confirm")
def test_starting_a_login_looks_the_same_for_known_and_unknown_emails(stack: Stack, api: GatewayApi) -> None:
    stack.users.add_user("known@example.com")
    known = api.start_email_login("known@example.com")
    unknown = api.start_email_login("unknown@example.com")

    assert len(known.challenge_id) == len(unknown.challenge_id)
    assert abs((known.expires_at - unknown.expires_at).total_seconds()) < 5
    assert {m.to for m in stack.mail.messages} == {"known@example.com", "unknown@example.com"}
    # The user service is consulted only when a code is confirmed.
    assert stack.users.user_by_email("unknown@example.com") is None


@REPEATED_LOGINS
@pytest.mark.rule("authsessionv1.confirm.new-session", "openapi.confirm.new-session")
def test_a_second_login_opens_a_second_session(stack: Stack, api: GatewayApi) -> None:
    first = log_in(stack, api, "hal@example.com")
    second = log_in(stack, api, "hal@example.com")

    assert first.session_id != second.session_id
    assert first.user_id == second.user_id
    assert sorted(session_ids(stack)) == sorted([first.session_id, second.session_id])
    assert api.me(first.access_token).session_id == first.session_id
    assert api.me(second.access_token).session_id == second.session_id


@REPEATED_LOGINS
@pytest.mark.rule(
    "galaxy.authsession.api",
    "authsessionv1.confirm.new-session",
    "authsessionv1.refresh.rotation",
    "authsessionv1.revoke.one-session",
    "authsessionv1.revoke-all.every-session",
    "galaxy.readiness.grpc-health-check",
)
def test_authsessions_own_api_serves_a_login_and_its_sessions(stack: Stack) -> None:
    """authsession's gRPC API, as the gateway and the user service call it: the email
    normalised by the written policy, a session opened, refreshed, listed, revoked one
    by one and all at once, and its health."""
    with AuthSessionGrpcClient(stack.authsession.address("grpc")) as authsession:
        started = authsession.start_email_login("Ada.Lovelace@BÜCHER.example", "192.0.2.9")
        [message] = stack.mail.messages
        assert (message.to, message.idempotency_key) == ("ada.lovelace@xn--bcher-kva.example", started.challenge_id)
        opened = authsession.confirm_email_login(started.challenge_id, message.data["code"], "192.0.2.9")
        assert opened.session.email == "ada.lovelace@xn--bcher-kva.example"
        assert opened.session.created_at < opened.session.expires_at
        user_id = opened.session.user_id

        refreshed = authsession.refresh_session(opened.tokens.refresh_token, "192.0.2.9")
        assert refreshed.session.session_id == opened.session.session_id
        assert refreshed.tokens.refresh_token != opened.tokens.refresh_token

        second = log_in(stack, stack.http, "ada.lovelace@xn--bcher-kva.example")
        listed = authsession.list_sessions(user_id)
        assert sorted(s.session_id for s in listed) == sorted([second.session_id, opened.session.session_id])
        assert listed[0].created_at >= listed[1].created_at, "newest first"

        authsession.revoke_session(user_id, opened.session.session_id)
        assert [s.session_id for s in authsession.list_sessions(user_id)] == [second.session_id]
        assert authsession.revoke_all_sessions(user_id) == 1
        assert authsession.list_sessions(user_id) == []
    assert grpc_health(stack.authsession.address("grpc"), "") == "SERVING"
