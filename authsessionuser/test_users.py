"""Resolve-or-create on confirm: the user a login opens its session for is the user service's own, created on
the address's first login and found on every later one; and one user per normalised address on both sides of
the boundary, whatever the spelling (contracts/user.md, contracts/email.md)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from contracts.gatewayv1 import GatewayApi
from gatewayauthsession.scenario import LIMITS_OUT_OF_THE_WAY, REPEATED_LOGINS, code_for, log_in, session_ids
from gatewayauthsession.stack import TRANSPORTS, Stack
from gatewayauthsession.strategies import spellings_of_one_address


@REPEATED_LOGINS
@pytest.mark.rule(
    "user.resolve-on-confirm",
    "user.shape",
    "galaxy.user.public-api",
    "galaxy.user.admin-answer",
    "galaxy.user.generation",
    "galaxy.user.revocation-view",
)
def test_a_login_resolves_its_user_creating_it_on_first_sight(stack: Stack, api: GatewayApi) -> None:
    first = log_in(stack, api, "ada@example.com")

    seen = stack.user_service.admin.get(first.user_id)
    assert (seen.id, seen.email, seen.status, seen.generation) == (first.user_id, "ada@example.com", "active", 1)
    assert seen.revocation.state == "none"

    second = log_in(stack, api, "ada@example.com")
    assert second.user_id == first.user_id
    assert second.session_id != first.session_id
    resolved = stack.user_service.api.resolve("ada@example.com")
    assert (resolved.created, resolved.user.id) == (False, first.user_id), "the logins made one user, not two"
    assert api.me(second.access_token).user_id == first.user_id
    assert sorted(session_ids(stack)) == sorted([first.session_id, second.session_id])


@pytest.mark.stack(**LIMITS_OUT_OF_THE_WAY)
@pytest.mark.rule(
    "user.normal-form",
    "email.scope",
    "email.idempotent",
    "email.form.local-part",
    "email.form.domain-a-label",
    "galaxy.user.normalisation",
    transport=("http", "grpc"),
)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # one stack, shared
@given(spellings=spellings_of_one_address())
def test_every_spelling_of_an_address_is_one_user_at_authsession_and_at_the_user_service(
    stack: Stack, spellings: list[str]
) -> None:
    """However an address is spelled at login, authsession and the user service name one user by it: the
    address authsession mails to is the normal form the user service answers, each login opens a session of
    that user, and the user service resolves every spelling to it without creating another."""
    users = set()
    for n, spelling in enumerate(spellings):  # two at least: over HTTP, then over gRPC
        api = stack.api(TRANSPORTS[n % len(TRANSPORTS)])
        challenge = api.start_email_login(spelling)
        [message] = [m for m in stack.mail.messages if m.idempotency_key == challenge.challenge_id]
        login = api.confirm_email_login(challenge.challenge_id, code_for(stack, challenge))
        seen = stack.user_service.api.resolve(spelling)
        assert (seen.created, seen.user.id, seen.user.email) == (False, login.user_id, message.to), (
            f"{spelling!r}: authsession mailed {message.to!r} and opened a session of {login.user_id}; "
            f"the user service answers {seen}"
        )
        assert api.me(login.access_token).email == message.to
        users.add((login.user_id, message.to))
    assert len(users) == 1, f"the spellings {spellings!r} are several users: {sorted(users)}"
