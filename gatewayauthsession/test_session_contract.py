"""What authsession writes to Redis is what the public contract says."""

from __future__ import annotations

import math
import re
import time
from datetime import datetime, timedelta

import pytest

from contracts import tokens
from contracts.errors import ApiError
from contracts.gatewayv1 import GatewayApi, Login
from contracts.redis_schema import session_key
from gatewayauthsession.scenario import (
    REPEATED_LOGINS,
    expect_error,
    log_in,
    session_events,
    session_record,
)
from gatewayauthsession.stack import Stack


@pytest.mark.stack(session_ttl="2h", access_token_ttl="5m")
@pytest.mark.smoke
@pytest.mark.rule(
    "redis.session.record",
    "redis.session.session-id",
    "redis.session.user-id",
    "redis.session.email",
    "redis.session.status",
    "redis.session.created-at",
    "redis.session.expires-at",
    "tokens.access.claim-sub",
    "tokens.access.claim-sid",
    "tokens.access.claim-typ",
    "tokens.access.claim-times",
    "galaxy.env.authsession-session-ttl",
    "galaxy.env.authsession-access-token-ttl",
)
def test_the_session_is_visible_through_the_public_redis_contract(stack: Stack, api: GatewayApi) -> None:
    before = int(time.time())
    login = log_in(stack, api, "oli@example.com")
    after = int(time.time())

    record = session_record(stack, login.session_id)
    assert record is not None, "no session record under the public key"
    assert record.session_id == login.session_id
    assert record.user_id == login.user_id
    assert record.email == "oli@example.com"
    assert record.active
    assert before <= record.created_at <= after
    assert record.expires_at - record.created_at == 2 * 3600
    assert int(login.refresh_token_expires_at.timestamp()) <= record.expires_at

    client = stack.redis.client()
    ttl = client.ttl(session_key(stack.redis.key_prefix, login.session_id))
    client.close()
    assert 2 * 3600 - 10 <= ttl <= 2 * 3600, f"session key TTL is {ttl}s, want about 2h"

    claims = tokens.claims_of(login.access_token)
    assert (claims["sub"], claims["sid"], claims["typ"]) == (login.user_id, login.session_id, "access")
    assert claims["exp"] - claims["iat"] == 300


@REPEATED_LOGINS
@pytest.mark.stack(retry_grace="0s")
@pytest.mark.rule("redis.events.signal", "redis.events.reason-logout", "redis.events.reason-replay")
def test_each_revocation_publishes_one_signal_with_its_reason(stack: Stack, api: GatewayApi) -> None:
    with session_events(stack) as events:
        logged_out = log_in(stack, api, "pat@example.com")
        replayed = log_in(stack, api, "pat@example.com")

        api.logout(logged_out.access_token)
        api.refresh_session(replayed.refresh_token)
        expect_error("INVALID_REFRESH_TOKEN", api.refresh_session, replayed.refresh_token)  # a replay

        assert events() == [
            {"type": "session.revoked", "session_id": s.session_id, "user_id": s.user_id, "reason": reason}
            for s, reason in ((logged_out, "logout"), (replayed, "replay"))
        ]


