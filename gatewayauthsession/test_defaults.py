"""Every documented default of the gateway's and authsession's settings
(``galaxy/README.md``'s configuration tables), seen from outside in a stack or
a by-hand process that is not given the setting: a deployment that gives none
relies on these, so each is pinned on its own, not only the values the other
scenarios give.

A setting a scenario does not give is not sent (``harness/topology/settings.py``),
and each scenario here first checks that the variable is really absent from the
environment its process runs with. How each default shows:

- a deadline: the time a call takes to answer DEPENDENCY_UNAVAILABLE naming
  the dependency that hangs, between the default and the default plus the
  margin the suite's other bounds allow a busy machine;
- a listen address: the ready file of the binary started with that address
  left out, in a network namespace of its own, so that it binds the default
  port without taking it from anything else on the machine;
- a key prefix: the keys a process with none given writes or reads in Redis;
- a count: the wrong code that burns a challenge;
- a readiness bound: how long probes sent one after another wait for the
  check of a dependency that hangs;
- the drain's bound: when a drain with a call in flight past it is cut, and
  the ``stopped`` line naming it.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pytest
import requests

from contracts import tokens
from contracts.authsessionv1.client import AuthSessionGrpcClient
from contracts.errors import ApiError
from contracts.gatewayv1 import GatewayApi
from contracts.gatewayv1.grpc_client import GatewayGrpcClient
from contracts.gatewayv1.http_client import GatewayHttpClient
from contracts.health import readiness_snapshot
from gatewayauthsession.by_hand import by_hand, env_changed, run_to_exit
from gatewayauthsession.namespace import get_inside, own_network_namespace
from gatewayauthsession.scenario import beyond_shared_checks, code_for, expect_error, log_in, ready_within, wrong_code
from gatewayauthsession.stack import Stack
from harness.processes.service import ServiceProcess

MARGIN = 2.0
"""Allowed beyond a bound for a busy machine, as the suite's other bounds allow."""
EARLY = 0.9
"""A deadline is not met early: an answer before this share of it came from a shorter one."""


def _not_sent(stack: Stack, service: str, variable: str) -> None:
    """The stack runs ``service`` without ``variable``: its own default is in force."""
    env = stack.process(service).env
    assert variable not in env, f"{service} was given {variable}={env[variable]!r}; its default is not what runs"


def _within_deadline(seconds: float, deadline: float) -> None:
    assert deadline * EARLY <= seconds < deadline + MARGIN, (
        f"answered after {seconds:.2f}s: the default deadline is {deadline}s"
    )


# ------------------------------------------------------------------ deadlines


@pytest.mark.waits
@pytest.mark.rule("galaxy.env.authsession-upstream-timeout", "errors.dependency.innermost")
def test_a_hanging_mail_service_is_named_at_authsessions_default_deadline_of_2s(stack: Stack) -> None:
    """authsession, asked directly with a caller's deadline of its own far off, gives up
    on a mail service that does not answer after its default two seconds."""
    _not_sent(stack, "authsession", "AUTHSESSION_UPSTREAM_TIMEOUT")
    stack.mail.delay(8.0, times=None)
    with stack.authsession_client() as client:
        started = time.monotonic()
        expect_error("DEPENDENCY_UNAVAILABLE", client.start_email_login, "slow-mail@example.com", dependency="mail")
        seconds = time.monotonic() - started
    stack.mail.clear_faults()
    _within_deadline(seconds, 2.0)


@pytest.mark.stack(links=("gateway->authsession",))
@pytest.mark.waits
@pytest.mark.rule("galaxy.env.gateway-authsession-timeout", "errors.dependency.innermost")
def test_a_hanging_authsession_is_named_at_the_gateways_default_deadline_of_3s(stack: Stack, api: GatewayApi) -> None:
    _not_sent(stack, "gateway", "GATEWAY_AUTHSESSION_TIMEOUT")
    stack.link("gateway", "authsession").blackhole()

    started = time.monotonic()
    expect_error("DEPENDENCY_UNAVAILABLE", api.start_email_login, "hang@example.com", dependency="authsession")
    _within_deadline(time.monotonic() - started, 3.0)


