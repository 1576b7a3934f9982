"""Readiness and health (``galaxy/README.md``, "Readiness and health"): which
dependencies each service's readiness counts, what ``/readyz`` says of them,
that every surface answers within its own bound, that ``Watch`` streams each
change, and that health turns ``NOT_SERVING`` for good on ``SIGTERM`` before
the server drains."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from contracts.authsessionv1.client import AuthSessionGrpcClient
from contracts.gatewayv1.http_client import problem_error
from contracts.health import grpc_health, readiness_snapshot
from gatewayauthsession.scenario import beyond_shared_checks, expect_error, log_in, ready_within
from gatewayauthsession.stack import Stack

GATEWAY_SERVICE = "galaxy.gateway.v1.GatewayService"
AUTHSESSION_SERVICE = AuthSessionGrpcClient.SERVICE


def _readyz(stack: Stack) -> tuple[int, dict[str, str]]:
    """``/readyz``'s status and, when it is not ready, its problem's metadata."""
    resp = stack.http.request("GET", "/readyz")
    if resp.status_code == 200:
        assert resp.json() == {"status": "ok"}, resp.text
        return 200, {}
    err = problem_error(resp)
    assert err.code == "DEPENDENCY_UNAVAILABLE", err
    return resp.status_code, err.metadata


def _until(read: Callable[[], object], want: object, within: float = 5.0) -> object:
    """``read()`` again until it answers ``want`` or ``within`` seconds have passed: its last answer."""
    deadline = time.monotonic() + within
    while (seen := read()) != want and time.monotonic() < deadline:
        time.sleep(0.05)
    return seen


@pytest.mark.stack(links=("gateway->redis", "gateway->authsession"))
@pytest.mark.rule(
    "errors.readiness.dependencies",
    "galaxy.readiness.readyz",
    "galaxy.readiness.gateway-dependencies",
    "galaxy.readiness.healthz",
    "openapi.readyz.readiness",
    "openapi.readyz.ready",
    transport="http",
)
def test_readyz_names_every_failed_hard_dependency_redis_first(stack: Stack) -> None:
    """``/readyz`` names each failed hard dependency, redis first, while ``/healthz``, liveness only, stays 200."""
    redis, authsession = stack.link("gateway", "redis"), stack.link("gateway", "authsession")
    cases = [
        ((redis,), {"dependency": "redis", "dependencies": "redis"}),
        ((authsession,), {"dependency": "authsession", "dependencies": "authsession"}),
        ((authsession, redis), {"dependency": "redis", "dependencies": "redis,authsession"}),
    ]
    for broken, metadata in cases:
        for link in broken:
            link.down()
        assert _until(lambda: _readyz(stack), (503, metadata)) == (503, metadata), [link.name for link in broken]
        alive = stack.http.request("GET", "/healthz")
        down = metadata["dependencies"]
        assert alive.status_code == 200, f"/healthz with {down} down: {alive.status_code} {alive.text}"
        stack.heal()
        assert _until(lambda: _readyz(stack), (200, {})) == (200, {})


@pytest.mark.stack(links=("authsession->redis",))
@pytest.mark.needs_stub("user", "stops and starts the stub as it does the mail stub")
@pytest.mark.rule(
    "galaxy.readiness.hard-and-soft",
    "galaxy.readiness.authsession-dependencies",
    "galaxy.readiness.authsession-covers-redis",
    "errors.readiness.health",
)
def test_authsessions_readiness_counts_its_redis_and_not_the_mail_or_user_service(stack: Stack) -> None:
    """Mail and user are soft: without them authsession is still ready, and only the
    calls that need them fail, naming them; without its Redis it is not ready, and the
    gateway, whose readiness counts authsession's, names authsession."""
    api = stack.http
    login = log_in(stack, api, "soft@example.com")
    stack.mail.stop()
    stack.user_stub.stop()
    try:
        assert grpc_health(stack.authsession.address("grpc"), AUTHSESSION_SERVICE) == "SERVING"
        assert _readyz(stack) == (200, {})
        expect_error("DEPENDENCY_UNAVAILABLE", api.start_email_login, "soft2@example.com", dependency="mail")
        expect_error("DEPENDENCY_UNAVAILABLE", api.refresh_session, login.refresh_token, dependency="user")
        assert api.me(login.access_token).session_id == login.session_id
    finally:
        stack.mail.start()
        stack.user_stub.start()

    stack.link("authsession", "redis").down()
    read = lambda: grpc_health(stack.authsession.address("grpc"), AUTHSESSION_SERVICE)  # noqa: E731
    assert _until(read, "NOT_SERVING") == "NOT_SERVING"
    want = (503, {"dependency": "authsession", "dependencies": "authsession"})
    assert _until(lambda: _readyz(stack), want) == want


