"""The gateway verifies access tokens itself and checks session liveness in
Redis: every bad token is UNAUTHENTICATED, over HTTP and gRPC."""

from __future__ import annotations

import pytest

from contracts import tokens
from contracts.gatewayv1 import GatewayApi
from contracts.redis_schema import session_key
from contracts.tokens import SigningKey
from gatewayauthsession.scenario import expect_error, log_in
from gatewayauthsession.stack import Stack


def test_a_missing_token_is_unauthenticated(stack: Stack, api: GatewayApi) -> None:
    expect_error("UNAUTHENTICATED", api.me, None)


@pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "", "Bearer", "e30.e30.", "x" * 4000])
def test_a_garbage_token_is_unauthenticated(stack: Stack, api: GatewayApi, garbage: str) -> None:
    expect_error("UNAUTHENTICATED", api.me, garbage)


@pytest.mark.parametrize(
    ("claim", "value"), [("sub", "usr_someone_else"), ("sid", "another-session"), ("exp", 4102444800)]
)
def test_a_tampered_token_is_unauthenticated(stack: Stack, api: GatewayApi, claim: str, value: object) -> None:
    login = log_in(stack, api, "ivy@example.com")
    forged = tokens.tamper_claim(login.access_token, claim, value)
    assert forged != login.access_token

    expect_error("UNAUTHENTICATED", api.me, forged)
    assert api.me(login.access_token).session_id == login.session_id  # the genuine one still works


def test_a_token_signed_with_another_key_is_unauthenticated(stack: Stack, api: GatewayApi) -> None:
    login = log_in(stack, api, "jay@example.com")
    kid = tokens.header_of(login.access_token)["kid"]
    assert kid == stack.keys.current.kid

    impostor = SigningKey.generate(kid=kid)  # same kid, different key
    forged = tokens.sign(tokens.claims_of(login.access_token), impostor)

    expect_error("UNAUTHENTICATED", api.me, forged)


def test_a_token_with_an_unknown_kid_is_unauthenticated(stack: Stack, api: GatewayApi) -> None:
    login = log_in(stack, api, "kim@example.com")
    forged = tokens.sign(tokens.claims_of(login.access_token), SigningKey.generate(kid="unknown-kid"))

    expect_error("UNAUTHENTICATED", api.me, forged)


@pytest.mark.stack(access_token_ttl="1s")
def test_an_expired_token_is_unauthenticated(stack: Stack, api: GatewayApi) -> None:
    login = log_in(stack, api, "lee@example.com")
    claims = tokens.claims_of(login.access_token)
    assert claims["exp"] - claims["iat"] == 1
    # The gateway allows 30 s of clock leeway, so move the token's window into
    # the past instead of waiting: re-sign it with the stack's real key.
    stale = tokens.sign(
        claims | {"iat": claims["iat"] - 120, "nbf": claims["nbf"] - 120, "exp": claims["exp"] - 120},
        stack.keys.current,
    )

    expect_error("UNAUTHENTICATED", api.me, stale)


@pytest.mark.smoke
def test_a_session_deleted_from_redis_is_rejected_at_once(stack: Stack, api: GatewayApi) -> None:
    login = log_in(stack, api, "max@example.com")
    assert api.me(login.access_token).session_id == login.session_id

    client = stack.redis.client()
    client.delete(session_key(stack.redis.key_prefix, login.session_id))
    client.close()

    expect_error("UNAUTHENTICATED", api.me, login.access_token)


@pytest.mark.smoke
def test_a_session_marked_revoked_in_redis_is_rejected_at_once(stack: Stack, api: GatewayApi) -> None:
    login = log_in(stack, api, "ned@example.com")

    client = stack.redis.client()
    client.hset(session_key(stack.redis.key_prefix, login.session_id), "status", "revoked")
    client.close()

    expect_error("UNAUTHENTICATED", api.me, login.access_token)


@pytest.mark.parametrize("attack", ["alg-none", "hs256-with-public-key"])
def test_tokens_outside_the_algorithm_allow_list_are_unauthenticated(
    stack: Stack, api: GatewayApi, attack: str
) -> None:
    login = log_in(stack, api, "oona@example.com")
    claims = tokens.claims_of(login.access_token)
    if attack == "alg-none":
        forged = tokens.unsigned(claims, stack.keys.current.kid)
    else:
        forged = tokens.sign_hs256_with_public_key(claims, stack.keys.current)

    expect_error("UNAUTHENTICATED", api.me, forged)


@pytest.mark.parametrize(
    ("claim", "value"),
    [("iss", "someone-else"), ("aud", "another-service"), ("typ", "refresh"), ("nbf", 4102444800)],
)
def test_tokens_with_wrong_claims_are_unauthenticated_even_when_validly_signed(
    stack: Stack, api: GatewayApi, claim: str, value: object
) -> None:
    login = log_in(stack, api, "pam@example.com")
    forged = tokens.sign(tokens.claims_of(login.access_token) | {claim: value}, stack.keys.current)

    expect_error("UNAUTHENTICATED", api.me, forged)