@pytest.mark.stack(links=("gateway->redis",))
@pytest.mark.waits
@pytest.mark.rule("galaxy.env.gateway-redis-timeout", "redis.session.liveness")
def test_a_hanging_redis_is_named_at_the_gateways_default_read_deadline_of_1s(stack: Stack, api: GatewayApi) -> None:
    """An authenticated call reads its session's liveness from Redis: with Redis
    blackholed, the gateway gives up on that read after its default second."""
    _not_sent(stack, "gateway", "GATEWAY_REDIS_TIMEOUT")
    login = log_in(stack, api, "hang-redis@example.com")
    stack.link("gateway", "redis").blackhole()

    started = time.monotonic()
    expect_error("DEPENDENCY_UNAVAILABLE", api.me, login.access_token, dependency="redis")
    _within_deadline(time.monotonic() - started, 1.0)


# ------------------------------------------------------------------ counts


@pytest.mark.rule("galaxy.env.authsession-code-max-attempts", "errors.code.too-many-attempts")
def test_the_fifth_wrong_code_burns_a_challenge_by_default(stack: Stack, api: GatewayApi) -> None:
    """Four wrong codes leave a challenge open (its right code would still be
    taken); the fifth burns it, and then the right code is refused too."""
    _not_sent(stack, "authsession", "AUTHSESSION_CODE_MAX_ATTEMPTS")
    challenge = api.start_email_login("five-tries@example.com")
    code = code_for(stack, challenge)
    for n in range(4):
        expect_error("INVALID_CODE", api.confirm_email_login, challenge.challenge_id, wrong_code(code, n))
    expect_error("TOO_MANY_ATTEMPTS", api.confirm_email_login, challenge.challenge_id, wrong_code(code, 4))
    expect_error("CHALLENGE_NOT_FOUND", api.confirm_email_login, challenge.challenge_id, code)


@pytest.mark.stack(resend_cooldown="1ms")
@pytest.mark.rule(
    "galaxy.env.authsession-start-limit-per-email",
    "galaxy.env.authsession-start-limit-window",
    "errors.code.rate-limited",
)
def test_an_email_starts_five_logins_an_hour_by_default(stack: Stack, api: GatewayApi) -> None:
    """The cooldown given out of the way: five starts of one email are served, the sixth
    is refused with a hint of what is left of an hour."""
    for variable in ("AUTHSESSION_START_LIMIT_PER_EMAIL", "AUTHSESSION_START_LIMIT_WINDOW"):
        _not_sent(stack, "authsession", variable)
    for _ in range(5):
        api.start_email_login("five-starts@example.com")
    err = expect_error("RATE_LIMITED", api.start_email_login, "five-starts@example.com")
    assert err.retry_after is not None
    assert 3600 - 60 <= err.retry_after <= 3600, f"{err.retry_after}: the rest of the one-hour window"
    assert len(stack.mail.messages_to("five-starts@example.com")) == 5


@pytest.mark.stack(login_burst=100)
@pytest.mark.rule("galaxy.env.authsession-start-limit-per-client", "errors.code.rate-limited")
def test_a_client_starts_thirty_logins_an_hour_by_default(stack: Stack, api: GatewayApi) -> None:
    """One caller's address (the gateway's burst given out of the way): thirty starts of
    as many emails are served, the thirty-first is refused."""
    _not_sent(stack, "authsession", "AUTHSESSION_START_LIMIT_PER_CLIENT")
    for n in range(30):
        api.start_email_login(f"client-start{n}@example.com")
    err = expect_error("RATE_LIMITED", api.start_email_login, "client-start30@example.com")
    assert err.retry_after is not None
    assert 3600 - 60 <= err.retry_after <= 3600, f"{err.retry_after}: the rest of the one-hour window"
    assert len(stack.mail.messages) == 30


