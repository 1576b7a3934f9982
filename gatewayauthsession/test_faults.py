"""Faults at every link of the stack, over HTTP and gRPC at once.

Each scenario breaks one link with a real TCP fault proxy, or one process or
Redis with a signal, then checks what a client relies on:

- every operation that crosses the broken link answers 503 / UNAVAILABLE
  naming the dependency, within the configured deadline plus a margin;
- every operation that does not cross it keeps working;
- ``/readyz`` and gRPC health agree (NOT_SERVING while a hard dependency is
  down) and both answer within their bound, even when a peer hangs;
- once the fault is lifted the services recover with no restart, every call
  that failed succeeds when retried with the same inputs, and the sessions
  are exactly those the client holds tokens for: no orphan, no second
  session, no session revoked by a retry.

The calls that cross the broken part run in parallel (a client each), so a
scenario waits about one deadline however many calls it makes.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Self, TypeVar

import pytest

from contracts.errors import ApiError
from contracts.gatewayv1 import GatewayApi, Login, LoginChallenge
from contracts.health import readiness_snapshot
from gatewayauthsession.scenario import LIMITS_OUT_OF_THE_WAY, code_for, log_in, served, session_ids
from gatewayauthsession.stack import TRANSPORTS, Stack, Transport

# Configured deadlines (seconds). When the fault makes calls wait (a slow,
# blackholed or frozen part), the broken part is given a short deadline, so
# that they give up soon; every other deadline is generous, so that the calls
# beside the fault keep working on a machine whose cores are all busy.
SHORT = 0.5  # the broken part's under a fault that makes calls wait
# The gateway's deadline when the broken part is Redis behind authsession: there
# authsession's own budget names it, keeping back a tenth of the gateway's deadline
# (at least 50 ms) for its answer to travel back. Of 0.5 s that is 50 ms, which a
# loaded machine can lose to scheduling (nox -s flakes -- --stress saw the gateway's
# deadline win); 1.5 s keeps 150 ms.
BEHIND = 1.5
SLACK = 4.0  # every other deadline: room for the calls that must work
READY = 0.5  # the readiness check's (GATEWAY_READY_TIMEOUT)
# Allowed beyond a configured deadline, for the rest of a call's path (the
# gateway's own Redis read before it calls authsession, say) on a loaded
# machine; short of SLACK - BEHIND, so a call that waited out a generous
# deadline instead of the broken part's short one is still caught.
MARGIN = 2.0
assert max(SHORT, BEHIND) + MARGIN < SLACK
RECOVERY = 10.0  # how long the services may take to recover once a fault is lifted

DEADLINES = {
    "gateway_authsession_timeout": "GATEWAY_AUTHSESSION_TIMEOUT",
    "gateway_redis_timeout": "GATEWAY_REDIS_TIMEOUT",
    "upstream_timeout": "AUTHSESSION_UPSTREAM_TIMEOUT",
}
"""The stack settings of the deadlines a fault may run into, with the
environment variable each sets."""


def _ms(seconds: float) -> str:
    return f"{int(seconds * 1000)}ms"


def fault_stack(short: Mapping[str, float] | None = None) -> pytest.MarkDecorator:
    """A stack with every link through the fault proxy, the deadlines in
    ``short`` (setting name → seconds) as given and the others SLACK. The
    scenarios start several logins of one email (its sessions, then a call in
    the fault and its retry) and poll for recovery with login calls, tens a
    second: far past the cooldown, a client's login burst and an email's or a
    client's hourly starts."""
    short = short or {}
    assert set(short) <= set(DEADLINES), short
    deadlines = {name: _ms(short.get(name, SLACK)) for name in DEADLINES}
    return pytest.mark.stack(links="all", gateway_ready_timeout=_ms(READY), **deadlines, **LIMITS_OUT_OF_THE_WAY)


T = TypeVar("T")


@dataclass
class Client:
    """What one client holds before the fault: three sessions of one user
    (one to use, one to revoke, one to log out) and a pending login."""

    transport: Transport
    email: str
    main: Login
    other: Login
    leaving: Login
    challenge: LoginChallenge
    code: str
    confirmed: Login | None = None
    failed: dict[str, ApiError] = field(default_factory=dict)


