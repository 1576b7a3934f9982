"""One W3C trace runs through every hop of a request, over HTTP and gRPC: the
client's traceparent, the gateway's and authsession's log lines, and the
requests authsession makes of the mail and user services
(contracts/tracing.md)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc

from contracts.authsessionv1.client import AuthSessionGrpcClient
from contracts.gatewayv1 import GatewayApi
from contracts.mail import MESSAGES_PATH
from contracts.tracing import (
    SPAN_ID_KEY,
    TRACE_ID_KEY,
    TRACEPARENT,
    FixedTraceparent,
    Trace,
    Traceparent,
    require_traceparent,
)
from gatewayauthsession.by_hand import by_hand
from gatewayauthsession.scenario import beyond_shared_checks, call_lines, expect_error, log_in, log_lines, start_with
from gatewayauthsession.stack import Stack, Transport

TRACESTATE = "tracestate"

pytestmark = pytest.mark.since("galaxy/platform/tracecontext")

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"

MALFORMED = {
    "version-ff": f"ff-{CALLER_TRACE}-{CALLER_SPAN}-01",
    "all-zero-trace-id": f"00-{'0' * 32}-{CALLER_SPAN}-01",
    "all-zero-parent-id": f"00-{CALLER_TRACE}-{'0' * 16}-01",
    "short-trace-id": f"00-{CALLER_TRACE[1:]}-{CALLER_SPAN}-01",
    "long-parent-id": f"00-{CALLER_TRACE}-{CALLER_SPAN}0-01",
    "upper-case-hex": f"00-{CALLER_TRACE.upper()}-{CALLER_SPAN}-01",
    "fifth-field-in-version-00": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01-00",
    "not-a-traceparent": "hello",
}
"""Each is the caller's trace with one thing wrong, so a hop that continues
it shows up as CALLER_TRACE."""


def mail_traceparents(stack: Stack) -> list[Traceparent]:
    """The traceparent of each request the mail stub received, each checked
    to be there and well formed."""
    return [require_traceparent(r.headers) for r in stack.mail.requests if r.path == MESSAGES_PATH]


def user_traceparents(stack: Stack) -> list[Traceparent]:
    """The traceparent of each request the user stub received, each checked
    to be there and well formed."""
    return [require_traceparent(r.headers) for r in stack.user_stub.requests]


def only(lines: list[dict[str, Any]], what: str) -> dict[str, Any]:
    assert len(lines) == 1, f"want one {what} line, got {len(lines)}: {lines}"
    return lines[0]


@pytest.mark.rule(
    "tracing.one-trace",
    "tracing.accept.continue",
    "tracing.span.own-span",
    "tracing.header.carrier",
    "tracing.hop.gateway-http",
    "tracing.hop.gateway-grpc",
    "tracing.hop.gateway-to-authsession",
    "tracing.hop.authsession-to-upstreams",
    "tracing.hop.wire-formats",
    "mail.traceparent",
    "user.traceparent",
    "tracing.logs.request-lines",
    "tracing.logs.trace-id",
    "tracing.logs.span-id",
    "galaxy.logs.trace-ids",
)
@pytest.mark.needs_stub("user", "reads the traceparent each user-service request carried from the stub's journal")
def test_one_trace_id_runs_through_every_hop(stack: Stack, api: GatewayApi, transport: Transport) -> None:
    log_in(stack, api, "tracy@example.com")
    trace_id = stack.trace.trace_id
    client_parents = {tp.parent_id for tp in stack.trace.sent}
    assert len(client_parents) == 2, "each call sends a parent id of its own"

    [mailed] = mail_traceparents(stack)
    resolved = user_traceparents(stack)
    assert resolved, "confirming the login resolves the user"
    assert {(tp.trace_id, tp.flags) for tp in [mailed, *resolved]} == {(trace_id, "01")}, (
        f"mail and user must get the client's trace {trace_id}, sampled: mail {mailed}, user {resolved}"
    )

    for method, sent_on in (("StartEmailLogin", [mailed]), ("ConfirmEmailLogin", resolved)):
        gateway = only(call_lines(stack, "gateway", method, transport), f"gateway {method}")
        authsession = only(call_lines(stack, "authsession", method), f"authsession {method}")
        assert gateway[TRACE_ID_KEY] == authsession[TRACE_ID_KEY] == trace_id, (gateway, authsession)
        # Each hop has a span of its own; authsession's is the parent it sends on.
        assert {tp.parent_id for tp in sent_on} == {authsession[SPAN_ID_KEY]}, (authsession, sent_on)
        spans = {gateway[SPAN_ID_KEY], authsession[SPAN_ID_KEY]}
        assert len(spans) == 2, f"gateway and authsession share span {spans}"
        assert not spans & client_parents, f"a service logged the client's span as its own: {spans}"


@pytest.mark.rule("tracing.hop.wire-formats", "user.traceparent", "tracing.hop.authsession-to-upstreams")
@pytest.mark.needs_stub("user", "reads the traceparent of a refresh's owner check from the stub's journal")
def test_a_refreshs_owner_check_carries_the_trace_as_the_resolve_does(stack: Stack, api: GatewayApi) -> None:
    """Every request of the user wire format carries the caller's trace: the owner check a refresh makes
    (``GET /v1/users/{id}``, no body) as much as the resolve of a confirm (a ``POST``)."""
    login = log_in(stack, api, "owen@example.com")
    api.refresh_session(login.refresh_token)

    requests, parents = stack.user_stub.requests, user_traceparents(stack)
    by_method = {(r.method, tp.trace_id, tp.flags) for r, tp in zip(requests, parents, strict=True)}
    trace = stack.trace.trace_id
    assert by_method == {("POST", trace, "01"), ("GET", trace, "01")}, by_method


@pytest.mark.parametrize("malformed", MALFORMED)
@pytest.mark.rule(
    "tracing.accept.malformed-replaced",
    "tracing.accept.never-an-error",
    "tracing.accept.version",
    "tracing.accept.ids",
    "openapi.traceparent",
)
def test_a_malformed_traceparent_is_replaced_by_a_fresh_one(stack: Stack, transport: Transport, malformed: str) -> None:
    client = stack.client(transport, trace=FixedTraceparent(MALFORMED[malformed]))
    client.start_email_login("mallory@example.com")

    [mailed] = mail_traceparents(stack)
    assert mailed.trace_id != CALLER_TRACE, f"the malformed {MALFORMED[malformed]!r} was continued"
    assert mailed.flags == "00", "a new trace is not sampled"
    gateway = only(call_lines(stack, "gateway", "StartEmailLogin", transport), "gateway StartEmailLogin")
    authsession = only(call_lines(stack, "authsession", "StartEmailLogin"), "authsession StartEmailLogin")
    assert gateway[TRACE_ID_KEY] == authsession[TRACE_ID_KEY] == mailed.trace_id, (gateway, authsession, mailed)
    assert mailed.parent_id == authsession[SPAN_ID_KEY]


@pytest.mark.rule("tracing.accept.absent-new-trace")
def test_requests_without_traceparent_get_trace_ids_of_their_own(stack: Stack, transport: Transport) -> None:
    client = stack.client(transport, trace=None)
    client.start_email_login("una@example.com")
    client.start_email_login("vic@example.com")

    mailed = [tp.trace_id for tp in mail_traceparents(stack)]
    assert len(mailed) == 2
    assert mailed[0] != mailed[1], "two requests share a trace"
    assert stack.trace.trace_id not in mailed
    gateway = [line[TRACE_ID_KEY] for line in call_lines(stack, "gateway", "StartEmailLogin", transport)]
    authsession = [line[TRACE_ID_KEY] for line in call_lines(stack, "authsession", "StartEmailLogin")]
    assert gateway == authsession == mailed


@pytest.mark.rule("tracing.logs.request-lines", "galaxy.logs.grpc-call-line")
def test_a_failed_call_is_logged_in_its_trace(stack: Stack, api: GatewayApi, transport: Transport) -> None:
    stack.mail.fail_with(503, times=None)
    expect_error("DEPENDENCY_UNAVAILABLE", api.start_email_login, "wes@example.com", dependency="mail")

    trace_id = stack.trace.trace_id
    assert {tp.trace_id for tp in mail_traceparents(stack)} == {trace_id}
    gateway = only(call_lines(stack, "gateway", "StartEmailLogin", transport), "gateway StartEmailLogin")
    authsession = only(call_lines(stack, "authsession", "StartEmailLogin"), "authsession StartEmailLogin")
    assert authsession.get("error_code") == "DEPENDENCY_UNAVAILABLE", authsession
    assert gateway[TRACE_ID_KEY] == authsession[TRACE_ID_KEY] == trace_id, (gateway, authsession)


CALLER = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"


@pytest.mark.parametrize(
    ("sent", "passed_on"),
    [
        pytest.param(((TRACEPARENT, CALLER), (TRACESTATE, "vendor=abc,other=x1")), "vendor=abc,other=x1", id="kept"),
        pytest.param(((TRACEPARENT, MALFORMED["upper-case-hex"]), (TRACESTATE, "vendor=abc")), None, id="dropped"),
    ],
)
@pytest.mark.rule(
    "tracing.header.tracestate", "tracing.accept.malformed-replaced", "tracing.hop.authsession-to-upstreams"
)
def test_a_tracestate_goes_on_with_the_trace_it_came_with(
    stack: Stack, transport: Transport, sent: tuple[tuple[str, str], ...], passed_on: str | None
) -> None:
    """A well-formed tracestate of a continued trace reaches every hop after the
    gateway (authsession passes it on to the mail service); with a trace replaced,
    it is dropped."""
    assert start_with(stack, transport, "state@example.com", sent) == "OK"

    [request] = [r for r in stack.mail.requests if r.path == MESSAGES_PATH]
    assert request.header(TRACESTATE) == passed_on, request.headers
    continued = require_traceparent(request.headers).trace_id == CALLER_TRACE
    assert continued == (passed_on is not None)


LATER = f"cc-{CALLER_TRACE}-{CALLER_SPAN}-01-more"
"""A later version's traceparent with a field after the four it reads: the two of them joined into one value
("cc-...-01-more,cc-...") would still read as well formed."""


@pytest.mark.parametrize(
    "twice",
    [(CALLER, CALLER), (CALLER, f"00-{'a' * 32}-{CALLER_SPAN}-01"), (LATER, LATER)],
    ids=["same", "two", "later-version"],
)
@pytest.mark.rule("tracing.accept.malformed-replaced", "tracing.accept.never-an-error", "openapi.traceparent")
def test_a_traceparent_sent_twice_is_replaced(stack: Stack, transport: Transport, twice: tuple[str, str]) -> None:
    assert start_with(stack, transport, "twice@example.com", tuple((TRACEPARENT, v) for v in twice)) == "OK"

    [mailed] = mail_traceparents(stack)
    assert mailed.trace_id not in (CALLER_TRACE, "a" * 32), f"a traceparent sent twice was continued: {mailed}"
    assert mailed.flags == "00"
    gateway = only(call_lines(stack, "gateway", "StartEmailLogin", transport), "gateway StartEmailLogin")
    assert gateway[TRACE_ID_KEY] == mailed.trace_id


@pytest.mark.rule("tracing.hop.authsession-grpc", "tracing.accept.continue", "tracing.span.own-span")
def test_authsession_continues_its_callers_trace_on_its_api_and_its_health(stack: Stack) -> None:
    trace = Trace(CALLER_TRACE)
    with AuthSessionGrpcClient(stack.authsession.address("grpc"), trace=trace) as client:
        client.start_email_login("hop@example.com")
    [mailed] = mail_traceparents(stack)
    call = only(call_lines(stack, "authsession", "StartEmailLogin"), "authsession StartEmailLogin")
    assert call[TRACE_ID_KEY] == mailed.trace_id == CALLER_TRACE
    assert mailed.parent_id == call[SPAN_ID_KEY] != trace.sent[0].parent_id

    with grpc.insecure_channel(stack.authsession.address("grpc")) as channel:
        health: Any = health_pb2_grpc.HealthStub(channel)
        health.Check(health_pb2.HealthCheckRequest(), metadata=((TRACEPARENT, trace.traceparent()),), timeout=5)
    checks = [line for line in health_lines(stack) if line[TRACE_ID_KEY] == CALLER_TRACE]
    assert len(checks) == 1, f"want the one health check in the caller's trace: {health_lines(stack)}"
    assert checks[0][SPAN_ID_KEY] != trace.sent[1].parent_id


def health_lines(stack: Stack) -> list[dict[str, Any]]:
    """authsession's ``grpc call`` lines of grpc.health.v1 Check, oldest first."""
    return [
        line
        for line in log_lines(stack, "authsession")
        if line.get("msg") == "grpc call" and line.get("method") == "/grpc.health.v1.Health/Check"
    ]


