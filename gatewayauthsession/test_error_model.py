"""Every error comes in the envelope of ``contracts/errors.md``, whatever its
code, over HTTP and gRPC, from the gateway and from authsession alike.

The typed clients hold every answer to the envelope (a problem document's
fields and the headers of its status and code; the ErrorInfo's domain and,
for a rate limit, a whole-second RetryInfo), so ``expect_error`` fails on an
answer that breaks it. Here each code the gateway's API gives is provoked
once, so that no code goes unchecked; the other scenarios check it again
for the causes they provoke."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from contracts.authsessionv1.client import AuthSessionGrpcClient
from contracts.errors import ApiError
from contracts.gatewayv1 import GatewayApi
from contracts.gatewayv1.grpc_client import GatewayGrpcClient
from contracts.gatewayv1.http_client import GatewayHttpClient
from gatewayauthsession.by_hand import by_hand
from gatewayauthsession.scenario import expect_error, log_in, wrong_code
from gatewayauthsession.stack import Stack, Transport

UNKNOWN_ID = "AAAAAAAAAAAAAAAAAAAAAA"


@pytest.mark.stack(code_max_attempts=2)
@pytest.mark.rule(
    "errors.stable-code",
    "errors.http.problem",
    "errors.http.www-authenticate",
    "errors.http.retry-after",
    "errors.grpc.error-info",
    "errors.grpc.retry-info",
    "gatewayv1.errors",
    "openapi.errors.problem",
    "openapi.problem.document",
    "openapi.problem.type",
    "openapi.problem.title",
    "openapi.problem.status",
    "openapi.problem.detail",
    "openapi.problem.code",
    "openapi.problem.metadata",
    "openapi.header.www-authenticate",
    "openapi.header.retry-after",
)
def test_every_error_code_of_the_gateway_comes_in_its_envelope(
    stack: Stack, api: GatewayApi, transport: Transport
) -> None:
    login = log_in(stack, api, "envelope@example.com")
    challenge = api.start_email_login("burned@example.com")
    code = stack.mail.last_code("burned@example.com")
    stack.users.add_user("off@example.com", status="disabled")
    disabled = api.start_email_login("off@example.com")

    provoked: list[tuple[str, Callable[..., object], tuple[object, ...]]] = [
        ("INVALID_ARGUMENT", api.start_email_login, ("not-an-email",)),
        ("INVALID_ARGUMENT", api.confirm_email_login, (challenge.challenge_id, "12345")),
        ("INVALID_CODE", api.confirm_email_login, (challenge.challenge_id, wrong_code(code))),
        ("TOO_MANY_ATTEMPTS", api.confirm_email_login, (challenge.challenge_id, wrong_code(code, 1))),
        ("CHALLENGE_NOT_FOUND", api.confirm_email_login, (challenge.challenge_id, code)),
        ("RATE_LIMITED", api.start_email_login, ("burned@example.com",)),  # the resend cooldown
        ("USER_DISABLED", api.confirm_email_login, (disabled.challenge_id, stack.mail.last_code("off@example.com"))),
        ("UNAUTHENTICATED", api.me, (None,)),
        ("UNAUTHENTICATED", api.list_sessions, ("garbage",)),
        ("INVALID_REFRESH_TOKEN", api.refresh_session, ("A" * 43,)),
        ("SESSION_NOT_FOUND", api.revoke_session, (login.access_token, UNKNOWN_ID)),
    ]
    errors = [expect_error(code_, fn, *args) for code_, fn, args in provoked]
    stack.mail.fail_with(503)
    errors.append(expect_error("DEPENDENCY_UNAVAILABLE", api.start_email_login, "later@example.com", dependency="mail"))

    assert all(err.transport == transport for err in errors)
    if transport == "http":
        _titles_summarise_codes(errors)


def _titles_summarise_codes(errors: list[ApiError]) -> None:
    """A problem's title is a short summary of its code: one title per code, whatever
    the cause (the detail, a human explanation, may differ), and a code of its own per title."""
    titles: dict[str, set[str]] = {}
    for err in errors:
        titles.setdefault(err.code, set()).add(err.raw.json()["title"])
    assert all(len(t) == 1 for t in titles.values()), f"titles that depend on more than the code: {titles}"
    by_title = [next(iter(t)) for t in titles.values()]
    assert len(set(by_title)) == len(by_title), f"codes that share a title: {titles}"
    invalid = [err.detail for err in errors if err.code == "INVALID_ARGUMENT"]
    assert len(set(invalid)) == len(invalid), f"the detail does not explain the cause: {invalid}"


@pytest.mark.rule("errors.grpc.error-info", "authsessionv1.errors", "errors.stable-code")
def test_every_error_code_of_authsession_comes_in_its_envelope(stack: Stack) -> None:
    """authsession's own errors, met by the gateway and the user service: the ErrorInfo of
    authsession's domain, with the table's code (the gateway passes the code on in its own)."""
    with AuthSessionGrpcClient(stack.authsession.address("grpc")) as client:
        first = client.start_email_login("direct@example.com")
        opened = client.confirm_email_login(first.challenge_id, stack.mail.last_code("direct@example.com"))
        user_id = opened.session.user_id
        other = client.start_email_login("other@example.com")
        code = stack.mail.last_code("other@example.com")
        expect_error("INVALID_ARGUMENT", client.start_email_login, "not-an-email")
        expect_error("CHALLENGE_NOT_FOUND", client.confirm_email_login, UNKNOWN_ID, "123456")
        expect_error("INVALID_CODE", client.confirm_email_login, other.challenge_id, wrong_code(code))
        expect_error("RATE_LIMITED", client.start_email_login, "direct@example.com")
        expect_error("INVALID_REFRESH_TOKEN", client.refresh_session, "A" * 43)
        expect_error("SESSION_NOT_FOUND", client.revoke_session, user_id, UNKNOWN_ID)
        stack.users.add_user("other@example.com", "disabled")  # the stub's or the real service's
        expect_error("USER_DISABLED", client.confirm_email_login, other.challenge_id, code)
        stack.mail.fail_with(503)
        expect_error("DEPENDENCY_UNAVAILABLE", client.start_email_login, "third@example.com", dependency="mail")


class _InBetween(grpc.GenericRpcHandler):
    """Something between the gateway and authsession (a proxy, a broken stream) that answers every call
    with ``code`` and no ErrorInfo: not authsession's contract."""

    def __init__(self, code: grpc.StatusCode) -> None:
        self.code = code
        self.calls: list[str] = []

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[bytes, bytes]:
        def answer(request: bytes, context: grpc.ServicerContext) -> bytes:
            self.calls.append(handler_call_details.method)
            context.abort(self.code, "answered by something in between")

        return grpc.unary_unary_rpc_method_handler(answer)


@pytest.mark.parametrize("transport", ["http", "grpc"])
@pytest.mark.parametrize(
    "code", [grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.NOT_FOUND], ids=lambda c: c.name
)
@pytest.mark.rule("errors.gateway.transport-failure", "errors.code.dependency-unavailable")
def test_a_status_without_error_info_is_the_dependency_failing_whatever_its_code(
    stack: Stack, transport: Transport, code: grpc.StatusCode
) -> None:
    in_between = _InBetween(code)
    server = grpc.server(ThreadPoolExecutor(2), handlers=[in_between])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        gateway = by_hand(stack, "gateway", {"GATEWAY_AUTHSESSION_ADDR": f"127.0.0.1:{port}"}).start()
        client: GatewayApi = (
            GatewayHttpClient("http://" + gateway.address("http"))
            if transport == "http"
            else GatewayGrpcClient(gateway.address("grpc"))
        )
        try:
            err = expect_error("DEPENDENCY_UNAVAILABLE", client.start_email_login, "between@example.com")
        finally:
            client.close()
        assert err.metadata.get("dependency") == "authsession", f"{code.name} from in between was answered {err}"
        assert in_between.calls, "the gateway never called the address it was given"
        gateway.stop()
    finally:
        server.stop(None)
