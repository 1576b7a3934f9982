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

# Every bad token below is UNAUTHENTICATED (over HTTP: a problem of the table).
pytestmark = pytest.mark.rule("errors.code.unauthenticated", "openapi.response.unauthenticated")


@pytest.mark.rule("openapi.me.requires-live-session", "gatewayv1.get-me")
def test_a_missing_token_is_unauthenticated(stack: Stack, api: GatewayApi) -> None:
    expect_error("UNAUTHENTICATED", api.me, None)


@pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "", "Bearer", "e30.e30.", "x" * 4000])
@pytest.mark.rule("tokens.access.compact-jws")
def test_a_garbage_token_is_unauthenticated(stack: Stack, api: GatewayApi, garbage: str) -> None:
    expect_error("UNAUTHENTICATED", api.me, garbage)


@pytest.mark.parametrize(
    ("claim", "value"), [("sub", "usr_someone_else"), ("sid", "another-session"), ("exp", 4102444800)]
)
@pytest.mark.rule("tokens.access.signature")
def test_a_tampered_token_is_unauthenticated(stack: Stack, api: GatewayApi, claim: str, value: object) -> None:
    login = log_in(stack, api, "ivy@example.com")
    forged = tokens.tamper_claim(login.access_token, claim, value)
    assert forged != login.access_token

    expect_error("UNAUTHENTICATED", api.me, forged)
    assert api.me(login.access_token).session_id == login.session_id  # the genuine one still works


@pytest.mark.rule("tokens.access.signature")
def test_a_token_signed_with_another_key_is_unauthenticated(stack: Stack, api: GatewayApi) -> None:
    login = log_in(stack, api, "jay@example.com")
    kid = tokens.header_of(login.access_token)["kid"]
    assert kid == stack.keys.current.kid

    impostor = SigningKey.generate(kid=kid)  # same kid, different key
    forged = tokens.sign(tokens.claims_of(login.access_token), impostor)

    expect_error("UNAUTHENTICATED", api.me, forged)


@pytest.mark.rule("tokens.access.kid")
def test_a_token_with_an_unknown_kid_is_unauthenticated(stack: Stack, api: GatewayApi) -> None:
    login = log_in(stack, api, "kim@example.com")
    forged = tokens.sign(tokens.claims_of(login.access_token), SigningKey.generate(kid="unknown-kid"))

    expect_error("UNAUTHENTICATED", api.me, forged)


@pytest.mark.rule("tokens.access.kid")
def test_a_token_signed_by_a_trusted_key_under_another_kid_is_unauthenticated(stack: Stack, api: GatewayApi) -> None:
    login = log_in(stack, api, "kit@example.com")
    renamed = SigningKey("not-the-signing-kid", stack.keys.current.private_key)  # the right key, the wrong name
    forged = tokens.sign(tokens.claims_of(login.access_token), renamed)

    expect_error("UNAUTHENTICATED", api.me, forged)


def test_a_token_with_a_critical_header_the_gateway_does_not_know_is_unauthenticated(
    stack: Stack, api: GatewayApi
) -> None:
    login = log_in(stack, api, "kay@example.com")
    forged = tokens.sign(tokens.claims_of(login.access_token), stack.keys.current, crit=["urn:example:bound"])
    forged_too = tokens.sign(tokens.claims_of(login.access_token), stack.keys.current)
    assert api.me(forged_too).session_id == login.session_id  # re-signed without crit, the token works

    expect_error("UNAUTHENTICATED", api.me, forged)


def test_a_validly_signed_token_longer_than_4096_bytes_is_unauthenticated(stack: Stack, api: GatewayApi) -> None:
    login = log_in(stack, api, "kai@example.com")
    claims = tokens.claims_of(login.access_token)

    def padded(n: int) -> str:
        return tokens.sign(claims | {"pad": "x" * n}, stack.keys.current)

    fill = (4096 - len(padded(0))) * 3 // 4 - 2  # base64url: 4 characters for 3 bytes
    just_under, over = padded(fill), padded(fill + 6)
    assert len(just_under) <= 4096 < len(over)

    assert api.me(just_under).session_id == login.session_id
    expect_error("UNAUTHENTICATED", api.me, over)


