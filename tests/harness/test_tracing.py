"""The W3C trace-context helpers (contracts.tracing) and the clients that send them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

import pytest

from contracts.errors import WireFormatError
from contracts.gatewayv1.grpc_client import GatewayGrpcClient
from contracts.gatewayv1.http_client import EVERY_ANSWER, GatewayHttpClient
from contracts.tracing import (
    FixedTraceparent,
    Trace,
    Traceparent,
    check_traceparent,
    require_traceparent,
    trace_id_for,
)
from harness.stubs.server import HttpStub, RecordedRequest, Reply, json_reply

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
VALID = f"00-{TRACE_ID}-{SPAN_ID}-01"


class GatewayDouble(HttpStub):
    """Answers the gateway's start route as the gateway does, to see what a client sends."""

    name = "gateway double"

    def __init__(self) -> None:
        super().__init__()
        self._route("POST", "/v1/auth/email/start", self._start)

    def _start(self, _request: RecordedRequest, _match: re.Match[str]) -> Reply:
        reply = json_reply(200, {"challenge_id": "ch_1", "expires_at": "2030-01-01T00:10:00+00:00"})
        return replace(reply, headers=EVERY_ANSWER)


@pytest.fixture
def gateway() -> Iterator[GatewayDouble]:
    with GatewayDouble() as double:
        yield double


def test_parse_reads_what_a_service_sends() -> None:
    assert Traceparent.parse(VALID) == Traceparent(TRACE_ID, SPAN_ID, "01")
    assert str(Traceparent.parse(VALID)) == VALID


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param(VALID.upper(), id="upper-case"),
        pytest.param("01" + VALID[2:], id="another-version"),
        pytest.param(VALID + "-00", id="fifth-field"),
        pytest.param(f"00-{'0' * 32}-{SPAN_ID}-01", id="zero-trace-id"),
        pytest.param(f"00-{TRACE_ID}-{'0' * 16}-01", id="zero-parent-id"),
        pytest.param(f"00-{TRACE_ID[1:]}-{SPAN_ID}-01", id="short-trace-id"),
        pytest.param(f" {VALID}", id="whitespace"),
        pytest.param(f"{VALID}, {VALID}", id="twice"),
    ],
)
def test_parse_refuses_anything_else(value: str | None) -> None:
    with pytest.raises(WireFormatError, match="traceparent"):
        Traceparent.parse(value)


def test_require_traceparent_wants_the_header() -> None:
    assert require_traceparent({"traceparent": VALID}).trace_id == TRACE_ID
    with pytest.raises(WireFormatError, match="missing"):
        require_traceparent({})


def test_check_traceparent_refuses_only_a_malformed_header() -> None:
    assert check_traceparent({"traceparent": VALID}) == Traceparent(TRACE_ID, SPAN_ID, "01")
    assert check_traceparent({}) is None
    with pytest.raises(WireFormatError, match="traceparent"):
        check_traceparent({"traceparent": ""})


def test_a_trace_gives_each_call_a_parent_of_its_own() -> None:
    trace = Trace(TRACE_ID)
    first, second = Traceparent.parse(trace.traceparent()), Traceparent.parse(trace.traceparent())

    assert (first.trace_id, second.trace_id) == (TRACE_ID, TRACE_ID)
    assert first.parent_id != second.parent_id
    assert (first.flags, Traceparent.parse(Trace(sampled=False).traceparent()).flags) == ("01", "00")
    assert trace.sent == [first, second]
    assert Trace().trace_id != Trace().trace_id
    with pytest.raises(ValueError, match="trace id"):
        Trace(TRACE_ID.upper())


def test_trace_id_for_is_a_trace_id_of_the_name() -> None:
    assert trace_id_for("test_a[http]") == trace_id_for("test_a[http]")
    assert trace_id_for("test_a[http]") != trace_id_for("test_a[grpc]")
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id_for("test_a[http]"))


def test_the_http_client_sends_a_traceparent_on_every_call(gateway: GatewayDouble) -> None:
    trace = Trace(TRACE_ID)
    client = GatewayHttpClient(gateway.url, trace=trace)
    try:
        client.start_email_login("a@example.com")
        client.start_email_login("b@example.com")
        client.request("POST", "/v1/auth/email/start", json={}, headers={"traceparent": "mine"})
        client.request("POST", "/v1/auth/email/start", json={}, headers={"Traceparent": None})
    finally:
        client.close()

    sent = [r.header("traceparent") for r in gateway.requests]
    assert sent == [str(tp) for tp in trace.sent] + ["mine", None]
    assert len({Traceparent.parse(v).parent_id for v in sent[:2] if v}) == 2


def test_the_http_client_sends_none_without_a_trace(gateway: GatewayDouble) -> None:
    client = GatewayHttpClient(gateway.url)
    try:
        client.start_email_login("a@example.com")
    finally:
        client.close()

    [request] = gateway.requests
    assert request.header("traceparent") is None


def test_the_grpc_client_sends_a_traceparent_in_every_calls_metadata() -> None:
    trace = Trace(TRACE_ID)
    traced = GatewayGrpcClient("127.0.0.1:1", trace=trace)
    plain = GatewayGrpcClient("127.0.0.1:1")
    fixed = GatewayGrpcClient("127.0.0.1:1", trace=FixedTraceparent("bad"))
    try:
        first, second = dict(traced.metadata("tok")), dict(traced.metadata())
        assert first == {"authorization": "Bearer tok", "traceparent": str(trace.sent[0])}
        assert second == {"traceparent": str(trace.sent[1])}
        assert trace.sent[0].parent_id != trace.sent[1].parent_id
        assert plain.metadata("tok") == (("authorization", "Bearer tok"),)
        assert fixed.metadata() == (("traceparent", "bad"),)
    finally:
        for client in (traced, plain, fixed):
            client.close()
