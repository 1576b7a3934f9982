"""The gateway verifies access tokens itself and checks session liveness in
Redis: every bad token is UNAUTHENTICATED, over HTTP and gRPC."""

from __future__ import annotations

import base64
import re

import grpc
import jwt
import pytest

from contracts import tokens
from contracts.gatewayv1 import GatewayApi
from contracts.gatewayv1._pb import gateway_pb2
from contracts.gatewayv1.grpc_client import GatewayGrpcClient
from contracts.grpc_errors import ERROR_DOMAINS, grpc_error
from contracts.redis_schema import session_key
from contracts.tokens import SigningKey
from gatewayauthsession.scenario import REPEATED_LOGINS, expect_error, log_in
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


_BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.mark.rule("tokens.access.compact-jws")
def test_a_token_whose_signature_is_spelled_with_nonzero_trailing_bits_is_unauthenticated(
    stack: Stack, api: GatewayApi
) -> None:
    """A compact JWS's segments are base64url without padding, each spelled one way: the 64 bytes of an Ed25519
    signature take 86 characters, whose last one's low 4 bits are zero. Set, they decode to the same bytes under
    a lenient decoder, and the token is no longer one the issuer wrote."""
    login = log_in(stack, api, "bits@example.com")
    header, payload, signature = login.access_token.split(".")
    last = _BASE64URL.index(signature[-1])
    assert (len(signature), last & 0b1111) == (86, 0), signature
    respelled = f"{header}.{payload}.{signature[:-1]}{_BASE64URL[last | 0b0001]}"

    expect_error("UNAUTHENTICATED", api.me, respelled)
    assert api.me(login.access_token).session_id == login.session_id  # the genuine one still works


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


@REPEATED_LOGINS
@pytest.mark.smoke
@pytest.mark.rule("redis.session.liveness", "redis.session.status", "openapi.sessions.list")
def test_a_session_marked_revoked_in_redis_is_rejected_at_once(stack: Stack, api: GatewayApi) -> None:
    """A record whose status is not ``active`` is revoked: its token is refused, and
    the listing of the user's other session leaves it out (it is still in the user's set)."""
    login = log_in(stack, api, "ned@example.com")
    other = log_in(stack, api, "ned@example.com")

    client = stack.redis.client()
    client.hset(session_key(stack.redis.key_prefix, login.session_id), "status", "revoked")
    client.close()

    expect_error("UNAUTHENTICATED", api.me, login.access_token)
    assert [s.session_id for s in api.list_sessions(other.access_token)] == [other.session_id]


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


# ------------------------------------------------------------------ what authsession issues


@REPEATED_LOGINS
@pytest.mark.rule(
    "tokens.access.jws-ed25519",
    "tokens.access.header",
    "tokens.access.claim-iss",
    "tokens.access.claim-aud",
    "tokens.access.claim-jti",
    "openapi.login.access-token",
    "authsessionv1.access-token",
)
def test_an_access_token_is_an_ed25519_jws_of_the_documented_claims(stack: Stack, api: GatewayApi) -> None:
    issued = [log_in(stack, api, "jws@example.com"), log_in(stack, api, "jws@example.com")]
    issued.append(api.refresh_session(issued[0].refresh_token))
    public = stack.keys.current.private_key.public_key()

    for login in issued:
        assert tokens.header_of(login.access_token) == {"alg": "EdDSA", "typ": "JWT", "kid": stack.keys.current.kid}
        # Verified by the stack's Ed25519 public key (a compact JWS), with the default issuer and audience.
        claims = jwt.decode(
            login.access_token, public, algorithms=["EdDSA"], audience="galaxy-gateway", issuer="galaxy-authsession"
        )
        assert claims["aud"] == "galaxy-gateway", "the audience is a string, not a list"
        assert isinstance(claims["jti"], str)
        assert claims["jti"]
    jtis = [tokens.claims_of(login.access_token)["jti"] for login in issued]
    assert len(set(jtis)) == len(jtis), f"token ids repeat: {jtis}"