def _served(call: Callable[..., T], *args: object) -> T:
    """:func:`served` for up to RECOVERY seconds: for the calls made outside
    the fault (before it, and after it is lifted). A short deadline given to
    the part a scenario breaks holds for them too, and a machine whose cores
    are all busy can miss it."""
    return served(call, *args, within=RECOVERY)


def _log_in(stack: Stack, api: GatewayApi, email: str) -> Login:
    challenge = _served(api.start_email_login, email)
    code = code_for(stack, challenge)
    return _served(api.confirm_email_login, challenge.challenge_id, code)


def _prepare(stack: Stack, transport: Transport) -> Client:
    api = stack.api(transport)
    email = f"fault-{transport}@example.com"
    main, other, leaving = (_log_in(stack, api, email) for _ in range(3))
    challenge = _served(api.start_email_login, email)
    return Client(transport, email, main, other, leaving, challenge, code_for(stack, challenge))


def _confirm(api: GatewayApi, client: Client) -> Login:
    client.confirmed = api.confirm_email_login(client.challenge.challenge_id, client.code)
    return client.confirmed


CALLS: dict[str, Callable[[GatewayApi, Client], object]] = {
    "start": lambda api, c: api.start_email_login(c.email),
    "confirm": _confirm,
    "refresh": lambda api, c: api.refresh_session(c.main.refresh_token),
    "me": lambda api, c: api.me(c.main.access_token),
    "list": lambda api, c: api.list_sessions(c.main.access_token),
    "revoke": lambda api, c: api.revoke_session(c.main.access_token, c.other.session_id),
    "logout": lambda api, c: api.logout(c.leaving.access_token),
}
"""Each operation with the inputs the client holds: the same inputs when it is retried."""


def _attempt(api: GatewayApi, client: Client, op: str) -> ApiError | None:
    try:
        CALLS[op](api, client)
    except ApiError as err:
        return err
    return None


def _retried(api: GatewayApi, client: Client, op: str) -> ApiError | None:
    """``op`` retried after the fault with the same inputs (:func:`_served`):
    None once it succeeds, else the error that ended the retries."""
    try:
        _served(CALLS[op], api, client)
    except ApiError as err:
        return err
    return None


@dataclass
class Outcome:
    client: Client
    op: str
    seconds: float
    error: ApiError | None

    def describe(self) -> str:
        what = f"{self.error.code} {self.error.metadata}" if self.error else "ok"
        return f"{self.client.transport} {self.op}: {what} after {self.seconds:.2f}s"


Job = tuple[Client, str, GatewayApi]


def _jobs(stack: Stack, clients: list[Client]) -> list[Job]:
    """Every operation of every client, each with a connected client of its
    own, made before the fault so that only the calls themselves are timed."""
    jobs = []
    for client in clients:
        for op in CALLS:
            api = stack.client(client.transport)
            _served(api.me, client.main.access_token)  # connects; changes nothing
            jobs.append((client, op, api))
    return jobs


def _under_fault(jobs: list[Job], crosses: frozenset[str]) -> list[Outcome]:
    """The jobs that cross the broken part all at once (each waits up to a
    deadline), and beside them the others one after another: those must
    work, and one user's calls racing each other are other scenarios' matter."""

    def run(job: Job) -> Outcome:
        client, op, api = job
        started = time.monotonic()
        error = _attempt(api, client, op)
        return Outcome(client, op, time.monotonic() - started, error)

    waiting = [job for job in jobs if job[1] in crosses]
    working = [job for job in jobs if job[1] not in crosses]
    with ThreadPoolExecutor(max_workers=len(waiting) + 1) as pool:
        others = pool.submit(lambda: [run(job) for job in working])
        failed = list(pool.map(run, waiting))
        return failed + others.result()


def _readiness(stack: Stack) -> tuple[int, str, float]:
    """``/readyz``'s status and the gateway's gRPC health, read at one instant, and the slower answer's time."""
    snap = readiness_snapshot(http=stack.http.base_url, grpc_target=stack.gateway.address("grpc"), timeout=READY + 5)
    http, grpc = snap.readings
    assert None not in (http.ready, grpc.ready), f"a readiness probe got no answer: {snap.describe()}"
    return int(http.answer), grpc.answer, snap.seconds


