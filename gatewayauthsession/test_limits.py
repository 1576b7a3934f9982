"""Abuse limits: attempts, cooldowns and rate limits answer RATE_LIMITED with
a retry hint (Retry-After / RetryInfo), over HTTP and gRPC: what each limit is
keyed by (a client address over both APIs and every connection, an email in
its normal form, a client id), what counts and what is given back, and the
arithmetic of its window and its hint."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from contracts.errors import ApiError
from contracts.gatewayv1 import GatewayApi
from gatewayauthsession.scenario import REPEATED_LOGINS, expect_error, log_in, served, start_with, wrong_code
from gatewayauthsession.stack import Stack, Transport

UNKNOWN_ID = "AAAAAAAAAAAAAAAAAAAAAA"


@pytest.mark.stack(resend_cooldown="30s")
@pytest.mark.rule(
    "galaxy.env.authsession-resend-cooldown",
    "redis.private.resend-cooldown",
    "errors.code.rate-limited",
    "errors.http.retry-after",
    "errors.grpc.retry-info",
    "openapi.response.rate-limited",
    "openapi.header.retry-after",
)
def test_a_resend_within_the_cooldown_is_refused_with_a_retry_hint(stack: Stack, api: GatewayApi) -> None:
    api.start_email_login("ola@example.com")

    err = expect_error("RATE_LIMITED", api.start_email_login, "ola@example.com")
    assert err.retry_after is not None
    assert 20 <= err.retry_after <= 30, "the hint is what is left of the 30 s cooldown, rounded up"
    assert len(stack.mail.messages_to("ola@example.com")) == 1
    api.start_email_login("other@example.com")  # the cooldown is per email


@REPEATED_LOGINS
@pytest.mark.stack(start_limit_per_email=2)
@pytest.mark.rule(
    "galaxy.env.authsession-start-limit-per-email",
    "galaxy.env.authsession-start-limit-window",
    "redis.private.starts-email",
    "errors.code.rate-limited",
    "errors.http.retry-after",
    "errors.grpc.retry-info",
)
def test_starting_logins_is_limited_per_email(stack: Stack, api: GatewayApi) -> None:
    api.start_email_login("pia@example.com")
    api.start_email_login("pia@example.com")

    err = expect_error("RATE_LIMITED", api.start_email_login, "pia@example.com")
    assert err.retry_after is not None
    assert 3500 <= err.retry_after <= 3600, "the hint is what is left of the one-hour start limit window"
    assert len(stack.mail.messages_to("pia@example.com")) == 2


RACING_STARTS = 6


def _start_or_refusal(api: GatewayApi, email: str) -> object:
    try:
        return api.start_email_login(email)
    except ApiError as err:
        return err


@pytest.mark.stack(start_limit_per_client=2, links=("authsession->redis",))
@pytest.mark.rule("galaxy.env.authsession-start-limit-per-client", "errors.code.rate-limited")
def test_starts_at_once_are_counted_as_they_are_checked(stack: Stack, api: GatewayApi) -> None:
    """Six logins of six emails started at once by one client allowed two: each start is checked and counted
    in one step, so no two read the same count. authsession's requests to Redis are each held 50 ms, so the
    six all reach the limit before any has written (a check, then a count, would let all six through)."""
    stack.link("authsession", "redis").latency(ms=50, direction="upstream")
    with ThreadPoolExecutor(RACING_STARTS) as pool:
        calls = list(pool.map(lambda n: _start_or_refusal(api, f"race{n}@example.com"), range(RACING_STARTS)))
    stack.heal()

    refused = [c for c in calls if isinstance(c, ApiError)]
    assert len(calls) - len(refused) == 2, f"not two of {RACING_STARTS} starts at once were let through: {calls}"
    assert {e.code for e in refused} == {"RATE_LIMITED"}, refused
    assert len(stack.mail.messages) == 2


@pytest.mark.stack(start_limit_per_client=3)
@pytest.mark.rule(
    "galaxy.env.authsession-start-limit-per-client",
    "redis.private.starts-client",
    "authsessionv1.client-id",
    "errors.code.rate-limited",
)
def test_starting_logins_is_limited_per_client(stack: Stack, api: GatewayApi) -> None:
    for n in range(3):
        api.start_email_login(f"user{n}@example.com")

    err = expect_error("RATE_LIMITED", api.start_email_login, "user9@example.com")
    # The hint points into the start-limit window (an hour), not at once.
    assert err.retry_after is not None
    assert 1 <= err.retry_after <= 3600, err
    assert len(stack.mail.messages) == 3


@pytest.mark.stack(start_limit_per_client=3, login_rate_per_minute=600, login_burst=50)
@pytest.mark.rule("email.refused.before-anything", "galaxy.env.authsession-start-limit-per-client")
def test_a_refused_address_counts_toward_no_start_limit(stack: Stack, api: GatewayApi) -> None:
    for refused in ("no-at-sign", "a@b@example.com", "u@[192.0.2.1]", "tab\t@example.com", "u@-x.example"):
        expect_error("INVALID_ARGUMENT", api.start_email_login, refused)

    for n in range(3):  # the client's whole limit is still there
        api.start_email_login(f"after-refusals{n}@example.com")
    expect_error("RATE_LIMITED", api.start_email_login, "after-refusals9@example.com")
    assert len(stack.mail.messages) == 3


@pytest.mark.stack(failed_attempts_per_hour=3, code_max_attempts=10, resend_cooldown="1ms")
@pytest.mark.rule(
    "galaxy.env.authsession-failed-attempts-per-hour",
    "redis.private.failed-attempts",
    "errors.code.rate-limited",
    "errors.code.invalid-code",
)
def test_failed_attempts_are_capped_per_email_and_a_resend_does_not_reset_them(stack: Stack, api: GatewayApi) -> None:
    first = api.start_email_login("quin@example.com")
    code = stack.mail.last_code("quin@example.com")
    for _ in range(3):
        expect_error("INVALID_CODE", api.confirm_email_login, first.challenge_id, wrong_code(code))

    # The cap is reached: even the right code is refused, and a new challenge does not help
    # (the cooldown, a millisecond here, is not what refuses it: the cap's hour is).
    expect_error("RATE_LIMITED", api.confirm_email_login, first.challenge_id, code)
    refused = expect_error("RATE_LIMITED", api.start_email_login, "quin@example.com")
    assert refused.retry_after is not None, f"{refused}"
    assert refused.retry_after > 60, f"{refused}: the rest of the cap's hour"
    log_in(stack, api, "someone-else@example.com")  # other emails are unaffected


@pytest.mark.stack(login_rate_per_minute=1, login_burst=3)
@pytest.mark.rule(
    "openapi.rate-limit.login",
    "galaxy.env.gateway-login-burst",
    "errors.http.retry-after",
    "errors.grpc.retry-info",
    "openapi.header.retry-after",
)
def test_the_gateway_rate_limits_login_endpoints_per_client(stack: Stack, api: GatewayApi) -> None:
    for n in range(3):
        api.start_email_login(f"burst{n}@example.com")

    err = expect_error("RATE_LIMITED", api.start_email_login, "burst9@example.com")
    assert err.retry_after is not None
    assert err.retry_after >= 1
    assert len(stack.mail.messages) == 3  # the refused call never reached authsession


# ------------------------------------------------------------------ what a limit is keyed by, what counts


@pytest.mark.stack(login_rate_per_minute=1, login_burst=4)
@pytest.mark.rule(
    "openapi.rate-limit.login",
    "galaxy.env.gateway-login-burst",
    "galaxy.env.gateway-login-rate-per-minute",
    "errors.code.rate-limited",
    "openapi.response.invalid-argument",
)
def test_the_gateways_login_limit_is_one_bucket_per_address_over_both_apis_and_every_connection(
    stack: Stack, api: GatewayApi, transport: Transport
) -> None:
    """One token bucket per client address, shared by HTTP and gRPC and by every
    connection of that address; each login route takes from it (start, confirm,
    refresh), the other routes do not, nor does a call too malformed to be bound
    for authsession; another address has a bucket of its own."""
    other: Transport = "http" if transport == "grpc" else "grpc"
    # Each login route's call missing a field: refused before the limit, and not counted.
    expect_error("INVALID_ARGUMENT", stack.client(transport).start_email_login, "")
    expect_error("INVALID_ARGUMENT", stack.client(transport).confirm_email_login, "", "")
    expect_error("INVALID_ARGUMENT", stack.client(transport).confirm_email_login, UNKNOWN_ID, "")  # no code
    expect_error("INVALID_ARGUMENT", stack.client(transport).confirm_email_login, "", "123456")  # no challenge
    expect_error("INVALID_ARGUMENT", stack.client(transport).refresh_session, "")
    api.start_email_login("first@example.com")
    stack.client(other).start_email_login("second@example.com")  # the other API, a connection of its own
    expect_error("CHALLENGE_NOT_FOUND", stack.client(transport).confirm_email_login, UNKNOWN_ID, "123456")
    expect_error("INVALID_REFRESH_TOKEN", stack.client(other).refresh_session, "A" * 43)
    expect_error("UNAUTHENTICATED", api.me, "garbage")  # not a login route: not limited

    for client in (api, stack.client(transport), stack.client(other)):
        err = expect_error("RATE_LIMITED", client.start_email_login, "third@example.com")
        assert err.retry_after is not None
        assert err.retry_after > 50, f"the next token comes a minute after the burst, not {err.retry_after}s"
    expect_error("RATE_LIMITED", api.confirm_email_login, UNKNOWN_ID, "123456")
    expect_error("RATE_LIMITED", stack.client(other).refresh_session, "A" * 43)
    assert [m.to for m in stack.mail.messages] == ["first@example.com", "second@example.com"]
    assert start_with(stack, "http", "third@example.com", source="127.0.0.2") == "OK", "another address, another bucket"


@pytest.mark.stack(login_rate_per_minute=600, login_burst=2)
@pytest.mark.rule("galaxy.env.gateway-login-rate-per-minute", "openapi.rate-limit.login", "openapi.header.retry-after")
def test_the_gateways_login_bucket_refills_at_the_configured_rate(stack: Stack, api: GatewayApi) -> None:
    """600 a minute is a token every tenth of a second: the hint says to come back in a
    second (whole seconds, rounded up, at least 1), and 0.3 s after a refusal a call goes
    through, where the default 60 a minute would refuse it for a second."""
    for n in range(10):  # the burst of two, and any token a slow machine's calls let refill meanwhile
        try:
            api.start_email_login(f"r{n}@example.com")
        except ApiError as refused:
            err = refused
            break
    else:
        raise AssertionError("ten calls at once, and none was refused")
    refused_at = time.monotonic()
    assert err.code == "RATE_LIMITED", err
    assert err.retry_after == 1, f"a tenth of a second to the next token, rounded up: {err.retry_after}"

    time.sleep(0.3)
    api.start_email_login("after@example.com")
    assert time.monotonic() - refused_at < 1.0, "a second after the refusal, 60 a minute would have refilled too"


@pytest.mark.stack(login_rate_per_minute=1, login_burst=1)
@pytest.mark.rule("openapi.rate-limit.login", "openapi.header.retry-after", "errors.http.retry-after")
def test_the_gateways_retry_hint_is_the_wait_for_the_next_token_rounded_up(stack: Stack, api: GatewayApi) -> None:
    opened = _timed(api.start_email_login, "once@example.com")
    refused, err = _refused(api.start_email_login, "twice@example.com")
    assert err.retry_after in _hints(60, opened, refused), f"{err.retry_after}: the wait for the next token, rounded up"


def _hints(total: float, opened: tuple[float, float], refused: tuple[float, float]) -> set[float]:
    """The whole-second hints a limit may give for what is left of ``total`` seconds
    counted from the moment it opened (during the call made between ``opened``'s two
    times), asked during the call made between ``refused``'s: the rest, rounded up."""
    least, most = max(0.0, refused[0] - opened[1]), refused[1] - opened[0]
    return {float(s) for s in range(math.ceil(total - most), math.ceil(total - least) + 1)}