@pytest.mark.waits
@pytest.mark.rule(
    "tracing.own-work.no-traceparent", "tracing.hop.gateway-to-authsession", "tracing.accept.absent-new-trace"
)
def test_the_gateways_own_health_checks_belong_to_no_request(stack: Stack) -> None:
    """The gateway checks authsession's health every second on its own: those checks
    carry no trace of a request, so authsession starts a new one for each; a check made
    for a request (a /readyz) carries that request's trace."""
    log_in(stack, stack.http, "own@example.com")
    deadline = time.monotonic() + 5
    while len(own := [line for line in health_lines(stack) if line[TRACE_ID_KEY] != stack.trace.trace_id]) < 3:
        assert time.monotonic() < deadline, f"the gateway checked authsession's health {len(own)} times in 5 s"
        time.sleep(0.1)
    assert len({line[TRACE_ID_KEY] for line in own}) == len(own), f"own checks share a trace: {own}"

    # A /readyz that arrives while a periodic check runs is answered by that check, begun for no request: it is
    # asked again, up to five times in all, until one starts a check of its own.
    def in_the_requests_trace() -> list[dict[str, Any]]:
        assert stack.http.request("GET", "/readyz").status_code == 200
        return [line for line in health_lines(stack) if line[TRACE_ID_KEY] == stack.trace.trace_id]

    for_the_request = beyond_shared_checks(in_the_requests_trace, lambda found: not found, tries=5)[-1]
    assert len(for_the_request) >= 1, (
        f"no /readyz request's check of authsession is in its trace: {health_lines(stack)}"
    )