def _readiness_until(stack: Stack, until: tuple[int, str] | None, within: float) -> list[tuple[int, str, float]]:
    """Readiness asked once, or (``until`` a state) again until it shows that
    state or ``within`` seconds have passed: every answer, the last one last."""
    started = time.monotonic()
    probes = [_readiness(stack)]
    while until is not None and probes[-1][:2] != until and time.monotonic() - started < within:
        time.sleep(0.02)
        probes.append(_readiness(stack))
    return probes


def _readiness_under_fault(stack: Stack, until: tuple[int, str] | None) -> list[tuple[int, str, float]]:
    """Readiness asked once just after the fault, or (``until`` a state) again
    until it shows that state: a check that began before the fault may still
    be answering, and probes that arrive meanwhile share its answer. The
    fault must show within READY + MARGIN of the first probe."""
    return _readiness_until(stack, until, READY + MARGIN)


def _await_recovery(stack: Stack) -> None:
    seen = _readiness_until(stack, (200, "SERVING"), RECOVERY)[-1]
    assert seen[:2] == (200, "SERVING"), f"no recovery within {RECOVERY}s of lifting the fault: {seen}"


@dataclass(frozen=True)
class Fault:
    """A fault: how to cause it, how to lift it, and what it must do."""

    inject: Callable[[Stack], object]
    lift: Callable[[Stack], object]
    crosses: frozenset[str]  # operations that need the broken part
    dependency: str  # what their errors must name
    waits: tuple[
        str, ...
    ]  # the deadlines (DEADLINES) they wait for, made short (see deadlines); none when they fail at once

    @property
    def deadlines(self) -> dict[str, float]:
        """The deadlines they wait for, each made short: SHORT, or BEHIND for the gateway's
        when the broken part is Redis behind authsession (named by authsession's budget)."""
        behind = self.dependency == "redis"
        return {name: BEHIND if behind and name == "gateway_authsession_timeout" else SHORT for name in self.waits}

    @property
    def bound(self) -> float:
        """The configured deadline their answers come within."""
        return max(self.deadlines.values(), default=SLACK)

    hard: bool  # a hard dependency of the gateway: readiness must fail


def _link(client: str, server: str, how: Callable[..., object]) -> Callable[[Stack], object]:
    return lambda stack: how(stack.link(client, server))


def _kill_user(stack: Stack) -> None:
    """The user stub stopped, or the real user service standing in for it (``--real user``) killed."""
    if "user" in stack.stubs:
        stack.user_stub.stop()
    else:
        stack.process("user").kill()


def _start_user(stack: Stack) -> None:
    if "user" in stack.stubs:
        stack.user_stub.start()
    else:
        stack.restart("user")


def _heal(stack: Stack) -> None:
    stack.heal()


# Each link fault, and whether its calls wait for a deadline (or fail at once).
LINK_FAULTS: dict[str, tuple[Callable[[str, str], Callable[[Stack], object]], bool]] = {
    "down": (lambda c, s: _link(c, s, lambda link: link.down()), False),
    "slower-than-the-deadline": (
        lambda c, s: _link(c, s, lambda link: link.latency(ms=int(4000 * max(SHORT, READY)))),
        True,
    ),
    "blackholed": (lambda c, s: _link(c, s, lambda link: link.blackhole()), True),
    "reset": (lambda c, s: _link(c, s, lambda link: link.reset_peer()), False),
}

ALL = frozenset(CALLS)
AUTHSESSION_WAITS = ("gateway_authsession_timeout",)  # the gateway's, which authsession honours for its Redis too
REDIS_WAITS = ("gateway_authsession_timeout", "gateway_redis_timeout")
UPSTREAM_WAITS = ("upstream_timeout",)
# What each link carries: the operations that cross it, whose errors name the
# dependency, and the deadlines they run into.
LINKS: dict[str, tuple[frozenset[str], str, tuple[str, ...], bool]] = {
    "gateway->authsession": (ALL - {"me"}, "authsession", AUTHSESSION_WAITS, True),
    "gateway->redis": (frozenset({"me", "list", "revoke", "logout"}), "redis", ("gateway_redis_timeout",), True),
    "authsession->redis": (ALL - {"me"}, "redis", AUTHSESSION_WAITS, True),
    "authsession->mail": (frozenset({"start"}), "mail", UPSTREAM_WAITS, False),
    "authsession->user": (frozenset({"confirm", "refresh"}), "user", UPSTREAM_WAITS, False),
}