@pytest.mark.stack(resend_cooldown="1ms")
@pytest.mark.rule("galaxy.env.authsession-failed-attempts-per-hour", "errors.code.rate-limited")
def test_an_email_gets_ten_wrong_codes_an_hour_by_default(stack: Stack, api: GatewayApi) -> None:
    """Three challenges started: ten wrong codes over two of them (five burn each) are
    compared; then the email is at its cap: the third challenge's right code is refused,
    as is a fourth start (the start limit, five, would have let it through)."""
    _not_sent(stack, "authsession", "AUTHSESSION_FAILED_ATTEMPTS_PER_HOUR")
    email = "ten-wrong@example.com"
    *burnt, third = (api.start_email_login(email) for _ in range(3))
    for challenge in burnt:
        code = code_for(stack, challenge)
        for n in range(4):
            expect_error("INVALID_CODE", api.confirm_email_login, challenge.challenge_id, wrong_code(code, n))
        expect_error("TOO_MANY_ATTEMPTS", api.confirm_email_login, challenge.challenge_id, wrong_code(code, 4))
    expect_error("RATE_LIMITED", api.confirm_email_login, third.challenge_id, code_for(stack, third))
    expect_error("RATE_LIMITED", api.start_email_login, email)


# ------------------------------------------------------------------ bounds of a setting


@pytest.mark.parametrize(("grace", "accepted"), [("5m", True), ("5m1ms", False)])
@pytest.mark.rule("galaxy.env.authsession-retry-grace", "galaxy.process.configuration")
def test_the_retry_grace_is_at_most_5m(stack: Stack, grace: str, accepted: bool) -> None:
    """AUTHSESSION_RETRY_GRACE of 5m is served; a millisecond more is a configuration problem."""
    if accepted:
        proc = by_hand(stack, "authsession", {"AUTHSESSION_RETRY_GRACE": grace}).start()
        assert proc.addresses, proc
        assert proc.stop() == 0
        return
    done, _ = run_to_exit(stack, "authsession", {"AUTHSESSION_RETRY_GRACE": grace})
    assert done.returncode == 2, done
    [line] = done.stderr.splitlines()
    assert line.startswith("authsession: configuration: "), line
    assert "AUTHSESSION_RETRY_GRACE" in line, line


@pytest.mark.waits
@pytest.mark.rule("galaxy.env.authsession-retry-grace", "tokens.retry.confirm-after-window")
def test_a_confirm_may_be_retried_for_30s_by_default(stack: Stack) -> None:
    """A confirm retried with the same inputs 28 s after it was answered gets the same
    session; 32 s after, the code is gone. Over HTTP alone: the window is authsession's,
    whichever API the confirm came through, and half a minute is long to wait twice."""
    _not_sent(stack, "authsession", "AUTHSESSION_RETRY_GRACE")
    api = stack.api("http")
    challenge = api.start_email_login("grace@example.com")
    code = code_for(stack, challenge)
    first = api.confirm_email_login(challenge.challenge_id, code)
    answered = time.monotonic()

    time.sleep(max(0.0, answered + 30 - MARGIN - time.monotonic()))
    again = api.confirm_email_login(challenge.challenge_id, code)
    assert again.session_id == first.session_id
    time.sleep(max(0.0, answered + 30 + MARGIN - time.monotonic()))
    expect_error("CHALLENGE_NOT_FOUND", api.confirm_email_login, challenge.challenge_id, code)


# ------------------------------------------------------------------ the drain's bound


