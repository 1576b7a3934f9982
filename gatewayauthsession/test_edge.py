"""Transport-specific edges of the gateway: bad HTTP input, its OpenAPI
document and health endpoints, gRPC health."""

from __future__ import annotations

import time
from typing import Any

import grpc
import pytest

from contracts.errors import ERRORS
from contracts.gatewayv1._pb import gateway_pb2
from contracts.gatewayv1.http_client import answer_violations, problem_error
from contracts.grpc_errors import ERROR_DOMAINS, grpc_error
from contracts.health import grpc_health
from gatewayauthsession.scenario import beyond_shared_checks
from gatewayauthsession.stack import Stack, Transport

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "code"),
    [
        ("POST", "/v1/auth/email/start", {"data": "{", "headers": JSON}, "INVALID_ARGUMENT"),
        ("POST", "/v1/auth/email/start", {"data": "[]", "headers": JSON}, "INVALID_ARGUMENT"),
        ("POST", "/v1/auth/email/start", {"data": "", "headers": JSON}, "INVALID_ARGUMENT"),
        ("POST", "/v1/auth/email/start", {"json": {"email": 42}}, "INVALID_ARGUMENT"),
        ("POST", "/v1/auth/email/start", {"json": {"email": None}}, "INVALID_ARGUMENT"),
        ("POST", "/v1/auth/email/start", {"json": {}}, "INVALID_ARGUMENT"),
        ("POST", "/v1/auth/email/start", {"json": {"email": "a@example.com", "admin": True}}, "INVALID_ARGUMENT"),
        ("POST", "/v1/auth/email/start", {"data": '{"email":"a@example.com"} {}', "headers": JSON}, "INVALID_ARGUMENT"),
        (
            "POST",
            "/v1/auth/email/start",
            {"data": "email=a@example.com", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            "POST",
            "/v1/auth/email/start",
            {"data": '{"email":"a@example.com"}', "headers": {"Content-Type": "text/json"}},
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            "POST",
            "/v1/auth/email/start",
            {"data": '{"email":"a@example.com"}', "headers": {"Content-Type": "application/ld+json"}},
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (
            "POST",
            "/v1/auth/email/start",
            {"data": '{"email":"' + "a" * 70_000 + '"}', "headers": JSON},
            "PAYLOAD_TOO_LARGE",
        ),
        ("POST", "/v1/auth/email/confirm", {"json": {"challenge_id": "x"}}, "INVALID_ARGUMENT"),
        ("POST", "/v1/auth/email/confirm", {"json": {"challenge_id": ["x"], "code": "123456"}}, "INVALID_ARGUMENT"),
        ("GET", "/v1/auth/email/start", {}, "METHOD_NOT_ALLOWED"),
        ("DELETE", "/v1/me", {}, "METHOD_NOT_ALLOWED"),
        ("GET", "/v1/nope", {}, "NOT_FOUND"),
        ("GET", "/v1/me", {"headers": {"Authorization": "Basic YTpi"}}, "UNAUTHENTICATED"),
        ("GET", "/v1/me", {"headers": {"Authorization": "Bearer"}}, "UNAUTHENTICATED"),
    ],
    ids=[
        "truncated-json",
        "json-array",
        "empty-body",
        "email-number",
        "email-null",
        "missing-email",
        "unknown-field",
        "trailing-json",
        "form-encoded",
        "text-json",
        "another-json-type",
        "oversized",
        "missing-code",
        "id-array",
        "get-on-post",
        "delete-me",
        "unknown-route",
        "basic-auth",
        "empty-bearer",
    ],
)
@pytest.mark.rule(
    "openapi.body.strict",
    "galaxy.gateway.request-bodies",
    "errors.code.invalid-argument",
    "errors.code.unsupported-media-type",
    "errors.code.payload-too-large",
    "errors.code.method-not-allowed",
    "errors.code.not-found",
    "errors.code.unauthenticated",
    "errors.stable-code",
    "errors.http.problem",
    "errors.http.www-authenticate",
    "openapi.errors.problem",
    "openapi.route.unknown-path",
    "openapi.route.method-not-allowed",
    "openapi.response.invalid-argument",
    "openapi.response.unsupported-media-type",
    "openapi.response.payload-too-large",
    "openapi.response.method-not-allowed",
    "openapi.response.not-found",
    "openapi.response.unauthenticated",
    "openapi.header.allow",
    "openapi.header.www-authenticate",
    transport="http",
)
def test_bad_http_input_gets_a_problem_with_a_stable_code(
    stack: Stack, method: str, path: str, kwargs: dict[str, Any], code: str
) -> None:
    resp = stack.http.request(method, path, **kwargs)

    err = problem_error(resp)
    assert err.code == code, f"{method} {path}: expected {code}, got {err}"
    err.check_against_table()
    if code == "UNAUTHENTICATED":
        assert resp.headers.get("WWW-Authenticate", "").startswith("Bearer")
    if code == "METHOD_NOT_ALLOWED":
        assert resp.headers.get("Allow")


# (path, method, success status, error statuses the scenarios provoke there)
OPERATIONS = [
    ("/v1/auth/email/start", "post", 200, {400, 429, 503}),
    ("/v1/auth/email/confirm", "post", 200, {400, 403, 404, 429, 503}),
    ("/v1/auth/refresh", "post", 200, {400, 401, 403, 429}),
    ("/v1/me", "get", 200, {401}),
    ("/v1/auth/logout", "post", 204, {401}),
    ("/v1/sessions", "get", 200, {401}),
    ("/v1/sessions/{session_id}", "delete", 204, {401, 404}),
]


@pytest.mark.parametrize(
    ("path", "method", "success", "errors"), OPERATIONS, ids=[f"{m} {p}" for p, m, *_ in OPERATIONS]
)
@pytest.mark.rule("openapi.document.served", transport="http")
def test_the_openapi_document_describes_every_operation_and_the_errors_it_gives(
    stack: Stack, path: str, method: str, success: int, errors: set[int]
) -> None:
    resp = stack.http.request("GET", "/openapi.json")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].split(";")[0] == "application/json", resp.headers  # its documented media type
    doc = resp.json()
    assert doc["openapi"].startswith("3.1")
    operation = doc["paths"][path][method]
    documented = {int(s) for s in operation["responses"] if s.isdigit()}
    assert success in documented, f"{method.upper()} {path} does not document {success}"
    assert errors <= documented, f"{method.upper()} {path} lacks {sorted(errors - documented)}"
    assert documented - {success} <= {spec.http_status for spec in ERRORS.values()}