FAULTS: dict[str, Fault] = {
    f"{name} {kind}": Fault(make(*name.split("->")), _heal, crosses, dep, waits if waiting else (), hard)
    for name, (crosses, dep, waits, hard) in LINKS.items()
    for kind, (make, waiting) in LINK_FAULTS.items()
}
FAULTS |= {
    "authsession frozen": Fault(
        lambda s: s.authsession.pause(), _heal, ALL - {"me"}, "authsession", AUTHSESSION_WAITS, hard=True
    ),
    "authsession killed": Fault(
        lambda s: s.authsession.kill(), lambda s: s.restart("authsession"), ALL - {"me"}, "authsession", (), True
    ),
    # The mail and user services killed: their ports close behind the links, and
    # come back on the same addresses. (Frozen, they are the blackholed links.)
    "mail service killed": Fault(
        lambda s: s.mail.stop(), lambda s: s.mail.start(), frozenset({"start"}), "mail", (), hard=False
    ),
    "user service killed": Fault(_kill_user, _start_user, frozenset({"confirm", "refresh"}), "user", (), False),
    "redis frozen": Fault(lambda s: s.redis.pause(), lambda s: s.redis.resume(), ALL, "redis", REDIS_WAITS, True),
    "redis killed": Fault(lambda s: s.redis.kill(), lambda s: s.redis.restart(keep_data=True), ALL, "redis", (), True),
}


@pytest.mark.redis_faults
@pytest.mark.parametrize(
    "fault_name",
    [
        pytest.param(name, marks=[fault_stack(f.deadlines), *([pytest.mark.waits] if f.waits else [])])
        for name, f in FAULTS.items()
    ],
)
@pytest.mark.rule(
    "errors.code.dependency-unavailable",
    "errors.dependency.innermost",
    "errors.deadline.upstream-budget",
    "errors.gateway.transport-failure",
    "errors.redis.fail-closed",
    "galaxy.gateway.dependency-failures",
    "galaxy.readiness.bounded-check",
    "galaxy.readiness.readyz",
    "galaxy.readiness.grpc-health-check",
    "galaxy.readiness.gateway-dependencies",
    "galaxy.readiness.authsession-covers-redis",
    "errors.readiness.health",
    "openapi.readyz.readiness",
    "galaxy.recovery.authsession-reconnect",
    "galaxy.recovery.redis-reconnect",
    "tokens.retry.window",
    "mail.answer",
    "user.resolve-on-confirm",
    "galaxy.env.gateway-authsession-timeout",
    "galaxy.env.gateway-redis-timeout",
    "galaxy.env.authsession-upstream-timeout",
    "galaxy.env.gateway-ready-timeout",
    transport=("http", "grpc"),
)
def test_a_fault_gives_bounded_errors_naming_the_dependency_and_loses_nothing(stack: Stack, fault_name: str) -> None:
    fault = FAULTS[fault_name]
    with ThreadPoolExecutor(max_workers=len(TRANSPORTS)) as pool:
        clients = list(pool.map(lambda t: _prepare(stack, t), TRANSPORTS))
    keep = {c.main.session_id for c in clients}
    jobs = _jobs(stack, clients)

    fault.inject(stack)
    want = (503, "NOT_SERVING") if fault.hard else (200, "SERVING")
    with ThreadPoolExecutor(max_workers=1) as pool:
        probe = pool.submit(_readiness_under_fault, stack, want if fault.hard else None)
        outcomes = _under_fault(jobs, fault.crosses)
        probes = probe.result()
    seen = "\n  ".join(o.describe() for o in outcomes)

    for o in outcomes:
        if o.op in fault.crosses:
            assert o.error is not None, f"{o.op} crosses the broken part and succeeded:\n  {seen}"
            assert o.error.code == "DEPENDENCY_UNAVAILABLE", f"{o.describe()}: want DEPENDENCY_UNAVAILABLE\n  {seen}"
            o.error.check_against_table()
            assert o.error.metadata.get("dependency") == fault.dependency, (
                f"{o.describe()}: want dependency={fault.dependency}\n  {seen}"
            )
            assert o.seconds <= fault.bound + MARGIN, (
                f"{o.describe()}: later than the configured {fault.bound}s + {MARGIN}s\n  {seen}"
            )
            o.client.failed[o.op] = o.error
        else:
            assert o.error is None, f"{o.op} does not cross the broken part, yet failed:\n  {seen}"
    answers = ", ".join(f"/readyz {p[0]} gRPC {p[1]} in {p[2]:.2f}s" for p in probes)
    assert probes[-1][:2] == want, f"readiness under {fault_name}: {answers}; want {want}"
    assert all(p[:2] in (want, (200, "SERVING")) for p in probes), f"/readyz and gRPC health disagree: {answers}"
    assert all(p[2] <= READY + MARGIN for p in probes), f"readiness: {answers}; bound {READY}s + {MARGIN}s each"

    fault.lift(stack)
    _await_recovery(stack)
    assert stack.gateway.is_running(), "the gateway must survive the fault"
    assert stack.authsession.is_running(), "authsession must survive the fault (or be back after its restart)"

    for client in clients:
        api = stack.api(client.transport)
        for op in client.failed:
            err = _retried(api, client, op)
            # A revocation the fault did not stop stays done: its retry finds nothing to do.
            done = {"revoke": "SESSION_NOT_FOUND", "logout": "UNAUTHENTICATED"}
            assert err is None or done.get(op) == err.code, f"{client.transport} {op} retried after the fault: {err}"
        assert client.confirmed is not None
        keep.add(client.confirmed.session_id)
        assert _served(api.me, client.confirmed.access_token).email == client.email
        if "refresh" not in client.failed:  # a refresh after the fault works whether or not one ran during it
            _served(api.refresh_session, client.main.refresh_token)
        for ended in (client.other, client.leaving):
            with pytest.raises(ApiError) as info:
                _served(api.me, ended.access_token)
            assert info.value.code == "UNAUTHENTICATED", f"{client.transport}: a revoked session still serves"
    assert sorted(session_ids(stack)) == sorted(keep), "sessions after recovery: exactly those the clients hold"


