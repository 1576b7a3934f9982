"""The input contract (SPEC "The input contract"): what either service refuses
at its edge, and that a refused input leaves nothing behind."""

from __future__ import annotations

import pytest

from contracts.gatewayv1 import GatewayApi
from gatewayauthsession import tokens
from gatewayauthsession.scenario import expect_error, log_in
from gatewayauthsession.stack import Stack


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_a_time_claim_given_as_a_string_is_unauthenticated(stack: Stack, api: GatewayApi, claim: str) -> None:
    login = log_in(stack, api, "numeric-date@example.com")
    claims = tokens.claims_of(login.access_token)
    # Re-signed as they are, the claims are accepted: only the claim's type differs below.
    assert api.me(tokens.sign(claims, stack.keys.current)).session_id == login.session_id

    forged = tokens.sign(claims | {claim: str(claims[claim])}, stack.keys.current)

    expect_error("UNAUTHENTICATED", api.me, forged)


@pytest.mark.parametrize("value", [1e300, -1], ids=["beyond-year-9999", "negative"])
def test_an_absurd_expiry_is_unauthenticated(stack: Stack, api: GatewayApi, value: float) -> None:
    login = log_in(stack, api, "absurd-exp@example.com")
    forged = tokens.sign(tokens.claims_of(login.access_token) | {"exp": value}, stack.keys.current)

    expect_error("UNAUTHENTICATED", api.me, forged)
