"""The gateway's public gRPC API refuses request bodies that are no valid
protobuf message on the wire with ``INVALID_ARGUMENT`` and the table's code,
never ``INTERNAL`` (SPEC, "The input contract")."""

from __future__ import annotations

import grpc
import pytest

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
