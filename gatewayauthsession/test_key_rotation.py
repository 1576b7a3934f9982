"""Signing-key rotation: the gateway trusts a set of keys by kid, authsession
signs with the current one, and a retired key's tokens stop working once it
leaves the set."""

from __future__ import annotations

import pytest

from contracts import tokens
from contracts.tokens import KeySet, SigningKey
from gatewayauthsession.scenario import expect_error, log_in, served
from gatewayauthsession.stack import Stack, Transport


@pytest.mark.smoke
@pytest.mark.rule("tokens.access.kid", "tokens.keys.jwks", "tokens.keys.signing-key", "tokens.access.header")
def test_tokens_survive_a_rotation_and_die_with_their_retired_key(stack: Stack, transport: Transport) -> None:
    old_key = stack.keys.current
    before = log_in(stack, stack.api(transport), "rio@example.com")
    assert tokens.header_of(before.access_token)["kid"] == old_key.kid

    # Rotate: a new current key; the old one is still trusted.
    new_key = SigningKey.generate()
    stack.restart_with_keys(KeySet(current=new_key, others=[old_key]))
    api = stack.api(transport)
    after = log_in(stack, api, "rio@example.com")
    assert tokens.header_of(after.access_token)["kid"] == new_key.kid
    assert api.me(before.access_token).session_id == before.session_id
    assert api.me(after.access_token).session_id == after.session_id

    # Retire the old key.
    stack.restart_with_keys(KeySet(current=new_key))
    api = stack.api(transport)
    expect_error("UNAUTHENTICATED", api.me, before.access_token)
    assert api.me(after.access_token).session_id == after.session_id


@pytest.mark.stack(resend_cooldown="1h", start_limit_per_client=1)
@pytest.mark.rule("redis.private.mac", "redis.private.resend-cooldown", "redis.private.starts-client")
def test_the_limits_are_keyed_from_the_signing_key(stack: Stack, transport: Transport) -> None:
    """The limits name an email and a client by a MAC keyed from the signing key, not
    by the email or the id, nor by a hash anyone could compute: once authsession signs
    with another key, the same email and client are names it has not counted yet."""
    api = stack.api(transport)
    api.start_email_login("counted@example.com")
    expect_error("RATE_LIMITED", api.start_email_login, "counted@example.com")  # the cooldown, and the client's one
    stack.restart("authsession")  # the same key: the counts are still there, in Redis
    expect_error("RATE_LIMITED", served, api.start_email_login, "counted@example.com")

    stack.restart_with_keys(KeySet(current=SigningKey.generate(), others=[stack.keys.current]))
    api = stack.api(transport)
    api.start_email_login("counted@example.com")
    expect_error("RATE_LIMITED", api.start_email_login, "counted@example.com")
    assert len(stack.mail.messages_to("counted@example.com")) == 2