def _timed(call: Callable[..., object], *args: object) -> tuple[float, float]:
    """When ``call(*args)`` was made: just before it and just after its answer (monotonic seconds)."""
    started = time.monotonic()
    call(*args)
    return started, time.monotonic()


def _refused(call: Callable[..., object], *args: object) -> tuple[tuple[float, float], ApiError]:
    """``call(*args)`` refused with RATE_LIMITED: when it was made (as :func:`_timed`) and the error."""
    started = time.monotonic()
    err = expect_error("RATE_LIMITED", call, *args)
    return (started, time.monotonic()), err


@pytest.mark.stack(start_limit_per_client=3)
@pytest.mark.rule(
    "galaxy.env.authsession-start-limit-per-client",
    "authsessionv1.client-id",
    "redis.private.starts-client",
    "openapi.start.same-answer",
)
def test_the_start_limit_per_client_counts_an_address_over_both_apis_and_every_connection(stack: Stack) -> None:
    """The gateway sends authsession the caller's IPv4 address as its client_id, so
    the starts of one address count together whatever the API and the connection;
    another address, or another client_id, is another client, and a start without
    a client_id is limited by none."""
    stack.client("http").start_email_login("c1@example.com")
    stack.client("grpc").start_email_login("c2@example.com")
    stack.client("http").start_email_login("c3@example.com")
    expect_error("RATE_LIMITED", stack.client("grpc").start_email_login, "c4@example.com")
    expect_error("RATE_LIMITED", stack.client("http").start_email_login, "c4@example.com")
    assert start_with(stack, "http", "c4@example.com", source="127.0.0.2") == "OK"

    with stack.authsession_client() as authsession:
        expect_error("RATE_LIMITED", authsession.start_email_login, "c5@example.com", "127.0.0.1")
        authsession.start_email_login("c5@example.com", "192.0.2.7")
        for n in range(4):
            authsession.start_email_login(f"anonymous{n}@example.com")  # no client_id: no client limit
    assert len(stack.mail.messages) == 3 + 1 + 1 + 4