def _drained_call(stack: Stack, service: str) -> tuple[ServiceProcess, Callable[[], object]]:
    """A by-hand ``service`` given no shutdown timeout, and a call to it that waits on the
    mail service longer than that bound: every deadline on its way (authsession's upstream
    timeout, and for the gateway its authsession timeout, to a by-hand authsession of its
    own) is set past it."""
    authsession = by_hand(stack, "authsession", {"AUTHSESSION_UPSTREAM_TIMEOUT": "20s"}).start()
    if service == "authsession":
        client = AuthSessionGrpcClient(authsession.address("grpc"), timeout=30)
        stack.on_close.append(client.close)
        return authsession, partial(client.start_email_login, "drained@example.com")
    gateway = by_hand(
        stack,
        "gateway",
        {"GATEWAY_AUTHSESSION_TIMEOUT": "20s", "GATEWAY_AUTHSESSION_ADDR": authsession.address("grpc")},
    ).start()
    api = GatewayHttpClient("http://" + gateway.address("http"), timeout=30)
    stack.on_close.append(api.close)
    return gateway, partial(api.start_email_login, "drained@example.com")


CUT: dict[str, type[Exception]] = {"gateway": requests.ConnectionError, "authsession": ApiError}
"""What a client sees of a call the drain cut: the HTTP connection closed, the gRPC call UNAVAILABLE."""


@pytest.mark.waits
@pytest.mark.parametrize("service", ["gateway", "authsession"])
@pytest.mark.rule(
    "galaxy.env.gateway-shutdown-timeout",
    "galaxy.env.authsession-shutdown-timeout",
    "galaxy.process.signals",
    "galaxy.logs.stopped-line",
)
def test_a_drain_is_cut_at_the_default_10s(stack: Stack, service: str) -> None:
    """SIGTERM with a call in flight that would last twelve seconds: the binary given no
    shutdown timeout drains it for ten seconds, not less and not more, then cuts it:
    exit code 1 and a last line ``stopped`` naming the bound in force."""
    proc, call_it = _drained_call(stack, service)
    variable = f"{service.upper()}_SHUTDOWN_TIMEOUT"
    assert variable not in proc.env
    held = stack.mail.delay(12.0, times=None)
    with ThreadPoolExecutor(1) as pool:
        call = pool.submit(call_it)
        reached = time.monotonic() + 5
        while held.applied == 0:  # the call reaches the mail service, which holds it for twelve seconds
            assert time.monotonic() < reached, "the call never reached the mail service"
            time.sleep(0.005)
        assert not call.done(), call
        drain = proc.terminate_and_drain(timeout=10.0 + MARGIN + 3)
        with pytest.raises(CUT[service]):  # its connection closed unanswered
            call.result(timeout=10)
    stack.mail.clear_faults()

    assert drain.returncode == 1, drain.describe()
    assert drain.exited_after is not None, drain.describe()
    assert 10.0 * EARLY <= drain.exited_after < 10.0 + MARGIN, drain.describe()
    last = json.loads(proc.log_text().splitlines()[-1])
    assert last.get("msg") == "stopped", last
    assert f"{variable}=10s" in last.get("error", ""), last


# ------------------------------------------------------------------ readiness bounds

PROBE = 1.5
"""A probe's own timeout: a readiness check answers within its bound, not the probe's."""
PROBES = 5
"""Probes in a row, each sent as soon as the one before it was answered."""
SPREAD = 1.5
"""The fastest answer of the probes after the first comes within this many times the default
bound. A check answers within its bound, or sooner when the dependency's own call gives up
first. Probes that arrive together share one check, and a service also checks by itself every
second (grpc.health.v1's refresh), so a probe may join a check begun before it and be answered
early: the first one may, even one begun before the fault, and ready (it is then asked again,
``scenario.beyond_shared_checks``). Each later probe is sent as the answer before it comes, when no check
runs, so it starts one of its own (or joins one the refresh began in the milliseconds between)
and waits it out; a busy machine only adds to that. A bound twice the default gives no later
answer within 1.5 times the default, and the default fails this only if a busy machine holds up
every later probe by half the bound or more (125 ms for 250 ms, 250 ms for 500 ms)."""
SERVICE_NAMES = {"gateway": GatewayGrpcClient.SERVICE, "authsession": AuthSessionGrpcClient.SERVICE}