def _health_answers(target: str, service: str, timeout: float) -> str:
    """The health Check's answer within ``timeout``; ``no answer`` when the probe's
    deadline came first, or the status of the call that failed otherwise."""
    try:
        return grpc_health(target, service, timeout)
    except grpc.RpcError as err:
        code = err.code() if isinstance(err, grpc.Call) else None
        return "no answer" if code == grpc.StatusCode.DEADLINE_EXCEEDED else f"failed: {code}"


@pytest.mark.stack(links=("authsession->redis", "gateway->redis"), gateway_redis_timeout="10s")
@pytest.mark.rule(
    "galaxy.readiness.bounded-check",
    "galaxy.env.authsession-ready-timeout",
    "galaxy.env.gateway-ready-timeout",
    "galaxy.readiness.grpc-health-check",
    "galaxy.readiness.readyz",
)
def test_every_readiness_surface_of_both_services_answers_within_its_own_bound_when_redis_hangs(
    stack: Stack,
) -> None:
    """Redis blackholed for both: authsession's health, for the server and its service,
    answers NOT_SERVING within its bound (250 ms by default) to a probe that waits a
    second and a half; the gateway's /readyz and its health, for the server and its
    service, within theirs (500 ms), its Redis reads' own deadline set far longer."""
    stack.link("authsession", "redis").blackhole()
    stack.link("gateway", "redis").blackhole()

    authsession = stack.authsession.address("grpc")
    read = lambda: _health_answers(authsession, AUTHSESSION_SERVICE, 1.5)  # noqa: E731
    assert _until(read, "NOT_SERVING") == "NOT_SERVING"
    for target, services, bound, http in (
        (authsession, ("", AUTHSESSION_SERVICE), 0.25, None),
        (stack.gateway.address("grpc"), ("", GATEWAY_SERVICE), 0.5, stack.http.base_url),
    ):
        # A probe may share a check begun before the fault, which answers ready within the bound: only that
        # answer is asked again.
        probe = functools.partial(readiness_snapshot, http=http, grpc_target=target, services=services, timeout=10)
        snaps = beyond_shared_checks(probe, functools.partial(ready_within, bound=bound))
        snap, seen = snaps[-1], [s.describe() for s in snaps]
        assert snap.ready is False, seen
        assert snap.seconds <= bound + 2.0, seen  # a margin for a busy machine


@pytest.mark.stack(links=("authsession->redis",), authsession_ready_timeout="3s")
@pytest.mark.waits
@pytest.mark.rule("galaxy.env.authsession-ready-timeout", "galaxy.readiness.bounded-check")
def test_authsessions_readiness_bound_is_the_configured_one(stack: Stack) -> None:
    """With AUTHSESSION_READY_TIMEOUT=3s, a health check waits for a hanging Redis up to
    three seconds: a probe that waits a second and a half gets no answer, where the
    default bound would have answered NOT_SERVING."""
    assert grpc_health(stack.authsession.address("grpc"), AUTHSESSION_SERVICE) == "SERVING"
    stack.link("authsession", "redis").blackhole()

    read = lambda: _health_answers(stack.authsession.address("grpc"), AUTHSESSION_SERVICE, 1.5)  # noqa: E731
    assert _until(read, "no answer") == "no answer"
    assert _health_answers(stack.authsession.address("grpc"), AUTHSESSION_SERVICE, 5.0) == "NOT_SERVING"


class _Watch:
    """A ``grpc.health.v1`` Watch stream of one service name, read on a thread of its
    own: every status it streamed, with when it came (monotonic seconds)."""

    def __init__(self, target: str, service: str) -> None:
        self.channel = grpc.insecure_channel(target)
        stub: Any = health_pb2_grpc.HealthStub(self.channel)  # the typing stubs omit the generated methods
        self.call = stub.Watch(health_pb2.HealthCheckRequest(service=service))
        self.seen: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for resp in self.call:
                self.seen.append((time.monotonic(), health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)))
        except grpc.RpcError:
            pass  # cancelled by close(), or the server went away

    @property
    def latest(self) -> str | None:
        return self.seen[-1][1] if self.seen else None

    def until(self, status: str, within: float) -> str | None:
        deadline = time.monotonic() + within
        while self.latest != status and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.latest

    def close(self) -> None:
        self.call.cancel()
        self._thread.join(5)
        self.channel.close()