@pytest.mark.stack(resend_cooldown="2400ms")
@pytest.mark.waits
@pytest.mark.rule(
    "galaxy.env.authsession-resend-cooldown",
    "redis.private.resend-cooldown",
    "email.scope",
    "errors.http.retry-after",
    "errors.grpc.retry-info",
)
def test_the_resend_cooldown_runs_from_the_start_for_the_normal_form_and_hints_the_rest_rounded_up(
    stack: Stack, api: GatewayApi
) -> None:
    opened = _timed(api.start_email_login, "Nora@Example.COM")
    time.sleep(1.0)
    refused, err = _refused(api.start_email_login, "nora@example.com")  # the same email, in its normal form
    assert err.retry_after in _hints(2.4, opened, refused), f"{err.retry_after}: the rest of 2.4 s, rounded up"

    # The cooldown ends 2.4 s after the start, the refused call notwithstanding.
    time.sleep(max(0.0, opened[1] + 2.5 - time.monotonic()))
    api.start_email_login("NORA@example.com")
    assert [m.to for m in stack.mail.messages] == ["nora@example.com", "nora@example.com"]


LIMIT_WINDOWS: dict[str, tuple[dict[str, object], str]] = {
    "per-email": ({"start_limit_per_email": 1, "resend_cooldown": "1ms"}, "win@example.com"),
    "per-client": ({"start_limit_per_client": 1}, "win2@example.com"),
}