@pytest.mark.rule(
    "openapi.healthz.liveness",
    "openapi.healthz.alive",
    "openapi.readyz.ready",
    "galaxy.readiness.healthz",
    "galaxy.readiness.readyz",
    transport="http",
)
def test_http_health_endpoints_answer(stack: Stack) -> None:
    for path in ("/healthz", "/readyz"):
        resp = stack.http.request("GET", path)
        assert resp.status_code == 200, (path, resp.text)
        assert resp.headers["Content-Type"].split(";")[0] == "application/json", (path, resp.headers)
        assert resp.json() == {"status": "ok"}, (path, resp.text)  # the Status schema: {"status": "ok"}, no more


HUNG_READY_TIMEOUT = 3.0  # the readiness check's bound while a dependency hangs (GATEWAY_READY_TIMEOUT)


@pytest.mark.waits
@pytest.mark.stack(links=("gateway->redis",), gateway_ready_timeout="3s", gateway_redis_timeout="10s")
@pytest.mark.rule("openapi.healthz.liveness", "galaxy.readiness.healthz", transport="http")
def test_healthz_asks_no_dependency_so_a_hung_one_does_not_slow_it(stack: Stack) -> None:
    """The gateway's Redis hangs: /readyz waits out its 3 s bound for it and answers
    503, while /healthz, which asks no dependency, answers 200 at once. A /readyz answered
    before the bound shared a check begun before it, and is asked again."""
    stack.link("gateway", "redis").blackhole()

    started = time.monotonic()
    alive = stack.http.request("GET", "/healthz")
    took = time.monotonic() - started
    assert alive.status_code == 200, alive.text
    assert took < HUNG_READY_TIMEOUT - 1.0, f"/healthz took {took:.2f}s: it waited for the hung Redis"

    # A /readyz may join a check the gateway began before it (its own, every second): ready at once when begun
    # before the fault, not ready but early when begun after the fault and before this probe. Such an early answer
    # is asked again; a check this probe begins waits out the bound.
    def readyz() -> tuple[int, float]:
        started = time.monotonic()
        status = stack.http.request("GET", "/readyz").status_code
        return status, time.monotonic() - started

    answers = beyond_shared_checks(readyz, lambda a: a[1] < HUNG_READY_TIMEOUT - 0.1)
    status, took = answers[-1]
    assert status == 503, answers
    assert took >= HUNG_READY_TIMEOUT - 0.1, f"the fault did not hang the readiness check: {answers}"


