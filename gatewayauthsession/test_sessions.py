"""Refresh, logout, listing and revocation of sessions, over HTTP and gRPC."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from contracts import tokens
from contracts.errors import ApiError
from contracts.gatewayv1 import GatewayApi, Login
from contracts.redis_schema import read_session, session_key
from contracts.user import RESOLVE_PATH, USERS_BY_ID
from gatewayauthsession.scenario import (
    REPEATED_LOGINS,
    code_for,
    expect_error,
    log_in,
    raw_http,
    served,
    session_events,
    session_ids,
    sleep_past,
    wrong_code,
)
from gatewayauthsession.stack import Stack, Transport


@pytest.mark.smoke
@pytest.mark.rule(
    "tokens.refresh.rotation",
    "tokens.refresh.absolute-lifetime",
    "tokens.access.claim-sid",
    "openapi.refresh.rotation",
    "openapi.refresh.new-pair",
    "openapi.link.with-refresh-session",
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


@pytest.mark.rule("tokens.retry.writes-nothing", "tokens.refresh.owner-checked", "errors.code.user-disabled")
@pytest.mark.needs_stub(
    "user", "fails the user service for one retry, then disables the user between a refresh and its retry"
)
def test_a_retry_asks_the_user_service_about_the_owner_as_a_refresh_does(stack: Stack, api: GatewayApi) -> None:
    """contracts/tokens.md, "Retries": a retry makes the checks of a refresh, the user service asked about the
    owner; when it fails nothing changes and the retry may be retried, and a disabled owner loses the session."""
    login = log_in(stack, api, "ria@example.com")
    first = api.refresh_session(login.refresh_token)

    stack.user_stub.fail_with(503, times=None, path=USERS_BY_ID)
    expect_error("DEPENDENCY_UNAVAILABLE", api.refresh_session, login.refresh_token, dependency="user")
    stack.user_stub.clear_faults()
    again = api.refresh_session(login.refresh_token)
    assert (again.session_id, again.refresh_token) == (login.session_id, first.refresh_token)

    stack.users.disable("ria@example.com")
    expect_error("USER_DISABLED", api.refresh_session, login.refresh_token)
    assert session_ids(stack) == []
    expect_error("UNAUTHENTICATED", api.me, again.access_token)
    expect_error("INVALID_REFRESH_TOKEN", api.refresh_session, first.refresh_token)


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


@pytest.mark.stack(session_ttl="4s", access_token_ttl="1s", code_ttl="1s")
@pytest.mark.waits
@pytest.mark.rule(
    "tokens.refresh.absolute-lifetime",
    "tokens.refresh.revoked-session",
    "galaxy.env.authsession-session-ttl",
    "redis.session.record",
    "redis.private.refresh",
    "redis.private.session-refresh",
)
def test_a_session_has_an_absolute_lifetime(stack: Stack, api: GatewayApi) -> None:
    login = log_in(stack, api, "cal@example.com")
    # A refresh in a later second than the login (timestamps have whole
    # seconds), still within the lifetime: one that extended the session
    # would answer a later end. Its record outlives the access token's and
    # the code's lifetimes: it ends with the session.
    time.sleep(1.1)
    refreshed = api.refresh_session(login.refresh_token)
    assert refreshed.refresh_token_expires_at == login.refresh_token_expires_at
    # Wait until just past the session's absolute end (whole seconds, as the contract keeps it).
    sleep_past(refreshed.refresh_token_expires_at)

    expect_error("INVALID_REFRESH_TOKEN", api.refresh_session, refreshed.refresh_token)
    assert session_ids(stack) == []


REDIS_STEP_S = 0.6
"""Latency of authsession's requests to Redis while a refresh straddles its session's end (its answers come at
once, so each step stays within the client's 1 s read bound): its read of the token is served 0.6 s after the
refresh is sent, its read of the session 0.6 s later."""


@pytest.mark.stack(session_ttl="3s", links=("authsession->redis",))
@pytest.mark.waits
@pytest.mark.rule("tokens.refresh.revoked-session", "errors.code.invalid-refresh-token")
def test_a_refresh_that_outlives_its_session_between_two_reads_is_an_invalid_token(
    stack: Stack, api: GatewayApi
) -> None:
    """A refresh sent 0.9 s before its session ends, over a Redis link that delays each request 0.6 s: it finds
    its token still there, and the session, read 0.6 s later, already gone. A session that ended is an
    INVALID_REFRESH_TOKEN, whichever step found it ended, never a SESSION_NOT_FOUND."""
    login = log_in(stack, api, "straddle@example.com")
    stack.link("authsession", "redis").latency(ms=int(REDIS_STEP_S * 1000), direction="upstream")
    sleep_past(login.refresh_token_expires_at, by=-1.5 * REDIS_STEP_S)

    expect_error("INVALID_REFRESH_TOKEN", api.refresh_session, login.refresh_token)
    stack.heal()
    expect_error("INVALID_REFRESH_TOKEN", api.refresh_session, login.refresh_token)
    assert session_ids(stack) == []


@pytest.mark.rule("tokens.refresh.owner-checked", "errors.code.user-disabled", "redis.events.reason-user-disabled")
@pytest.mark.needs_stub(
    "user",
    "disables the user and leaves its sessions to the next refresh, where the user service ends them at once "
    "(authsessionuser refreshes while the revocation is pending)",
)
def test_refreshing_a_disabled_users_session_fails_and_revokes_it(stack: Stack, api: GatewayApi) -> None:
    login = log_in(stack, api, "deb@example.com")
    stack.users.disable("deb@example.com")

    with session_events(stack) as events:
        expect_error("USER_DISABLED", api.refresh_session, login.refresh_token)
        assert session_ids(stack) == []
        expect_error("UNAUTHENTICATED", api.me, login.access_token)
        assert events() == [
            {
                "type": "session.revoked",
                "session_id": login.session_id,
                "user_id": login.user_id,
                "reason": "user_disabled",
            }
        ]


@REPEATED_LOGINS
@pytest.mark.smoke
@pytest.mark.rule(
    "openapi.logout.ends-session",
    "openapi.logout.over",
    "openapi.link.with-logout",
    "gatewayv1.logout",
    "tokens.refresh.revoked-session",
    "openapi.me.requires-live-session",
)
def test_logout_ends_the_current_session_at_once(stack: Stack, api: GatewayApi) -> None:
    kept = log_in(stack, api, "eli@example.com")
    ended = log_in(stack, api, "eli@example.com")

    api.logout(ended.access_token)

    expect_error("UNAUTHENTICATED", api.me, ended.access_token)
    expect_error("INVALID_REFRESH_TOKEN", api.refresh_session, ended.refresh_token)
    assert api.me(kept.access_token).session_id == kept.session_id
    assert session_ids(stack) == [kept.session_id]


@pytest.mark.rule("openapi.logout.ends-session", "openapi.logout.over", transport="http")
def test_a_logout_sent_with_a_body_ignores_it_and_ends_the_session(stack: Stack) -> None:
    login = log_in(stack, stack.http, "logout-body@example.com")
    body = b'{"refresh_token": "ignored"}'
    head = (
        "POST /v1/auth/logout HTTP/1.1\r\nHost: gateway\r\n"
        f"Authorization: Bearer {login.access_token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    resp, answer, _ = raw_http(stack, head.encode() + body)

    assert resp.status == 204, f"{resp.status} {answer!r}: a logout's body is ignored, not refused"
    expect_error("UNAUTHENTICATED", stack.http.me, login.access_token)
    assert session_ids(stack) == []


@pytest.mark.rule("errors.code.unauthenticated", "openapi.response.unauthenticated", "gatewayv1.logout")
def test_logout_needs_a_valid_token(stack: Stack, api: GatewayApi) -> None:
    expect_error("UNAUTHENTICATED", api.logout, None)
    expect_error("UNAUTHENTICATED", api.logout, "garbage")


@REPEATED_LOGINS
@pytest.mark.rule(
    "openapi.sessions.list",
    "openapi.sessions.listed",
    "openapi.sessions.current",
    "gatewayv1.list-sessions",
    "gatewayv1.session-info.current",
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
@pytest.mark.rule(
    "openapi.sessions.revoke",
    "openapi.sessions.revoked",
    "openapi.link.revoke-a-listed-session",
    "gatewayv1.list-sessions",
    "gatewayv1.revoke-session",
    "authsessionv1.revoke.one-session",
)
def test_revoking_one_of_my_other_sessions_by_its_listed_id(stack: Stack, api: GatewayApi) -> None:
    """The id a listing gives, revoked with the token that listed it, ends that session and only that one."""
    mine = log_in(stack, api, "gia@example.com")
    other_device = log_in(stack, api, "gia@example.com")

    [other] = [s for s in api.list_sessions(mine.access_token) if not s.current]
    assert other.session_id == other_device.session_id
    api.revoke_session(mine.access_token, other.session_id)

    expect_error("UNAUTHENTICATED", api.me, other_device.access_token)
    expect_error("INVALID_REFRESH_TOKEN", api.refresh_session, other_device.refresh_token)
    assert api.me(mine.access_token).session_id == mine.session_id
    assert [s.session_id for s in api.list_sessions(mine.access_token)] == [mine.session_id]


@REPEATED_LOGINS
@pytest.mark.rule(
    "openapi.link.with-revoke-session",
    "openapi.sessions.revoke",
    "openapi.sessions.revoked",
    "gatewayv1.revoke-session",
    "authsessionv1.revoke.one-session",
)
def test_a_new_access_token_revokes_its_own_session(stack: Stack, api: GatewayApi) -> None:
    kept = log_in(stack, api, "own@example.com")
    login = log_in(stack, api, "own@example.com")

    api.revoke_session(login.access_token, login.session_id)

    expect_error("UNAUTHENTICATED", api.me, login.access_token)
    expect_error("INVALID_REFRESH_TOKEN", api.refresh_session, login.refresh_token)
    assert session_ids(stack) == [kept.session_id]


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


MALFORMED_SESSION_IDS = {
    "21-characters": "A" * 21,
    "23-characters": "A" * 23,
    "standard-base64": "A" * 21 + "+",
    "padded": "A" * 20 + "==",
    "a-space": "A" * 10 + " " + "A" * 11,
    "not-ascii": "é" * 22,
}
"""Values that are no session id (22 characters of base64url) and hold nothing that breaks the path."""


@pytest.mark.parametrize("session_id", MALFORMED_SESSION_IDS.values(), ids=MALFORMED_SESSION_IDS.keys())
@pytest.mark.rule("openapi.sessions.session-id-param", "errors.code.session-not-found")
def test_a_value_that_is_no_session_id_names_no_session(stack: Stack, api: GatewayApi, session_id: str) -> None:
    """Any value other than 22 characters of base64url names no session: 404 SESSION_NOT_FOUND, as an
    unknown id does, not a refusal of the argument."""
    login = log_in(stack, api, "malformed@example.com")

    expect_error("SESSION_NOT_FOUND", api.revoke_session, login.access_token, session_id)
    assert api.me(login.access_token).session_id == login.session_id


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


RACING_CONFIRMS = 3
"""Fewer than the challenge's attempts (five by default), so every one of them gets to compare its code."""


@pytest.mark.rule("tokens.retry.confirm-concurrent", "user.resolve-on-confirm")
@pytest.mark.needs_stub("user", "holds every resolve a second, so the confirms reach their write together")
def test_confirms_that_all_compared_the_right_code_all_answer_the_one_session(stack: Stack, api: GatewayApi) -> None:
    """Three confirms of one challenge with the right code, each held at the user service until all have
    compared their code: they reach the session's write together, one opens the session, and the two that find
    the challenge consumed by then answer that same session and T0 (contracts/tokens.md, "Retries"), none
    CHALLENGE_NOT_FOUND: only a confirm refused an attempt answers that."""
    challenge = api.start_email_login("mae@example.com")
    code = stack.mail.last_code("mae@example.com")
    stack.user_stub.delay(1.0, times=None, path=RESOLVE_PATH)

    with ThreadPoolExecutor(RACING_CONFIRMS) as pool:
        calls = list(
            pool.map(lambda _: _attempt(api.confirm_email_login, challenge.challenge_id, code), range(RACING_CONFIRMS))
        )

    ok, failed = _outcomes(calls)
    assert failed == [], f"confirms that compared the right code were refused: {failed}"
    assert {(login.session_id, login.refresh_token) for login in ok} == {(ok[0].session_id, ok[0].refresh_token)}
    assert session_ids(stack) == [ok[0].session_id]
    resolves = [r for r in stack.user_stub.requests if r.path == RESOLVE_PATH]
    assert len(resolves) == RACING_CONFIRMS, f"{len(resolves)} resolves: some confirm did not race to the write"


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


# ------------------------------------------------------------------ retries: what counts, which inputs


@pytest.mark.stack(code_max_attempts=3)
@pytest.mark.rule("tokens.retry.confirm-attempts", "tokens.retry.confirm-wrong-code", "tokens.retry.confirm")
def test_every_code_compared_on_a_used_challenge_is_one_of_its_attempts(stack: Stack, api: GatewayApi) -> None:
    """Retries included, no more codes than the challenge's attempts are ever compared:
    with three, the confirm, a wrong code and one retry are compared; the next retry,
    however right, is refused, and the session it would have answered stays."""
    challenge = api.start_email_login("attempts@example.com")
    code = stack.mail.last_code("attempts@example.com")
    first = api.confirm_email_login(challenge.challenge_id, code)
    expect_error("CHALLENGE_NOT_FOUND", api.confirm_email_login, challenge.challenge_id, wrong_code(code))
    again = api.confirm_email_login(challenge.challenge_id, code)
    assert (again.session_id, again.refresh_token) == (first.session_id, first.refresh_token)

    expect_error("CHALLENGE_NOT_FOUND", api.confirm_email_login, challenge.challenge_id, code)
    assert session_ids(stack) == [first.session_id]
    assert api.me(first.access_token).session_id == first.session_id


@REPEATED_LOGINS
@pytest.mark.rule(
    "tokens.retry.same-inputs", "tokens.retry.refresh", "tokens.retry.confirm", "redis.private.session-refresh"
)
def test_only_the_same_inputs_make_a_retry(stack: Stack, api: GatewayApi) -> None:
    """A retry reuses the exact inputs; anything else is a new call: another challenge
    of the same email opens another session, the successor token rotates again, while
    the same challenge and code, or the same token, answer as before."""
    one = api.start_email_login("inputs@example.com")
    first = api.confirm_email_login(one.challenge_id, code_for(stack, one))
    two = api.start_email_login("inputs@example.com")
    second = api.confirm_email_login(two.challenge_id, code_for(stack, two))
    assert second.session_id != first.session_id
    assert api.confirm_email_login(one.challenge_id, code_for(stack, one)).session_id == first.session_id

    rotated = api.refresh_session(first.refresh_token)
    assert api.refresh_session(first.refresh_token).refresh_token == rotated.refresh_token  # the same input: a retry
    onwards = api.refresh_session(rotated.refresh_token)  # another input: a rotation of its own
    assert onwards.refresh_token not in (first.refresh_token, rotated.refresh_token)
    assert sorted(session_ids(stack)) == sorted([first.session_id, second.session_id])


# ------------------------------------------------------------------ what publishes, what expires


@REPEATED_LOGINS
@pytest.mark.stack(session_ttl="2s")
@pytest.mark.waits
@pytest.mark.rule("redis.events.none-on-expiry", "redis.events.signal", "tokens.refresh.revoked-session")
def test_a_session_that_ends_by_expiry_or_was_already_gone_publishes_nothing(stack: Stack, api: GatewayApi) -> None:
    with session_events(stack) as events:
        # Each session is used right after its login: a session of 2 s lasts 1 to 2 s (whole seconds).
        rotated = log_in(stack, api, "expiry@example.com")
        api.logout(api.refresh_session(rotated.refresh_token).access_token)
        # A replay of its first token, which revokes its session, finds the session already gone.
        expect_error("INVALID_REFRESH_TOKEN", api.refresh_session, rotated.refresh_token)
        ended = log_in(stack, api, "expiry@example.com")
        api.logout(ended.access_token)
        expiring = log_in(stack, api, "expiry@example.com")
        sleep_past(expiring.refresh_token_expires_at)

        expect_error("INVALID_REFRESH_TOKEN", api.refresh_session, expiring.refresh_token)
        expect_error("UNAUTHENTICATED", api.me, expiring.access_token)
        with stack.authsession_client() as authsession:
            expect_error("SESSION_NOT_FOUND", authsession.revoke_session, ended.user_id, ended.session_id)
            expect_error("SESSION_NOT_FOUND", authsession.revoke_session, expiring.user_id, expiring.session_id)
            assert authsession.revoke_all_sessions(expiring.user_id) == 0
        assert events() == [
            {"type": "session.revoked", "session_id": s.session_id, "user_id": s.user_id, "reason": "logout"}
            for s in (rotated, ended)
        ]


def _two_lifetimes(
    stack: Stack, api: GatewayApi, email: str, later_ttl: str, *, later_lasts: bool
) -> tuple[Login, Login]:
    """A session of ``email``, then another once authsession restarted with the lifetime ``later_ttl``:
    (the brief one, the lasting one), once the brief one has ended."""
    earlier = log_in(stack, api, email)
    stack.restart("authsession", AUTHSESSION_SESSION_TTL=later_ttl)
    later = served(log_in, stack, api, email)
    brief, lasting = (earlier, later) if later_lasts else (later, earlier)
    assert brief.refresh_token_expires_at < lasting.refresh_token_expires_at
    sleep_past(brief.refresh_token_expires_at, by=1.0)
    return brief, lasting


@REPEATED_LOGINS
@pytest.mark.stack(session_ttl="1h")
@pytest.mark.waits
@pytest.mark.rule("redis.private.user-sessions", "openapi.sessions.list", "openapi.sessions.listed")
def test_a_shorter_lived_later_session_does_not_shorten_the_listing_of_the_earlier_ones(
    stack: Stack, api: GatewayApi
) -> None:
    """The set of a user's sessions expires with the latest end of its sessions and only
    ever grows: a session opened under a shorter lifetime (authsession restarted with
    one) ends first, and the sessions opened before it are still listed after."""
    _, lasting = _two_lifetimes(stack, api, "grows@example.com", "2s", later_lasts=False)

    assert [s.session_id for s in api.list_sessions(lasting.access_token)] == [lasting.session_id]
    assert api.refresh_session(lasting.refresh_token).session_id == lasting.session_id


@REPEATED_LOGINS
@pytest.mark.stack(session_ttl="2s")
@pytest.mark.waits
@pytest.mark.rule("redis.private.user-sessions", "openapi.sessions.list", "openapi.sessions.listed")
def test_a_longer_lived_later_session_is_still_listed_after_the_earlier_ones_end(stack: Stack, api: GatewayApi) -> None:
    """... and a later session opened under a longer lifetime (authsession restarted with one) extends it:
    once the earlier session has ended, the later one is still listed."""
    _, lasting = _two_lifetimes(stack, api, "extends@example.com", "1h", later_lasts=True)

    assert [s.session_id for s in api.list_sessions(lasting.access_token)] == [lasting.session_id]


@pytest.mark.rule("redis.prefix", "galaxy.env.authsession-redis-key-prefix", "galaxy.env.gateway-redis-key-prefix")
def test_both_services_find_the_keys_under_the_prefix_they_are_given(
    stack: Stack, api: GatewayApi, transport: Transport
) -> None:
    """Every key starts with the configured prefix, which both services must share: a
    gateway given another prefix finds no session; once authsession writes under that
    prefix too, its new sessions are there, and work."""
    before = log_in(stack, api, "prefix@example.com")
    other = stack.redis.key_prefix + "other:"
    stack.restart("gateway", GATEWAY_REDIS_KEY_PREFIX=other)
    api = stack.api(transport)  # the gateway's clients are new after its restart
    expect_error("UNAUTHENTICATED", api.me, before.access_token)

    stack.restart("authsession", AUTHSESSION_REDIS_KEY_PREFIX=other)
    after = served(log_in, stack, api, "prefix-after@example.com")
    assert api.me(after.access_token).session_id == after.session_id
    client = stack.redis.client()
    try:
        assert read_session(client, other, after.session_id) is not None
        assert read_session(client, stack.redis.key_prefix, after.session_id) is None
        assert read_session(client, stack.redis.key_prefix, before.session_id) is not None
    finally:
        client.close()


DEFAULT_PREFIX = "galaxy:"  # AUTHSESSION_ and GATEWAY_REDIS_KEY_PREFIX's default (galaxy/README.md)


# ------------------------------------------------------------------ revoking every session of a user


RESOLVE_HOLD_S = 0.5


def _confirm_resolving_during(
    stack: Stack, api: GatewayApi, email: str, meanwhile: Callable[[int], object], *, rounds: int | None = 1
) -> Login | ApiError:
    """Confirm a login of ``email`` whose user the user service resolves as active but
    slowly: ``meanwhile(n)`` runs while the n-th resolve (0, 1, ...) is held, for the
    first ``rounds`` resolves (None: every one). The confirm's answer, or its error."""
    user = stack.users.user_by_email(email) or stack.users.add_user(email)
    challenge = api.start_email_login(email)
    code = code_for(stack, challenge)
    held = stack.user_stub.delay(RESOLVE_HOLD_S, times=rounds, path=RESOLVE_PATH)
    stack.user_stub.fail_with(200, user.to_json() | {"status": "active"}, times=rounds, path=RESOLVE_PATH)

    with ThreadPoolExecutor(1) as pool:
        confirm = pool.submit(_attempt, api.confirm_email_login, challenge.challenge_id, code)
        seen = 0
        while not confirm.done():
            if held.applied > seen:  # the next resolve arrived and is held
                meanwhile(seen)
                seen += 1
            time.sleep(0.005)
        outcome = confirm.result()
    assert seen >= 1, "the confirm never resolved the user"
    assert isinstance(outcome, Login | ApiError), outcome
    return outcome


def _revoke_all(stack: Stack, user_id: str) -> int:
    with stack.authsession_client() as authsession:
        return authsession.revoke_all_sessions(user_id)


@REPEATED_LOGINS
@pytest.mark.needs_stub(
    "user", "holds the stub's resolve while the confirm waits on it (authsessionuser races a disable with a login)"
)
@pytest.mark.rule(
    "tokens.revoke-all.mark-first",
    "tokens.revoke-all.confirm-checks-mark",
    "tokens.revoke-all.confirm-resolves-again",
    "tokens.revoke-all.no-session-outlives",
    "redis.private.revoke-all-mark",
    "redis.private.user-revoke-all",
)
def test_a_user_disabled_and_revoked_while_a_confirm_resolves_it_gets_no_session(stack: Stack, api: GatewayApi) -> None:
    """The user service answers a confirm's resolve "active", then, before the confirm
    writes its session, disables the user and revokes all its sessions: the confirm,
    seeing a revoke-all later than the mark it read first, resolves the user again and
    gets no session; the challenge is used up, as for any disabled user."""
    before = log_in(stack, api, "raced@example.com")

    def disable_and_revoke(_: int) -> None:
        stack.users.disable("raced@example.com")
        assert _revoke_all(stack, before.user_id) == 1

    outcome = _confirm_resolving_during(stack, api, "raced@example.com", disable_and_revoke)
    assert isinstance(outcome, ApiError), f"a session of a disabled user outlived RevokeAllSessions: {outcome}"
    assert outcome.code == "USER_DISABLED", outcome
    assert session_ids(stack) == []
    expect_error("UNAUTHENTICATED", api.me, before.access_token)


@REPEATED_LOGINS
@pytest.mark.needs_stub(
    "user", "holds the stub's resolve while the confirm waits on it (authsessionuser races a disable with a login)"
)
@pytest.mark.rule(
    "tokens.revoke-all.confirm-checks-mark",
    "tokens.revoke-all.confirm-resolves-again",
    "redis.private.user-revoke-all",
)
def test_a_user_still_active_after_a_revoke_all_during_its_confirm_gets_the_session(
    stack: Stack, api: GatewayApi
) -> None:
    before = log_in(stack, api, "still@example.com")
    outcome = _confirm_resolving_during(stack, api, "still@example.com", lambda _: _revoke_all(stack, before.user_id))

    assert isinstance(outcome, Login), outcome
    assert session_ids(stack) == [outcome.session_id]
    assert api.me(outcome.access_token).session_id == outcome.session_id
    expect_error("UNAUTHENTICATED", api.me, before.access_token)


THROTTLE_KB_S = 3
"""authsession's requests to Redis throttled to this while a confirm writes its session: its session's write (a
transaction of about 1.5 KB, sent as soon as it read the user's latest revoke-all) reaches Redis whole only half
a second after that read, while a revoke-all's small steps take a few hundredths of a second each."""
REVOKE_AFTER_S = 0.2
"""When the revoke-all is sent, counted from the resolve's answer: its record of the user's latest revoke-all
lands about 0.35 s after that answer, in the middle of the confirm's read (0.1 s) and its write (0.6 s)."""
RACE_ATTEMPTS = 3


@REPEATED_LOGINS
@pytest.mark.stack(links=("authsession->redis",))
@pytest.mark.needs_stub("user", "holds the stub's resolve, then disables the user while the confirm writes its session")
@pytest.mark.rule(
    "tokens.revoke-all.confirm-checks-mark",
    "tokens.revoke-all.no-session-outlives",
    "redis.private.user-revoke-all",
)
def test_a_revoke_all_between_a_confirms_check_and_its_write_is_seen_by_the_write(
    stack: Stack, api: GatewayApi
) -> None:
    """The confirm's check of the user's latest revoke-all and its session's write are one transaction: a
    disable and revoke-all recorded after the check but before the write (authsession's writes to Redis
    throttled, so the write arrives half a second after the check) makes the write fail and the confirm
    resolve the user again: USER_DISABLED, no session, however late in the confirm the revoke-all came.

    A revoke-all that a slow machine sends only after the write finds the confirm's session and revokes it
    (it reports one): then the race was not set up, and it is run again with another user, at most
    RACE_ATTEMPTS times in all."""
    for attempt in range(RACE_ATTEMPTS):
        email = f"between{attempt}@example.com"
        user = stack.users.add_user(email)
        revoked: list[int] = []
        timers: list[threading.Timer] = []

        def disable_then_revoke(user_id: str = user.id, counts: list[int] = revoked) -> None:
            stack.users.disable(user_id)
            counts.append(_revoke_all(stack, user_id))

        def throttle_and_schedule(_: int, timers: list[threading.Timer] = timers) -> None:
            stack.link("authsession", "redis").bandwidth(THROTTLE_KB_S, direction="upstream")
            timer = threading.Timer(RESOLVE_HOLD_S + REVOKE_AFTER_S, disable_then_revoke)
            timer.start()
            timers.append(timer)

        outcome = _confirm_resolving_during(stack, api, email, throttle_and_schedule)
        for timer in timers:
            timer.join(10)
        stack.heal()

        assert session_ids(stack) == [], f"a session of a disabled user outlived its revoke-all: {outcome}"
        if revoked == [1] and isinstance(outcome, Login):
            continue  # the revoke-all came after the write, and ended the session it found
        assert revoked == [0], f"the revoke-all did not run, or found a session: {revoked}"
        assert isinstance(outcome, ApiError), f"a session was written after the revoke-all it missed: {outcome}"
        assert outcome.code == "USER_DISABLED", outcome
        return
    raise AssertionError(f"in {RACE_ATTEMPTS} attempts the revoke-all always came after the confirm's write")


@pytest.mark.needs_stub(
    "user", "holds the stub's resolve while the confirm waits on it (authsessionuser races a disable with a login)"
)
@pytest.mark.rule("tokens.revoke-all.confirm-resolves-again", "errors.code.dependency-unavailable")
def test_a_confirm_refused_by_a_revoke_all_in_every_round_gives_up_and_keeps_the_code(
    stack: Stack, api: GatewayApi
) -> None:
    """A revoke-all during each of the confirm's resolves: after three rounds the confirm
    answers DEPENDENCY_UNAVAILABLE (user), as for any failure of the user service, and
    the code still opens the session once the revocations stop."""
    user = stack.users.add_user("rounds@example.com")
    outcome = _confirm_resolving_during(
        stack, api, "rounds@example.com", lambda _: _revoke_all(stack, user.id), rounds=None
    )
    assert isinstance(outcome, ApiError), outcome
    assert (outcome.code, outcome.metadata.get("dependency")) == ("DEPENDENCY_UNAVAILABLE", "user"), outcome
    assert session_ids(stack) == []

    stack.user_stub.clear_faults()
    challenge_id = stack.mail.messages[-1].idempotency_key
    login = served(api.confirm_email_login, challenge_id, stack.mail.last_code("rounds@example.com"))
    assert session_ids(stack) == [login.session_id]


@REPEATED_LOGINS
@pytest.mark.redis_faults
@pytest.mark.rule(
    "tokens.revoke-all.repeatable",
    "tokens.revoke-all.every-session",
    "redis.private.revoke-all-mark",
    "redis.events.reason-revoke-all",
)
def test_revoking_every_session_may_be_repeated_and_revokes_what_is_left(stack: Stack, api: GatewayApi) -> None:
    logins = [log_in(stack, api, "again@example.com") for _ in range(3)]
    api.logout(logins[0].access_token)  # one is gone already
    user_id = logins[0].user_id

    with stack.authsession_client() as authsession:
        stack.redis.pause()
        try:
            in_a_second = functools.partial(authsession.revoke_all_sessions, timeout=1.0)
            expect_error("DEPENDENCY_UNAVAILABLE", in_a_second, user_id, dependency="redis")
        finally:
            stack.redis.resume()
        with session_events(stack) as events:
            assert served(authsession.revoke_all_sessions, user_id) == 2
            assert authsession.revoke_all_sessions(user_id) == 0
            assert sorted(e["session_id"] for e in events()) == sorted(s.session_id for s in logins[1:])
            assert {e["reason"] for e in events()} == {"revoke_all"}
    for login in logins:
        expect_error("UNAUTHENTICATED", api.me, login.access_token)
    # The revocation is behind the user: a new login works, and stays.
    after = log_in(stack, api, "again@example.com")
    assert session_ids(stack) == [after.session_id]


@REPEATED_LOGINS
@pytest.mark.stack(retry_grace="3s")
@pytest.mark.waits
@pytest.mark.rule(
    "tokens.retry.window", "tokens.retry.confirm", "tokens.retry.refresh", "galaxy.env.authsession-retry-grace"
)
def test_the_retry_window_runs_from_the_exchange_and_from_the_rotation(stack: Stack, api: GatewayApi) -> None:
    """A retry is judged against the window from the moment the challenge was exchanged,
    or the token rotated, not from the start of the login: 3.2 s after the start and
    the first login, 1.2 s after the exchange and the rotation, both still retry."""
    pending = api.start_email_login("window@example.com")
    code = code_for(stack, pending)
    first = log_in(stack, api, "window@example.com")
    time.sleep(2.0)
    exchanged = api.confirm_email_login(pending.challenge_id, code)
    rotated = api.refresh_session(first.refresh_token)
    time.sleep(1.2)

    again = api.confirm_email_login(pending.challenge_id, code)
    assert (again.session_id, again.refresh_token) == (exchanged.session_id, exchanged.refresh_token)
    assert api.refresh_session(first.refresh_token).refresh_token == rotated.refresh_token
    assert sorted(session_ids(stack)) == sorted([first.session_id, exchanged.session_id])