@pytest.mark.parametrize(
    "limit", [pytest.param(name, marks=pytest.mark.stack(**settings)) for name, (settings, _) in LIMIT_WINDOWS.items()]
)
@pytest.mark.waits
@pytest.mark.rule(
    "galaxy.env.authsession-start-limit-window",
    "galaxy.env.authsession-start-limit-per-email",
    "galaxy.env.authsession-start-limit-per-client",
)
def test_a_start_limits_window_is_opened_by_its_first_start(stack: Stack, limit: str) -> None:
    """The window is fixed, an hour from the first start: a start refused 1.5 s later
    is told to come back in what is left of that hour, not in a whole hour."""
    api = stack.http
    opened = _timed(api.start_email_login, "win@example.com")
    time.sleep(1.5)
    refused, err = _refused(api.start_email_login, LIMIT_WINDOWS[limit][1])
    assert err.retry_after in _hints(3600, opened, refused), f"{err.retry_after}: the rest of the first start's hour"


@pytest.mark.stack(failed_attempts_per_hour=2, code_max_attempts=10)
@pytest.mark.waits
@pytest.mark.rule("galaxy.env.authsession-failed-attempts-per-hour", "redis.private.failed-attempts")
def test_the_failed_attempt_hour_runs_from_the_first_wrong_code(stack: Stack, api: GatewayApi) -> None:
    challenge = api.start_email_login("hour@example.com")
    code = stack.mail.last_code("hour@example.com")
    opened, _ = _wrong(api, challenge.challenge_id, code)
    time.sleep(1.5)
    _wrong(api, challenge.challenge_id, code, 1)

    refused, err = _refused(api.confirm_email_login, challenge.challenge_id, code)
    assert err.retry_after in _hints(3600, opened, refused), f"{err.retry_after}: the rest of the first one's hour"