ISSUER_AUDIENCE = {
    "both-left-at-their-defaults": ({}, True),  # galaxy-authsession, galaxy-gateway on both sides
    "both-configured-alike": (
        {
            "authsession_token_issuer": "issuer.example",
            "gateway_token_issuer": "issuer.example",
            "authsession_token_audience": "audience.example",
            "gateway_token_audience": "audience.example",
        },
        True,
    ),
    "another-issuer-at-authsession": ({"authsession_token_issuer": "issuer.example"}, False),
    "another-issuer-at-the-gateway": ({"gateway_token_issuer": "issuer.example"}, False),
    "another-audience-at-authsession": ({"authsession_token_audience": "audience.example"}, False),
    "another-audience-at-the-gateway": ({"gateway_token_audience": "audience.example"}, False),
}


@pytest.mark.parametrize(
    "case", [pytest.param(name, marks=pytest.mark.stack(**settings)) for name, (settings, _) in ISSUER_AUDIENCE.items()]
)
@pytest.mark.rule(
    "galaxy.env.authsession-token-issuer",
    "galaxy.env.authsession-token-audience",
    "galaxy.env.gateway-token-issuer",
    "galaxy.env.gateway-token-audience",
    "tokens.access.claim-iss",
    "tokens.access.claim-aud",
    "tokens.access.iss-aud",
)
def test_tokens_carry_the_configured_issuer_and_audience_and_the_gateway_wants_its_own(
    stack: Stack, api: GatewayApi, case: str
) -> None:
    settings, accepted = ISSUER_AUDIENCE[case]
    login = log_in(stack, api, "iss@example.com")
    claims = tokens.claims_of(login.access_token)
    assert claims["iss"] == settings.get("authsession_token_issuer", "galaxy-authsession")
    assert claims["aud"] == settings.get("authsession_token_audience", "galaxy-gateway")

    if accepted:
        assert api.me(login.access_token).session_id == login.session_id
    else:
        expect_error("UNAUTHENTICATED", api.me, login.access_token)


@pytest.mark.rule(
    "tokens.refresh.opaque",
    "tokens.refresh.derivation-key",
    "tokens.refresh.derivation-initial",
    "tokens.refresh.derivation-successor",
    "openapi.login.refresh-token",
    "authsessionv1.refresh-token",
)
def test_refresh_tokens_are_derived_from_the_signing_key_as_the_contract_says(stack: Stack, api: GatewayApi) -> None:
    """Whoever holds authsession's key computes its refresh tokens: the first from the
    challenge and its code, each next one from the one it replaces; without the key
    they are 32 bytes that look random."""
    challenge = api.start_email_login("derived@example.com")
    code = stack.mail.last_code("derived@example.com")
    login = api.confirm_email_login(challenge.challenge_id, code)
    first = tokens.initial_refresh_token(stack.keys.current, challenge.challenge_id, code)
    assert login.refresh_token == first
    assert len(base64.urlsafe_b64decode(first + "=")) == 32
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", first), "base64url without padding"

    second = api.refresh_session(login.refresh_token)
    assert second.refresh_token == tokens.successor_refresh_token(stack.keys.current, first)
    third = api.refresh_session(second.refresh_token)
    assert third.refresh_token == tokens.successor_refresh_token(stack.keys.current, second.refresh_token)
    assert tokens.initial_refresh_token(SigningKey.generate(), challenge.challenge_id, code) != first


@pytest.mark.rule("gatewayv1.bearer-metadata", "errors.code.unauthenticated", transport="grpc")
def test_a_genuine_token_counts_only_under_the_bearer_scheme_in_grpc_metadata(stack: Stack) -> None:
    client = stack.api("grpc")
    assert isinstance(client, GatewayGrpcClient)
    login = log_in(stack, client, "meta@example.com")

    def me(*metadata: tuple[str, str]) -> str:
        try:
            return str(client.stub.GetMe(gateway_pb2.GetMeRequest(), metadata=metadata, timeout=5).session_id)
        except grpc.RpcError as err:
            return grpc_error(err, ERROR_DOMAINS["gateway"]).code

    assert me(("authorization", f"Bearer {login.access_token}")) == login.session_id
    assert me(("authorization", f"bEaReR {login.access_token}")) == login.session_id  # the scheme is case-insensitive
    for scheme in ("Token", "Basic", "Bearerx"):
        assert me(("authorization", f"{scheme} {login.access_token}")) == "UNAUTHENTICATED", scheme
    assert me(("x-authorization", f"Bearer {login.access_token}")) == "UNAUTHENTICATED"
    assert me() == "UNAUTHENTICATED"