@pytest.mark.parametrize("service", ["", "galaxy.gateway.v1.GatewayService"])
@pytest.mark.rule("galaxy.readiness.grpc-health-check", transport="grpc")
def test_grpc_health_reports_serving(stack: Stack, service: str) -> None:
    assert grpc_health(stack.gateway.address("grpc"), service) == "SERVING"


@pytest.mark.rule("galaxy.readiness.grpc-health-check", transport="grpc")
def test_authsession_grpc_health_reports_serving(stack: Stack) -> None:
    assert grpc_health(stack.authsession.address("grpc"), "galaxy.authsession.v1.AuthSessionService") == "SERVING"


ROUTES = [
    ("POST", "/v1/auth/email/start", 400),
    ("POST", "/v1/auth/email/confirm", 400),
    ("POST", "/v1/auth/refresh", 400),
    ("POST", "/v1/auth/logout", 401),
    ("GET", "/v1/me", 401),
    ("GET", "/v1/sessions", 401),
    ("DELETE", "/v1/sessions/AAAAAAAAAAAAAAAAAAAAAA", 401),
    ("GET", "/openapi.json", 200),
    ("GET", "/healthz", 200),
    ("GET", "/readyz", 200),
]
"""Every route galaxy/README.md lists, and what it answers an empty request (no body, no token)."""


@pytest.mark.rule(
    "galaxy.gateway.api",
    "openapi.route.head",
    "errors.paths.methods",
    "errors.http-layer.answers",
    "openapi.headers.every-response",
)
def test_every_route_of_the_gateway_is_served_over_each_api(stack: Stack, transport: Transport) -> None:
    """Each HTTP route answers a request with nothing in it as a route does, and a
    ``GET`` route answers ``HEAD`` alike, without a body; each method of the gRPC
    service is served, and so is grpc.health.v1."""
    if transport == "http":
        for method, path, status in ROUTES:
            data = b"{}" if method == "POST" else None
            resp = stack.http.request(method, path, data=data, headers={"Content-Type": "application/json"})
            assert resp.status_code == status, (method, path, resp.status_code, resp.text[:200])
            assert answer_violations(resp) == [], (method, path)  # every answer, a success too
            if method == "GET":
                head = stack.http.request("HEAD", path)
                assert (head.status_code, head.content) == (status, b""), ("HEAD", path)
                assert head.headers.get("Content-Type") == resp.headers.get("Content-Type"), ("HEAD", path)
                assert answer_violations(head) == [], ("HEAD", path)
        return
    with grpc.insecure_channel(stack.gateway.address("grpc")) as channel:
        for rpc in gateway_pb2.DESCRIPTOR.services_by_name["GatewayService"].methods:
            call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
                f"/galaxy.gateway.v1.GatewayService/{rpc.name}", request_serializer=None, response_deserializer=None
            )
            with pytest.raises(grpc.RpcError) as raised:
                call(b"", timeout=5)  # no field at all: a required one is missing, or no token
            err = grpc_error(raised.value, ERROR_DOMAINS["gateway"])
            assert err.code in ("INVALID_ARGUMENT", "UNAUTHENTICATED"), (rpc.name, err)
    assert grpc_health(stack.gateway.address("grpc"), "galaxy.gateway.v1.GatewayService") == "SERVING"