@fault_stack()
@pytest.mark.redis_faults
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.rule("redis.session.liveness", "galaxy.recovery.redis-reconnect")
def test_redis_restarted_empty_ends_every_session_cleanly_and_logins_work_again(
    stack: Stack, transport: Transport
) -> None:
    api = stack.api(transport)
    before = log_in(stack, api, "amnesia@example.com")

    stack.redis.restart(keep_data=False)
    _await_recovery(stack)

    for call in (lambda: api.me(before.access_token), lambda: api.list_sessions(before.access_token)):
        with pytest.raises(ApiError) as info:
            call()
        assert info.value.code == "UNAUTHENTICATED", f"a session Redis forgot must not serve: {info.value}"
    with pytest.raises(ApiError) as refused:
        api.refresh_session(before.refresh_token)
    assert refused.value.code == "INVALID_REFRESH_TOKEN", f"{refused.value}"
    after = log_in(stack, api, "amnesia@example.com")
    assert api.me(after.access_token).email == "amnesia@example.com"
    assert session_ids(stack) == [after.session_id]


@fault_stack()
@pytest.mark.redis_faults
@pytest.mark.smoke
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.rule("errors.redis.fail-closed", "galaxy.recovery.redis-reconnect")
def test_redis_killed_and_restarted_with_its_data_keeps_every_session(stack: Stack, transport: Transport) -> None:
    api = stack.api(transport)
    before = log_in(stack, api, "durable@example.com")

    stack.redis.kill()
    with pytest.raises(ApiError) as info:
        api.me(before.access_token)
    assert info.value.code == "DEPENDENCY_UNAVAILABLE", f"{info.value}"
    assert info.value.metadata.get("dependency") == "redis"
    stack.redis.restart(keep_data=True)
    _await_recovery(stack)

    assert api.me(before.access_token).email == "durable@example.com"
    renewed = api.refresh_session(before.refresh_token)
    assert api.me(renewed.access_token).session_id == before.session_id
    assert session_ids(stack) == [before.session_id]


# The gateway's reconnect backoff to authsession (galaxy/README.md, Recovery):
# 100 ms growing by 1.6 to at most 1 s, each delay ± 20 %, so no two of its
# connection attempts are more than 1.2 s apart however long the outage. An
# uncapped backoff (gRPC's own grows to two minutes) is 4.3 s ± 20 % after
# its ninth attempt, some 7 s into an outage (5.2 s at the latest); watched
# for WATCH_S, such a backoff shows a gap of at least 3.4 s.
ATTEMPT_GAP_S = 1.2
ATTEMPT_MARGIN_S = 1.3  # a loaded machine's scheduling, short of the 3.4 s a wrong backoff shows
WATCH_S = 12.0
RECONNECT_S = 3.0  # the next attempt (1.2 s at the latest) and the calls' own time, as test_rolling_upgrade's