@pytest.mark.stack(session_ttl="2h", access_token_ttl="5m")
@pytest.mark.waits
@pytest.mark.rule(
    "openapi.login.response",
    "openapi.login.expires-in",
    "openapi.login.access-token-expires-at",
    "openapi.login.refresh-token-expires-at",
    "openapi.login.session-id",
    "openapi.login.user-id",
    "openapi.me.session-expires-at",
    "openapi.sessions.created-at",
    "openapi.sessions.expires-at",
    "openapi.link.with-list-sessions",
    "gatewayv1.get-me",
    "gatewayv1.list-sessions",
    "gatewayv1.refresh.same-fields",
    "tokens.access.claim-times",
    "tokens.refresh.absolute-lifetime",
    "redis.session.created-at",
    "redis.session.expires-at",
)
def test_the_times_of_a_login_its_refresh_and_its_session_agree(stack: Stack, api: GatewayApi) -> None:
    """Every time the API gives of a session and its tokens, in UTC, against the public
    record and the token's own claims: the access token ends its lifetime after it was
    issued, ``expires_in`` counts the seconds to that end, the refresh token and the
    session end at the session's absolute end, and a refresh answers the same fields."""
    before = time.time()
    login = log_in(stack, api, "times@example.com")
    after = time.time()
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", login.session_id), login.session_id  # 16 bytes, base64url
    record = session_record(stack, login.session_id)
    assert record is not None
    user = stack.users.user_by_email("times@example.com")
    assert user is not None

    for pair, (start, end) in ((login, (before, after)), _refreshed(api, login)):
        claims = tokens.claims_of(pair.access_token)
        assert int(start) <= claims["iat"] <= end, (claims, start, end)
        assert claims["nbf"] <= claims["iat"]
        assert claims["exp"] == claims["iat"] + 300
        assert _utc(pair.access_token_expires_at).timestamp() == claims["exp"]
        if pair.expires_in is not None:  # HTTP: seconds from the answer to the access token's end
            assert claims["exp"] - math.ceil(end) <= pair.expires_in <= claims["exp"] - int(start), (pair, start, end)
        assert _utc(pair.refresh_token_expires_at).timestamp() == record.expires_at
        assert (pair.session_id, pair.user_id, pair.token_type) == (login.session_id, user.id, "Bearer")

    assert int(before) <= record.created_at <= after
    assert record.expires_at == record.created_at + 2 * 3600
    me = api.me(login.access_token)
    assert _utc(me.session_expires_at).timestamp() == record.expires_at
    [listed] = api.list_sessions(login.access_token)
    assert _utc(listed.created_at).timestamp() == record.created_at
    assert _utc(listed.expires_at).timestamp() == record.expires_at


def _refreshed(api: GatewayApi, login: Login) -> tuple[Login, tuple[float, float]]:
    time.sleep(1.05)  # a later second than the login's, so that a time copied from it shows
    start = time.time()
    refreshed = api.refresh_session(login.refresh_token)
    return refreshed, (start, time.time())


def _utc(at: datetime) -> datetime:
    assert at.utcoffset() == timedelta(0), f"{at} is not in UTC"
    return at


@pytest.mark.rule(
    "galaxy.env.authsession-code-ttl",
    "openapi.start.expires-at",
    "galaxy.env.authsession-access-token-ttl",
    "galaxy.env.authsession-session-ttl",
    "galaxy.env.authsession-resend-cooldown",
    "galaxy.env.gateway-login-burst",
    "galaxy.env.gateway-login-rate-per-minute",
    "galaxy.env.authsession-token-issuer",
    "galaxy.env.authsession-token-audience",
)
def test_a_stack_given_no_setting_runs_on_the_documented_defaults(stack: Stack, api: GatewayApi) -> None:
    """Nothing set, each service runs on the defaults galaxy/README.md documents: a code
    lives 10 min, an access token 15 min, a session 720 h, a second start of one email
    waits out 30 s, and a client makes 20 login calls at once, one more each second."""
    first_call, before = time.monotonic(), time.time()  # the cooldown and the login bucket start with this call
    challenge = api.start_email_login("defaults@example.com")
    assert before + 600 - 2 <= challenge.expires_at.timestamp() <= time.time() + 600
    login = api.confirm_email_login(challenge.challenge_id, stack.mail.last_code("defaults@example.com"))
    claims = tokens.claims_of(login.access_token)
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert (claims["iss"], claims["aud"]) == ("galaxy-authsession", "galaxy-gateway")
    record = session_record(stack, login.session_id)
    assert record is not None
    assert record.expires_at - record.created_at == 720 * 3600

    err = expect_error("RATE_LIMITED", api.start_email_login, "defaults@example.com")
    since_first = time.monotonic() - first_call
    assert err.retry_after is not None
    assert 30 - math.ceil(since_first) - 1 <= err.retry_after <= 30, (
        f"{err.retry_after}: the rest of the 30 s cooldown, {since_first:.1f}s after it began"
    )

    # Three login calls were made: 17 more fit the burst of 20, plus one for each second since the first.
    admitted, refused = 0, None
    while refused is None and admitted < 40:
        try:
            api.start_email_login(f"burst{admitted}@example.com")
            admitted += 1
        except ApiError as err:
            refused = err
    assert 17 <= admitted <= 17 + math.ceil(time.monotonic() - first_call), admitted
    assert refused is not None
    assert (refused.code, refused.retry_after) == ("RATE_LIMITED", 1), f"{refused}: a token a second, rounded up"