@pytest.mark.stack(access_token_ttl="1s")
@pytest.mark.rule("tokens.access.exp-nbf", "tokens.access.claim-times", "galaxy.env.authsession-access-token-ttl")
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
@pytest.mark.rule("redis.session.liveness", "tokens.access.session-live")
def test_a_session_deleted_from_redis_is_rejected_at_once(stack: Stack, api: GatewayApi) -> None:
    login = log_in(stack, api, "max@example.com")
    assert api.me(login.access_token).session_id == login.session_id

    client = stack.redis.client()
    client.delete(session_key(stack.redis.key_prefix, login.session_id))
    client.close()

    expect_error("UNAUTHENTICATED", api.me, login.access_token)


@pytest.mark.smoke
@pytest.mark.rule("redis.session.liveness", "redis.session.status")
def test_a_session_marked_revoked_in_redis_is_rejected_at_once(stack: Stack, api: GatewayApi) -> None:
    login = log_in(stack, api, "ned@example.com")

    client = stack.redis.client()
    client.hset(session_key(stack.redis.key_prefix, login.session_id), "status", "revoked")
    client.close()

    expect_error("UNAUTHENTICATED", api.me, login.access_token)


@pytest.mark.parametrize(
    ("field", "value"),
    [("user_id", "usr_someone_else"), ("expires_at", "tomorrow"), ("expires_at", "1")],
    ids=["another-owner", "unreadable-expiry", "expiry-passed"],
)
@pytest.mark.rule("redis.session.liveness", "redis.session.user-id", "redis.session.expires-at")
def test_a_session_record_that_fails_liveness_rejects_its_token_at_once(
    stack: Stack, api: GatewayApi, field: str, value: str
) -> None:
    login = log_in(stack, api, "nia@example.com")
    assert api.me(login.access_token).session_id == login.session_id

    client = stack.redis.client()  # the key itself stays, with its TTL: only the field says the session is not live
    client.hset(session_key(stack.redis.key_prefix, login.session_id), field, value)
    client.close()

    expect_error("UNAUTHENTICATED", api.me, login.access_token)


@pytest.mark.rule("openapi.bearer-auth", "openapi.login.access-token", transport="http")
def test_a_genuine_token_counts_only_under_the_bearer_scheme(stack: Stack) -> None:
    login = log_in(stack, stack.http, "noa@example.com")

    def me(authorization: str) -> tuple[int, str | None]:
        resp = stack.http.request("GET", "/v1/me", headers={"Authorization": authorization})
        return resp.status_code, resp.json().get("code")

    assert me(f"bEaReR {login.access_token}")[0] == 200  # the scheme is case-insensitive
    for scheme in ("Token", "Basic", "Bearerx"):
        assert me(f"{scheme} {login.access_token}") == (401, "UNAUTHENTICATED"), scheme


@pytest.mark.parametrize("attack", ["alg-none", "hs256-with-public-key"])
@pytest.mark.rule("tokens.access.alg")
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
@pytest.mark.rule("tokens.access.iss-aud", "tokens.access.typ", "tokens.access.exp-nbf")
def test_tokens_with_wrong_claims_are_unauthenticated_even_when_validly_signed(
    stack: Stack, api: GatewayApi, claim: str, value: object
) -> None:
    login = log_in(stack, api, "pam@example.com")
    forged = tokens.sign(tokens.claims_of(login.access_token) | {claim: value}, stack.keys.current)

    expect_error("UNAUTHENTICATED", api.me, forged)


@pytest.mark.parametrize("claim", ["exp", "typ", "sub", "sid"])
@pytest.mark.rule(
    "tokens.access.accepted-only-when", "tokens.access.typ", "tokens.access.exp-nbf", "tokens.access.session-live"
)
def test_a_validly_signed_token_without_a_required_claim_is_unauthenticated(
    stack: Stack, api: GatewayApi, claim: str
) -> None:
    login = log_in(stack, api, "pia@example.com")
    claims = tokens.claims_of(login.access_token)
    del claims[claim]

    expect_error("UNAUTHENTICATED", api.me, tokens.sign(claims, stack.keys.current))