class _Refuser:
    """A listener on a stopped service's address that takes each connection
    and closes it at once, before a gRPC server's preface: a failed attempt
    to the client, as a refused one is, but one seen, and timed, here."""

    def __init__(self, address: str) -> None:
        host, port = address.rsplit(":", 1)
        self._server = socket.create_server((host, int(port)))  # SO_REUSEADDR: the dead process's port
        self._server.settimeout(0.05)
        self._stop = threading.Event()
        self.attempts: list[float] = []
        self._thread = threading.Thread(target=self._serve, name="refuser", daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            self.attempts.append(time.monotonic())
            conn.close()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.close()


@pytest.mark.waits
@pytest.mark.stack(**LIMITS_OUT_OF_THE_WAY)
@pytest.mark.rule("galaxy.recovery.authsession-reconnect", transport=("http", "grpc"))
def test_the_gateway_tries_a_lost_authsession_at_least_every_second_and_uses_it_once_back(stack: Stack) -> None:
    api = stack.api("http")
    log_in(stack, api, "reconnect@example.com")  # the gateway's connection to authsession is up
    address = stack.address("authsession", "grpc")

    stack.authsession.kill()
    with _Refuser(address) as refuser:
        with pytest.raises(ApiError) as info:  # a call: the gateway reconnects (a lost connection waits for one)
            api.start_email_login("reconnect-during@example.com")
        assert info.value.code == "DEPENDENCY_UNAVAILABLE", f"{info.value}"
        time.sleep(WATCH_S)
        watched = time.monotonic()
    attempts = refuser.attempts
    gaps = [b - a for a, b in itertools.pairwise([*attempts, watched])]
    seen = ", ".join(f"{g:.2f}" for g in gaps)
    assert len(attempts) >= 5, f"the gateway tried the lost authsession {len(attempts)} times in {WATCH_S}s"
    assert max(gaps) <= ATTEMPT_GAP_S + ATTEMPT_MARGIN_S, (
        f"seconds between the gateway's connection attempts to a lost authsession (last: until watched): {seen}; "
        f"the backoff is at most {ATTEMPT_GAP_S}s"
    )

    stack.restart("authsession")
    back = time.monotonic()
    for transport in TRANSPORTS:
        served(stack.api(transport).start_email_login, f"reconnect-{transport}@example.com", within=RECONNECT_S)
    assert time.monotonic() - back <= RECONNECT_S, "the gateway came back to the restarted authsession late"


@pytest.mark.redis_faults
@pytest.mark.rule("galaxy.recovery.redis-reconnect", transport=("http", "grpc"))
def test_a_redis_restarted_after_a_brief_outage_serves_the_very_next_call(stack: Stack) -> None:
    """No polling for recovery: the first call after the restart is the one
    that must be served, by the gateway's Redis and by authsession's. The
    links are direct, so the calls in the outage are refused connections, the
    failures a Redis client counts (go-redis refuses new connections for a
    second only after as many as its pool holds)."""
    logins = {t: log_in(stack, stack.api(t), f"brief-{t}@example.com") for t in TRANSPORTS}

    stack.redis.kill()
    for transport, login in logins.items():
        with pytest.raises(ApiError) as info:
            stack.api(transport).me(login.access_token)
        assert info.value.code == "DEPENDENCY_UNAVAILABLE", f"{transport}: {info.value}"
        assert info.value.metadata.get("dependency") == "redis", f"{transport}: {info.value}"
    stack.redis.restart(keep_data=True)

    for transport, login in logins.items():
        api = stack.api(transport)
        assert api.me(login.access_token).session_id == login.session_id, f"{transport}: the gateway's next read"
        renewed = api.refresh_session(login.refresh_token)  # authsession's next call to its Redis
        assert renewed.session_id == login.session_id, f"{transport}: refresh moved the session"


GATEWAY_DEFAULT_DEADLINES = {"authsession": 3.0, "redis": 1.0}
"""GATEWAY_AUTHSESSION_TIMEOUT's and GATEWAY_REDIS_TIMEOUT's defaults (galaxy/README.md), in seconds."""
