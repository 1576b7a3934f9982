"""The gateway's public gRPC API refuses request bodies that are no valid
protobuf message on the wire with ``INVALID_ARGUMENT`` and the table's code,
never ``INTERNAL`` (SPEC, "The input contract"); both services' gRPC servers
keep the limits of ``galaxy/README.md`` (the size of a message and of its
metadata, the calls at once on a connection, keepalive, the handshake's
deadline; the 15 minutes after which an idle connection is closed are past
any scenario's time)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from contracts.grpc_errors import ERROR_DOMAINS, grpc_error
from gatewayauthsession.stack import Stack

SERVICE = "/galaxy.gateway.v1.GatewayService/"

# Methods whose request's field 1 is a string, so that every body below is
# malformed for each of them.
METHODS = ["StartEmailLogin", "ConfirmEmailLogin", "RefreshSession", "RevokeSession"]


@pytest.mark.parametrize(
    "body",
    [
        b"\x0a\x02\xff\xfe",  # field 1 (string) holding invalid UTF-8
        b"\x10\x80",  # a varint cut short
        b"\x0a\x05a",  # a length past the end of the body
        b"\x0a\x01a\xff",  # a valid field, then garbage
        b"\x0f",  # a tag with wire type 7, which does not exist
    ],
    ids=["invalid-utf8", "truncated-varint", "length-past-end", "trailing-garbage", "bad-wire-type"],
)
@pytest.mark.rule(
    "galaxy.grpc.malformed-request",
    "errors.stable-code",
    "errors.code.invalid-argument",
    "errors.bad-input.never-500",
    transport="grpc",
)
def test_malformed_protobuf_is_invalid_argument(stack: Stack, body: bytes) -> None:
    with grpc.insecure_channel(stack.gateway.address("grpc")) as channel:
        for method in METHODS:
            call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
                SERVICE + method, request_serializer=None, response_deserializer=None
            )
            with pytest.raises(grpc.RpcError) as raised:
                call(body, timeout=5)

            err = grpc_error(raised.value, ERROR_DOMAINS["gateway"])
            assert err.status == grpc.StatusCode.INVALID_ARGUMENT, f"{method} {body!r}: {err}"
            assert err.code == "INVALID_ARGUMENT", f"{method} {body!r}: {err}"
            err.check_against_table()
            assert "proto:" not in err.detail, f"{method}: the library's text reached the caller: {err.detail}"


# ------------------------------------------------------------------ the limits of both gRPC servers


def _varint(n: int) -> bytes:
    out = b""
    while n >= 0x80:
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    return out + bytes([n])


def _start_login_body(email_length: int) -> bytes:
    """A StartEmailLogin request (both APIs: the email is field 1) whose email has ``email_length`` octets."""
    return b"\x0a" + _varint(email_length) + b"a" * email_length


def _code(call: Callable[[], object], service: str) -> str:
    try:
        call()
    except grpc.RpcError as raised:
        err = grpc_error(raised, ERROR_DOMAINS[service])
        return err.code if err.code != "<no ErrorInfo>" else str(err.status)
    return "OK"


SERVICES = {"gateway": "galaxy.gateway.v1.GatewayService", "authsession": "galaxy.authsession.v1.AuthSessionService"}


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.rule("galaxy.grpc.server-limits", transport="grpc")
def test_a_request_over_64_kib_or_metadata_over_16_kib_is_refused(stack: Stack, service: str) -> None:
    """A message of just under 64 KiB is read (its email, far too long, refused as the
    policy says); one just over is not read at all. Metadata of 15 KB is read, 17 KB not."""
    with grpc.insecure_channel(stack.process(service).address("grpc")) as channel:
        start: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            f"/{SERVICES[service]}/StartEmailLogin", request_serializer=None, response_deserializer=None
        )
        assert _code(lambda: start(_start_login_body(65_500), timeout=5), service) == "INVALID_ARGUMENT"
        assert _code(lambda: start(_start_login_body(65_600), timeout=5), service) == str(
            grpc.StatusCode.RESOURCE_EXHAUSTED
        )
        small = _start_login_body(1)
        assert (
            _code(lambda: start(small, metadata=(("x-pad", "p" * 15_000),), timeout=5), service) == "INVALID_ARGUMENT"
        )
        refused = _code(lambda: start(small, metadata=(("x-pad", "p" * 17_000),), timeout=5), service)
        assert refused not in ("OK", "INVALID_ARGUMENT"), f"metadata of 17 KB was read: {refused}"
    assert stack.mail.messages == []


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.rule("galaxy.grpc.server-limits", transport="grpc")
def test_a_connection_carries_100_calls_at_once_and_the_next_waits(stack: Stack, service: str) -> None:
    """100 health Watch streams, open calls that last, fill one connection: a check
    made beside them on it waits, and is answered once one of them ends."""
    with grpc.insecure_channel(stack.process(service).address("grpc")) as channel:
        health: Any = health_pb2_grpc.HealthStub(channel)  # the typing stubs omit the generated methods
        watches = [health.Watch(health_pb2.HealthCheckRequest()) for _ in range(100)]
        try:
            for watch in watches:
                next(watch)  # each stream is open: its first status came
            with pytest.raises(grpc.RpcError) as waited:
                health.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
            assert waited.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            watches.pop().cancel()
            assert (
                health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
                == health_pb2.HealthCheckResponse.SERVING
            )
        finally:
            for watch in watches:
                watch.cancel()


@pytest.mark.waits
@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.rule("galaxy.grpc.server-limits", transport="grpc")
def test_a_client_that_pings_more_often_than_every_10_s_is_cut_off(stack: Stack, service: str) -> None:
    """Keepalive is enforced: a client pinging every second loses its connection with
    a call in flight (a login start whose mail takes six seconds)."""
    stack.mail.delay(6.0)
    options = [
        ("grpc.keepalive_time_ms", 1000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.http2.min_time_between_pings_ms", 1000),
    ]
    with grpc.insecure_channel(stack.process(service).address("grpc"), options=options) as channel:
        start: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            f"/{SERVICES[service]}/StartEmailLogin", request_serializer=None, response_deserializer=None
        )
        email = b"pings@example.com"
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as cut:
            start(b"\x0a" + _varint(len(email)) + email, timeout=10)
    assert cut.value.code() == grpc.StatusCode.UNAVAILABLE, cut.value
    assert time.monotonic() - started < 6.0, "the call ended with its mail, not with its connection"


@pytest.mark.waits
@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.rule("galaxy.grpc.server-limits", transport="grpc")
def test_a_connection_that_does_not_handshake_within_10_s_is_closed(stack: Stack, service: str) -> None:
    host, port = stack.process(service).address("grpc").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=20) as silent:
        started = time.monotonic()
        while silent.recv(1 << 16):  # the server's SETTINGS, then nothing: it waits for the client's preface
            pass
        closed_after = time.monotonic() - started
    assert 9.0 <= closed_after <= 10.0 + 3.0, f"closed after {closed_after:.1f}s"