def _wrong(api: GatewayApi, challenge_id: str, code: str, n: int = 0) -> tuple[tuple[float, float], ApiError]:
    started = time.monotonic()
    err = expect_error("INVALID_CODE", api.confirm_email_login, challenge_id, wrong_code(code, n))
    return (started, time.monotonic()), err


@REPEATED_LOGINS
@pytest.mark.stack(failed_attempts_per_hour=2)
@pytest.mark.needs_stub("user", "has the stub fail one resolve (authsessionuser's outages break the link)")
@pytest.mark.rule(
    "galaxy.env.authsession-failed-attempts-per-hour", "redis.private.failed-attempts", "redis.private.challenge"
)
def test_a_right_code_gives_its_failed_attempt_back(stack: Stack, api: GatewayApi) -> None:
    """Each code is counted before it is compared; a right one's count is given back,
    and so is one whose user could not be resolved: with a cap of two, a wrong code,
    a right one whose lookup failed, a right one and another wrong one leave the
    cap unreached."""
    first = api.start_email_login("cap@example.com")
    code = stack.mail.last_code("cap@example.com")
    expect_error("INVALID_CODE", api.confirm_email_login, first.challenge_id, wrong_code(code))
    stack.user_stub.fail_with(503)
    expect_error("DEPENDENCY_UNAVAILABLE", api.confirm_email_login, first.challenge_id, code, dependency="user")
    served(api.confirm_email_login, first.challenge_id, code)

    second = api.start_email_login("cap@example.com")
    again = stack.mail.last_code("cap@example.com")
    expect_error("INVALID_CODE", api.confirm_email_login, second.challenge_id, wrong_code(again))
    expect_error("RATE_LIMITED", api.confirm_email_login, second.challenge_id, wrong_code(again, 1))  # the cap


@pytest.mark.stack(code_max_attempts=1)
@pytest.mark.needs_stub("user", "has the stub fail one resolve (authsessionuser's outages break the link)")
@pytest.mark.rule("redis.private.challenge", "galaxy.env.authsession-code-max-attempts")
def test_a_right_code_whose_user_could_not_be_resolved_gives_its_attempt_back(stack: Stack, api: GatewayApi) -> None:
    challenge = api.start_email_login("retry-user@example.com")
    code = stack.mail.last_code("retry-user@example.com")
    stack.user_stub.fail_with(503)
    expect_error("DEPENDENCY_UNAVAILABLE", api.confirm_email_login, challenge.challenge_id, code, dependency="user")

    login = served(api.confirm_email_login, challenge.challenge_id, code)  # its one attempt is still there
    assert api.me(login.access_token).email == "retry-user@example.com"
