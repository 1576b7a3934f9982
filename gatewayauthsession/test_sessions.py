"""Refresh, logout, listing and revocation of sessions, over HTTP and gRPC."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from contracts import tokens
from contracts.errors import ApiError
from contracts.gatewayv1 import GatewayApi, Login
from contracts.redis_schema import session_key
from gatewayauthsession.scenario import REPEATED_LOGINS, expect_error, log_in, session_ids
from gatewayauthsession.stack import Stack


@pytest.mark.smoke
@pytest.mark.rule(
    "tokens.refresh.rotation",
    "tokens.refresh.absolute-lifetime",
    "tokens.access.claim-sid",
    "openapi.refresh.rotation",
    "openapi.refresh.new-pair",
    "gatewayv1.refresh",
    "authsessionv1.refresh.rotation",
)
def test_refresh_rotates_both_tokens_and_retires_the_old_refresh_token(stack: Stack, api: GatewayApi) -> None:
    first = log_in(stack, api, "amy@example.com")
    second = api.refresh_session(first.refresh_token)

    assert second.session_id == first.session_id
    assert second.user_id == first.user_id
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert tokens.claims_of(second.access_token)["sid"] == first.session_id
    assert api.me(second.access_token).session_id == first.session_id
    # The refresh token keeps the session's absolute end; refreshing never extends it.
    assert second.refresh_token_expires_at == first.refresh_token_expires_at


@pytest.mark.rule(
    "tokens.refresh.reuse-detection",
    "tokens.retry.refresh",
    "errors.code.invalid-refresh-token",
    "openapi.response.invalid-refresh-token",
    "authsessionv1.refresh.rotation",
)
def test_replaying_a_used_refresh_token_after_its_successor_was_used_revokes_the_whole_session(
    stack: Stack, api: GatewayApi
) -> None:
    first = log_in(stack, api, "ben@example.com")
    second = api.refresh_session(first.refresh_token)
    third = api.refresh_session(second.refresh_token)  # the successor is used

    expect_error("INVALID_REFRESH_TOKEN", api.refresh_session, first.refresh_token)  # the replay

    assert session_ids(stack) == []
    expect_error("UNAUTHENTICATED", api.me, third.access_token)
    expect_error("INVALID_REFRESH_TOKEN", api.refresh_session, third.refresh_token)


@pytest.mark.rule("tokens.retry.refresh", "tokens.retry.writes-nothing", "tokens.retry.window")
def test_refreshing_twice_with_one_token_within_the_grace_window_gives_the_same_pair(
    stack: Stack, api: GatewayApi
) -> None:
    """A client whose refresh answer was lost retries it (contracts/tokens.md, "Retries")."""
    login = log_in(stack, api, "bea@example.com")
    first = api.refresh_session(login.refresh_token)

    again = api.refresh_session(login.refresh_token)

    assert again.refresh_token == first.refresh_token
    assert again.session_id == first.session_id == login.session_id
    assert session_ids(stack) == [login.session_id]
    assert api.me(again.access_token).session_id == login.session_id
    assert api.me(first.access_token).session_id == login.session_id
    assert api.refresh_session(again.refresh_token).session_id == login.session_id


@pytest.mark.stack(retry_grace="1s")
@pytest.mark.waits
@pytest.mark.rule("tokens.retry.refresh", "tokens.refresh.reuse-detection", "galaxy.env.authsession-retry-grace")
def test_replaying_a_used_refresh_token_after_the_grace_window_revokes_the_whole_session(
    stack: Stack, api: GatewayApi
) -> None:
    login = log_in(stack, api, "bo@example.com")
    second = api.refresh_session(login.refresh_token)

    time.sleep(1.2)  # the configured window, plus a margin

    expect_error("INVALID_REFRESH_TOKEN", api.refresh_session, login.refresh_token)
    assert session_ids(stack) == []
    expect_error("UNAUTHENTICATED", api.me, second.access_token)
    expect_error("INVALID_REFRESH_TOKEN", api.refresh_session, second.refresh_token)


@pytest.mark.parametrize("token", ["", "garbage", "A" * 43])
@pytest.mark.rule("openapi.refresh.refresh-token", "errors.code.invalid-refresh-token", "errors.code.invalid-argument")
def test_an_unknown_refresh_token_is_rejected(stack: Stack, api: GatewayApi, token: str) -> None:
    code = "INVALID_ARGUMENT" if token == "" else "INVALID_REFRESH_TOKEN"
    expect_error(code, api.refresh_session, token)


@pytest.mark.stack(session_ttl="3s", access_token_ttl="1s")
@pytest.mark.waits
@pytest.mark.rule(
    "tokens.refresh.absolute-lifetime",
    "tokens.refresh.revoked-session",
    "galaxy.env.authsession-session-ttl",
    "redis.session.record",
)
def test_a_session_has_an_absolute_lifetime(stack: Stack, api: GatewayApi) -> None:
    login = log_in(stack, api, "cal@example.com")
    # A refresh in a later second than the login (timestamps have whole
    # seconds), still within the lifetime: one that extended the session
    # would answer a later end.
    time.sleep(1.1)
    refreshed = api.refresh_session(login.refresh_token)
    assert refreshed.refresh_token_expires_at == login.refresh_token_expires_at
    # Wait until just past the session's absolute end (whole seconds, as the contract keeps it).
    time.sleep(max(0.0, (refreshed.refresh_token_expires_at - datetime.now(UTC)).total_seconds()) + 0.3)

    expect_error("INVALID_REFRESH_TOKEN", api.refresh_session, refreshed.refresh_token)
    assert session_ids(stack) == []


@pytest.mark.rule("tokens.refresh.owner-checked", "errors.code.user-disabled")
@pytest.mark.needs_stub(
    "user",
    "disables the user and leaves its sessions to the next refresh, where the user service ends them at once "
    "(authsessionuser refreshes while the revocation is pending)",
)
def test_refreshing_a_disabled_users_session_fails_and_revokes_it(stack: Stack, api: GatewayApi) -> None:
    login = log_in(stack, api, "deb@example.com")
    stack.users.disable("deb@example.com")

    expect_error("USER_DISABLED", api.refresh_session, login.refresh_token)
    assert session_ids(stack) == []
    expect_error("UNAUTHENTICATED", api.me, login.access_token)


@REPEATED_LOGINS
@pytest.mark.smoke
@pytest.mark.rule("openapi.logout.ends-session", "gatewayv1.logout", "tokens.refresh.revoked-session")
def test_logout_ends_the_current_session_at_once(stack: Stack, api: GatewayApi) -> None:
    kept = log_in(stack, api, "eli@example.com")
    ended = log_in(stack, api, "eli@example.com")

    api.logout(ended.access_token)

    expect_error("UNAUTHENTICATED", api.me, ended.access_token)
    expect_error("INVALID_REFRESH_TOKEN", api.refresh_session, ended.refresh_token)
    assert api.me(kept.access_token).session_id == kept.session_id
    assert session_ids(stack) == [kept.session_id]


@pytest.mark.rule("errors.code.unauthenticated", "openapi.response.unauthenticated", "gatewayv1.logout")
def test_logout_needs_a_valid_token(stack: Stack, api: GatewayApi) -> None:
    expect_error("UNAUTHENTICATED", api.logout, None)
    expect_error("UNAUTHENTICATED", api.logout, "garbage")


@REPEATED_LOGINS
@pytest.mark.rule(
    "openapi.sessions.list", "openapi.sessions.current", "gatewayv1.list-sessions", "gatewayv1.session-info.current"
)
def test_listing_shows_my_live_sessions_and_marks_the_current_one(stack: Stack, api: GatewayApi) -> None:
    older = log_in(stack, api, "fox@example.com")
    newer = log_in(stack, api, "fox@example.com")
    log_in(stack, api, "someone-else@example.com")

    listed = api.list_sessions(older.access_token)

    # The order is test_listing_is_newest_first's.
    assert sorted(s.session_id for s in listed) == sorted([older.session_id, newer.session_id])
    assert [s.session_id for s in listed if s.current] == [older.session_id]
    for s in listed:
        assert s.created_at < s.expires_at


@REPEATED_LOGINS
@pytest.mark.rule(
    "openapi.sessions.newest-first",
    "openapi.sessions.list",
    "authsessionv1.list.newest-first",
    "redis.session.created-at",
)
def test_listing_is_newest_first(stack: Stack, api: GatewayApi) -> None:
    one = log_in(stack, api, "fay@example.com")
    two = log_in(stack, api, "fay@example.com")
    client = stack.redis.client()

    def age(login: Login, seconds: int) -> None:  # created_at is public (contracts/redis.md)
        client.hincrby(session_key(stack.redis.key_prefix, login.session_id), "created_at", -seconds)

    age(one, 100)
    age(two, 200)
    assert [s.session_id for s in api.list_sessions(one.access_token)] == [one.session_id, two.session_id]
    age(one, 200)  # now the older one
    assert [s.session_id for s in api.list_sessions(one.access_token)] == [two.session_id, one.session_id]
    client.close()


@REPEATED_LOGINS
@pytest.mark.rule("openapi.sessions.revoke", "gatewayv1.revoke-session", "authsessionv1.revoke.one-session")
def test_revoking_one_of_my_other_sessions_by_id(stack: Stack, api: GatewayApi) -> None:
    mine = log_in(stack, api, "gia@example.com")
    other_device = log_in(stack, api, "gia@example.com")

    api.revoke_session(mine.access_token, other_device.session_id)

    expect_error("UNAUTHENTICATED", api.me, other_device.access_token)
    assert api.me(mine.access_token).session_id == mine.session_id
    assert [s.session_id for s in api.list_sessions(mine.access_token)] == [mine.session_id]


@pytest.mark.rule(
    "openapi.sessions.revoke",
    "authsessionv1.revoke.one-session",
    "errors.code.session-not-found",
    "openapi.response.session-not-found",
    "openapi.sessions.session-id-param",
)
def test_another_users_session_id_answers_like_an_unknown_one(stack: Stack, api: GatewayApi) -> None:
    mine = log_in(stack, api, "hugo@example.com")
    theirs = log_in(stack, api, "ines@example.com")

    foreign = expect_error("SESSION_NOT_FOUND", api.revoke_session, mine.access_token, theirs.session_id)
    unknown = expect_error("SESSION_NOT_FOUND", api.revoke_session, mine.access_token, "AAAAAAAAAAAAAAAAAAAAAA")

    assert (foreign.status, foreign.detail, foreign.metadata) == (unknown.status, unknown.detail, unknown.metadata)
    assert api.me(theirs.access_token).session_id == theirs.session_id


@REPEATED_LOGINS
@pytest.mark.rule("authsessionv1.revoke-all.every-session", "tokens.revoke-all.every-session")
def test_revoking_all_sessions_of_a_user_rejects_every_token_at_once(stack: Stack, api: GatewayApi) -> None:
    logins = [log_in(stack, api, "jon@example.com") for _ in range(3)]
    bystander = log_in(stack, api, "kit@example.com")

    client = stack.authsession_client()
    try:
        assert client.revoke_all_sessions(logins[0].user_id) == 3
    finally:
        client.close()

    for login in logins:
        expect_error("UNAUTHENTICATED", api.me, login.access_token)
    assert session_ids(stack) == [bystander.session_id]


@REPEATED_LOGINS
@pytest.mark.rule("errors.code.user-disabled", "user.resolve-on-confirm")
def test_a_disabled_user_cannot_log_in_again(stack: Stack, api: GatewayApi) -> None:
    log_in(stack, api, "lou@example.com")
    stack.users.disable("lou@example.com")
    challenge = api.start_email_login("lou@example.com")

    expect_error(
        "USER_DISABLED", api.confirm_email_login, challenge.challenge_id, stack.mail.last_code("lou@example.com")
    )


def _outcomes(calls: list[object]) -> tuple[list[Login], list[ApiError]]:
    ok = [c for c in calls if isinstance(c, Login)]
    failed = [c for c in calls if isinstance(c, ApiError)]
    assert len(ok) + len(failed) == len(calls), f"unexpected outcomes: {calls}"
    return ok, failed


def _attempt(fn: object, *args: str) -> object:
    try:
        return fn(*args)  # type: ignore[operator]
    except ApiError as err:
        return err


@pytest.mark.rule("tokens.retry.confirm-concurrent")
def test_concurrent_confirms_of_one_code_open_exactly_one_session(stack: Stack, api: GatewayApi) -> None:
    challenge = api.start_email_login("max@example.com")
    code = stack.mail.last_code("max@example.com")

    with ThreadPoolExecutor(8) as pool:
        calls = list(pool.map(lambda _: _attempt(api.confirm_email_login, challenge.challenge_id, code), range(8)))

    # One confirm opens the session; the others that compared their code
    # answer that same session (contracts/tokens.md, "Retries"); the rest
    # found every attempt taken.
    ok, failed = _outcomes(calls)
    assert ok, "no confirm succeeded"
    assert {(login.session_id, login.refresh_token) for login in ok} == {(ok[0].session_id, ok[0].refresh_token)}
    assert {e.code for e in failed} <= {"CHALLENGE_NOT_FOUND"}
    assert session_ids(stack) == [ok[0].session_id]


@pytest.mark.rule("tokens.refresh.concurrent")
def test_concurrent_refreshes_of_one_token_all_get_the_same_pair(stack: Stack, api: GatewayApi) -> None:
    """One rotation wins; the others find the token used within the grace
    window, its successor unused, and get the same pair (contracts/tokens.md,
    "Concurrent refreshes"): the session stays live."""
    login = log_in(stack, api, "ned@example.com")

    with ThreadPoolExecutor(4) as pool:
        calls = list(pool.map(lambda _: _attempt(api.refresh_session, login.refresh_token), range(4)))

    ok, failed = _outcomes(calls)
    assert failed == [], f"refreshes failed: {failed}"
    assert {r.refresh_token for r in ok} == {ok[0].refresh_token}
    assert session_ids(stack) == [login.session_id]
    for refreshed in ok:
        assert api.me(refreshed.access_token).session_id == login.session_id
    assert api.refresh_session(ok[0].refresh_token).session_id == login.session_id


@pytest.mark.stack(retry_grace="0s")
@pytest.mark.rule("tokens.refresh.concurrent", "tokens.retry.grace-zero")
def test_without_a_grace_window_concurrent_refreshes_of_one_token_revoke_the_session(
    stack: Stack, api: GatewayApi
) -> None:
    """Strict reuse detection: of two concurrent refreshes with one token, one
    gets the new pair and the other counts as a replay, which revokes the
    session — so the new pair dies with it."""
    login = log_in(stack, api, "nia@example.com")

    with ThreadPoolExecutor(2) as pool:
        calls = list(pool.map(lambda _: _attempt(api.refresh_session, login.refresh_token), range(2)))

    ok, failed = _outcomes(calls)
    assert len(ok) == 1, f"{len(ok)} refreshes succeeded"
    assert [e.code for e in failed] == ["INVALID_REFRESH_TOKEN"]
    assert session_ids(stack) == []
    expect_error("UNAUTHENTICATED", api.me, ok[0].access_token)