class _HealthAnswering(grpc.GenericRpcHandler):
    """A gRPC server in authsession's place that answers health checks SERVING and keeps each check's metadata."""

    def __init__(self) -> None:
        self.checks: list[dict[str, str]] = []

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any] | None:
        if handler_call_details.method != "/grpc.health.v1.Health/Check":
            return None

        def check(request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext) -> Any:
            self.checks.append({k: str(v) for k, v in context.invocation_metadata()})
            return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

        return grpc.unary_unary_rpc_method_handler(
            check,
            request_deserializer=health_pb2.HealthCheckRequest.FromString,
            response_serializer=health_pb2.HealthCheckResponse.SerializeToString,
        )


@pytest.mark.rule("tracing.own-work.no-traceparent", "tracing.hop.gateway-to-authsession")
def test_the_gateways_own_health_checks_send_no_traceparent(stack: Stack) -> None:
    """What the gateway's periodic checks of authsession send, seen by a gRPC server in authsession's place:
    no ``traceparent`` at all (work of its own belongs to no request), while the check a traced ``/readyz``
    makes carries that request's trace."""
    answering = _HealthAnswering()
    server = grpc.server(ThreadPoolExecutor(2), handlers=[answering])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        gateway = by_hand(stack, "gateway", {"GATEWAY_AUTHSESSION_ADDR": f"127.0.0.1:{port}"}).start()
        deadline = time.monotonic() + 5
        while len(answering.checks) < 3:
            assert time.monotonic() < deadline, f"the gateway checked authsession {len(answering.checks)} times in 5 s"
            time.sleep(0.1)
        own = list(answering.checks)
        assert [c for c in own if TRACEPARENT in c] == [], f"checks of its own sent a trace: {own}"

        # A traced /readyz that arrives while a periodic check runs is answered by that untraced check: it is asked
        # again, up to five times in all, until one starts a check of its own.
        caller = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
        readyz = f"http://{gateway.address('http')}/readyz"

        def traced_checks() -> list[str]:
            response = requests.get(readyz, headers={TRACEPARENT: caller}, timeout=5)
            assert response.status_code == 200, response.text
            return [c[TRACEPARENT] for c in answering.checks[len(own) :] if TRACEPARENT in c]

        traced = beyond_shared_checks(traced_checks, lambda found: not found, tries=5)[-1]
        assert {Traceparent.parse(v).trace_id for v in traced} == {CALLER_TRACE}, answering.checks[len(own) :]
        gateway.stop()
    finally:
        server.stop(None)
