"""One W3C trace runs through every hop of a request, over HTTP and gRPC: the
client's traceparent, the gateway's and authsession's log lines, and the
requests authsession makes of the mail and user services
(contracts/tracing.md)."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.gatewayv1 import GatewayApi
from contracts.mail import MESSAGES_PATH
from contracts.tracing import SPAN_ID_KEY, TRACE_ID_KEY, FixedTraceparent, Traceparent, require_traceparent
from gatewayauthsession.scenario import call_lines, expect_error, log_in
from gatewayauthsession.stack import Stack, Transport

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