@pytest.mark.stack(links=("authsession->redis", "gateway->authsession"))
@pytest.mark.parametrize(
    ("service", "bound", "failed"), [("authsession", 0.25, "redis"), ("gateway", 0.5, "authsession")]
)
@pytest.mark.rule(
    "galaxy.env.authsession-ready-timeout",
    "galaxy.env.gateway-ready-timeout",
    "galaxy.readiness.bounded-check",
)
def test_a_readiness_check_answers_within_its_default_bound_when_a_dependency_hangs(
    stack: Stack, service: str, bound: float, failed: str
) -> None:
    """authsession's Redis blackholed (its check, 250 ms by default), or the gateway's
    authsession (its check, 500 ms; the gateway's Redis answers): each of several probes
    in a row, waiting a second and a half, is answered not ready by every surface of the
    service, and the fastest of those after the first within :data:`SPREAD` times the
    default bound (twice the bound fails)."""
    _not_sent(stack, service, f"{service.upper()}_READY_TIMEOUT")
    stack.link(service, failed).blackhole()
    http = stack.http.base_url if service == "gateway" else None
    services = ("", SERVICE_NAMES[service])
    probe = partial(
        readiness_snapshot,
        http=http,
        grpc_target=stack.process(service).address("grpc"),
        services=services,
        timeout=PROBE,
    )
    # Only the first probe can join a check begun before the fault: each later one is sent after an answer that
    # came from a check begun after it.
    snaps = beyond_shared_checks(probe, partial(ready_within, bound=bound))
    snaps += [probe() for _ in range(PROBES - 1)]
    answers = [snap.describe() for snap in snaps]
    judged = snaps[-PROBES:]
    assert all(snap.ready is False for snap in judged), answers
    seconds = [snap.seconds for snap in judged]
    assert min(seconds[1:]) < bound * SPREAD, f"every later probe waited {bound * SPREAD}s or more: {answers}"


# ------------------------------------------------------------------ token claims


@pytest.mark.rule("galaxy.env.gateway-token-issuer", "galaxy.env.gateway-token-audience", "tokens.access.iss-aud")
def test_the_gateway_given_no_issuer_or_audience_wants_galaxy_authsession_for_galaxy_gateway(
    stack: Stack, api: GatewayApi
) -> None:
    """Tokens signed with the stack's key, differing from authsession's only in one claim:
    the gateway takes ``iss`` galaxy-authsession and ``aud`` galaxy-gateway, and no other."""
    for variable in ("GATEWAY_TOKEN_ISSUER", "GATEWAY_TOKEN_AUDIENCE"):
        _not_sent(stack, "gateway", variable)
    login = log_in(stack, api, "claims@example.com")
    claims = tokens.claims_of(login.access_token)
    for claim, value, accepted in (
        ("iss", "galaxy-authsession", True),
        ("aud", "galaxy-gateway", True),
        ("iss", "galaxy-auth", False),
        ("aud", "galaxy", False),
    ):
        token = tokens.sign(claims | {claim: value}, stack.keys.current)
        if accepted:
            assert api.me(token).session_id == login.session_id, (claim, value)
        else:
            expect_error("UNAUTHENTICATED", api.me, token)


# ------------------------------------------------------------------ key prefixes


def _default_prefixed_authsession(stack: Stack) -> ServiceProcess:
    proc = by_hand(stack, "authsession", {"AUTHSESSION_REDIS_KEY_PREFIX": None}).start()
    assert "AUTHSESSION_REDIS_KEY_PREFIX" not in proc.env
    return proc