@contextmanager
def _watching(target: str, service: str = "") -> Iterator[_Watch]:
    watch = _Watch(target, service)
    try:
        yield watch
    finally:
        watch.close()


@pytest.mark.stack(links=("gateway->redis", "authsession->redis"))
@pytest.mark.waits
@pytest.mark.rule("galaxy.readiness.grpc-health-watch", transport="grpc")
def test_health_watch_streams_each_change_of_both_services_without_being_asked(stack: Stack) -> None:
    """No Check is made: the status is refreshed every second while the server serves,
    and each change reaches the Watch streams."""
    bound = 1.0 + 0.5 + 2.0  # the refresh, the ready timeout, a margin for a loaded machine
    with (
        _watching(stack.gateway.address("grpc")) as gateway,
        _watching(stack.authsession.address("grpc"), AUTHSESSION_SERVICE) as authsession,
    ):
        assert (gateway.until("SERVING", bound), authsession.until("SERVING", bound)) == ("SERVING", "SERVING")

        stack.link("gateway", "redis").down()
        assert gateway.until("NOT_SERVING", bound) == "NOT_SERVING"
        assert authsession.latest == "SERVING"
        stack.heal()
        assert gateway.until("SERVING", bound) == "SERVING"

        stack.link("authsession", "redis").down()
        assert authsession.until("NOT_SERVING", bound) == "NOT_SERVING"
        assert gateway.until("NOT_SERVING", bound) == "NOT_SERVING"  # its readiness counts authsession's
        stack.heal()
        assert (gateway.until("SERVING", bound), authsession.until("SERVING", bound)) == ("SERVING", "SERVING")
    for watch in (gateway, authsession):
        statuses = [status for _, status in watch.seen]
        assert statuses == [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s], (
            f"a Watch stream repeated a status instead of streaming changes: {statuses}"
        )


@pytest.mark.parametrize("service", ["gateway", "authsession"])
@pytest.mark.rule("galaxy.readiness.not-serving-on-sigterm", "galaxy.process.signals", transport="grpc")
def test_health_turns_not_serving_for_good_on_sigterm_before_the_server_drains(stack: Stack, service: str) -> None:
    """A call in flight when SIGTERM comes (a login start whose mail takes a quarter
    second) keeps the server draining; health says NOT_SERVING to a Watch opened
    before as the drain begins, not at its next refresh (up to a second later, after
    the call completed and the drain ended), and never SERVING again while it drains,
    though every dependency answers; the call completes and the process exits with 0."""
    slow = stack.mail.delay(0.25)
    process = stack.process(service)
    name = GATEWAY_SERVICE if service == "gateway" else AUTHSESSION_SERVICE
    client: Any = stack.client("grpc") if service == "gateway" else stack.authsession_client()  # both start logins
    watch = _Watch(process.address("grpc"), name)
    try:
        assert watch.until("SERVING", 5.0) == "SERVING"
        with ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(client.start_email_login, "drain@example.com")
            # A Watch stream is a call in flight too: it ends once the login has, so the drain can end.
            in_flight.add_done_callback(lambda _: watch.close())
            deadline = time.monotonic() + 5
            while slow.applied == 0:
                assert time.monotonic() < deadline, "the login never reached the mail service"
                time.sleep(0.005)
            signalled = time.monotonic()
            drain = process.terminate_and_drain(lambda: watch.latest != "NOT_SERVING", poll=0.005)
            assert in_flight.result().challenge_id, "the call in flight was drained"
    finally:
        watch.close()
        client.close()
    assert drain.not_ready_after is not None, f"health never said NOT_SERVING: {drain.describe()}"
    assert drain.exited_after is not None
    assert drain.not_ready_after < drain.exited_after, drain.describe()
    assert drain.returncode == 0, drain.describe()
    after = [status for at, status in watch.seen if at >= signalled]
    assert after, "nothing streamed after SIGTERM"
    assert set(after) == {"NOT_SERVING"}, f"health after SIGTERM: {after}"