@pytest.mark.rule("galaxy.env.authsession-redis-key-prefix", "redis.prefix", "redis.session.record")
def test_authsession_given_no_key_prefix_writes_its_sessions_under_galaxy_colon(stack: Stack) -> None:
    proc = _default_prefixed_authsession(stack)
    with AuthSessionGrpcClient(proc.address("grpc")) as client:
        challenge = client.start_email_login("prefix-as@example.com")
        grant = client.confirm_email_login(challenge.challenge_id, stack.mail.last_code("prefix-as@example.com"))
        stack.secret_sources.append(lambda: client.received_secrets)
    redis = stack.redis.client()
    key = f"galaxy:session:{grant.session.session_id}"
    assert redis.hget(key, "status") == "active", f"no session at {key}: {sorted(redis.scan_iter(count=1000))}"


@pytest.mark.rule("galaxy.env.gateway-redis-key-prefix", "redis.prefix", "redis.session.liveness")
def test_the_gateway_given_no_key_prefix_reads_sessions_under_galaxy_colon(stack: Stack) -> None:
    """A by-hand gateway and authsession, neither given a key prefix: a session authsession
    wrote under ``galaxy:`` is live at the gateway, and once its key is gone from under that
    prefix the gateway no longer takes its access token."""
    authsession = _default_prefixed_authsession(stack)
    gateway = by_hand(
        stack,
        "gateway",
        {"GATEWAY_REDIS_KEY_PREFIX": None, "GATEWAY_AUTHSESSION_ADDR": authsession.address("grpc")},
    ).start()
    assert "GATEWAY_REDIS_KEY_PREFIX" not in gateway.env
    api = GatewayHttpClient("http://" + gateway.address("http"))
    try:
        challenge = api.start_email_login("prefix-gw@example.com")
        login = api.confirm_email_login(challenge.challenge_id, code_for(stack, challenge))
        me = api.me(login.access_token)
        assert me.email == "prefix-gw@example.com"
        redis = stack.redis.client()
        assert redis.delete(f"galaxy:session:{login.session_id}") == 1, sorted(redis.scan_iter(count=1000))
        expect_error("UNAUTHENTICATED", api.me, login.access_token)
        stack.secret_sources.append(lambda: api.received_secrets)
    finally:
        api.close()


# ------------------------------------------------------------------ listen addresses

LISTEN_DEFAULTS = [
    pytest.param("gateway", "GATEWAY_HTTP_ADDR", "http", 8080, id="gateway-http"),
    pytest.param("gateway", "GATEWAY_GRPC_ADDR", "grpc", 9080, id="gateway-grpc"),
    pytest.param("authsession", "AUTHSESSION_GRPC_ADDR", "grpc", 9090, id="authsession-grpc"),
]


@pytest.mark.parametrize(("service", "variable", "listener", "port"), LISTEN_DEFAULTS)
@pytest.mark.rule(
    "galaxy.env.gateway-http-addr",
    "galaxy.env.gateway-grpc-addr",
    "galaxy.env.authsession-grpc-addr",
    "galaxy.process.ready-file",
)
def test_a_listen_address_left_out_is_the_default_port_on_every_interface(
    stack: Stack, service: str, variable: str, listener: str, port: int
) -> None:
    """The binary started with one listen address left out (the others port 0) serves
    that listener on its default port, on every interface, as its ready file says. It
    runs in a network namespace of its own, where the port is free whatever else the
    machine runs and nothing outside can reach it."""
    through = own_network_namespace()
    assert variable not in env_changed(stack, service, {variable: None})
    proc = by_hand(stack, service, {variable: None}, through=through).start()

    host, _, bound = proc.address(listener).rpartition(":")
    assert int(bound) == port, f"{variable} left out: {listener} on {proc.address(listener)}, not port {port}"
    unspecified = not host.strip("[]") or ipaddress.ip_address(host.strip("[]")).is_unspecified
    assert unspecified, f"{variable} left out: {listener} on {host}, not every interface"
    if listener == "http":  # asked there, not only read from the ready file
        answer = get_inside(proc, f"http://127.0.0.1:{port}/healthz")
        status = answer.status if answer is not None else None
        assert status == 200, f"/healthz on :{port} inside the namespace: {answer or 'nothing answered'}"
    assert proc.stop() == 0
