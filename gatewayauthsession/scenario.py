"""Domain-named steps and assertions shared by the scenarios."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest
import requests

from contracts.errors import ApiError
from contracts.gatewayv1 import GatewayApi, Login, LoginChallenge
from contracts.gatewayv1._pb import gateway_pb2
from contracts.gatewayv1.http_client import problem_error
from contracts.health import ReadinessSnapshot
from contracts.redis_schema import SessionRecord, events_channel, read_session, session_key
from gatewayauthsession.stack import Stack, Transport
from harness.builds.tools import go_tool
from harness.forensics.timeline import json_lines
from harness.suites.grpcurl import write_protoset

__all__ = [
    "LIMITS_OUT_OF_THE_WAY",
    "REPEATED_LOGINS",
    "call_lines",
    "code_for",
    "expect_error",
    "log_in",
    "log_lines",
    "raw_http",
    "served",
    "session_events",
    "session_ids",
    "session_record",
    "sleep_past",
    "start_with",
    "wrong_code",
]


T = TypeVar("T")


SHARED_CHECK_TRIES = 3
"""How many times in all a readiness probe is sent while its answers came from a check begun before it."""


def beyond_shared_checks(ask: Callable[[], T], shared: Callable[[T], bool], tries: int = SHARED_CHECK_TRIES) -> list[T]:
    """Every answer of the readiness probe ``ask``, sent again while ``shared`` says its answer came from a check
    begun before it (probes that arrive together share one check, ``galaxy.readiness.bounded-check``, and the
    services also check by themselves every second), at most ``tries`` times in all: the last answer is the one to
    judge, the others say what was seen."""
    answers = [ask()]
    while shared(answers[-1]) and len(answers) < tries:
        answers.append(ask())
    return answers


def ready_within(snap: ReadinessSnapshot, bound: float) -> bool:
    """Whether a readiness answer may be a check's begun before a fault: ready, and within the check's bound
    (for :func:`beyond_shared_checks`)."""
    return snap.ready is not False and snap.seconds < bound


REPEATED_LOGINS = pytest.mark.stack(resend_cooldown="1ms")
"""For a scenario that logs one email in again within the resend cooldown
(the service's 30 s): the stack's defaults are the services' own, so a
scenario that needs the cooldown out of its way says so with this mark. The
start limits stay the service's (five starts of one email an hour)."""

LIMITS_OUT_OF_THE_WAY = {
    "resend_cooldown": "1ms",
    "start_limit_per_email": 1_000_000,
    "start_limit_per_client": 1_000_000,
    "failed_attempts_per_hour": 1_000_000,
    "login_rate_per_minute": 6_000_000,
    "login_burst": 1_000_000,
}
"""Stack settings for a scenario that makes hundreds of calls from one
client, many for one email (generated inputs, the model, recovery polling):
the cooldown and the abuse limits, which ``test_limits.py`` checks, are set
where no such run reaches them. ``@pytest.mark.stack(**LIMITS_OUT_OF_THE_WAY)``."""


def mailed_code(stack: Stack, challenge_id: object) -> str | None:
    """The code mailed for ``challenge_id`` (the mail message's Idempotency-Key), if one was."""
    for message in stack.mail.messages:
        if message.idempotency_key == challenge_id and isinstance(code := message.data.get("code"), str):
            return code
    return None


def code_for(stack: Stack, challenge: LoginChallenge) -> str:
    """The code mailed for ``challenge`` (its Idempotency-Key is the challenge id)."""
    code = mailed_code(stack, challenge.challenge_id)
    if code is None:
        mailed = stack.mail.messages
        raise AssertionError(f"no code was mailed for challenge {challenge.challenge_id}; mailed: {mailed}")
    return code


def wrong_code(code: str, n: int = 0) -> str:
    """A well-formed code that is not ``code``; ``n`` = 0, 1, ... gives as many different ones."""
    return f"{(int(code) + 1 + n) % 1_000_000:06d}"


def log_in(stack: Stack, api: GatewayApi, email: str) -> Login:
    """Start a login, read its code from the mail stub, confirm it."""
    challenge = api.start_email_login(email)
    return api.confirm_email_login(challenge.challenge_id, code_for(stack, challenge))


def served(call: Callable[..., T], *args: object, within: float = 10.0) -> T:
    """``call(*args)``, retried while it answers DEPENDENCY_UNAVAILABLE, as a
    client retries a 503 with the same inputs (errors.md: a confirm or a
    refresh so retried answers the same session), for up to ``within``
    seconds: for a call made while a dependency comes back (a fault lifted,
    a service restarted), whose first attempts may find it still away."""
    deadline = time.monotonic() + within
    while True:
        try:
            return call(*args)
        except ApiError as err:
            if err.code != "DEPENDENCY_UNAVAILABLE" or time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def sleep_past(moment: datetime, by: float = 0.3) -> None:
    """Wait until ``by`` seconds after ``moment`` (a time a service gave, such as a
    session's end, whole seconds as the contracts keep them)."""
    time.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds() + by))


def expect_error(code: str, fn: Callable[..., Any], *args: Any, **meta: str) -> ApiError:
    """Call ``fn`` and assert it fails with the stable ``code`` (and metadata),
    over a status that agrees with the error table."""
    with pytest.raises(ApiError) as info:
        fn(*args)
    err = info.value
    assert err.code == code, f"expected {code}, got {err}"
    err.check_against_table()
    for key, value in meta.items():
        assert err.metadata.get(key) == value, f"expected metadata {key}={value!r}, got {err.metadata}"
    return err


def raw_http(stack: Stack, request: bytes, *, timeout: float = 5.0) -> tuple[http.client.HTTPResponse, bytes, bytes]:
    """Send ``request`` as written to the gateway's HTTP address; return the
    answer, its body and what the connection held after it (``b""``: closed,
    also by a reset; ``b"<still open>"`` after ``timeout`` seconds). A
    connection closed without an answer raises ``http.client.RemoteDisconnected``."""
    address = urlsplit(stack.http.base_url)
    with socket.create_connection((address.hostname, address.port), timeout=timeout) as sock:
        sock.sendall(request)
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        body = resp.read()
        try:
            after = sock.recv(1)
        except TimeoutError:
            after = b"<still open>"
        except ConnectionResetError:
            after = b""
    return resp, body, after


def start_with(
    stack: Stack,
    transport: Transport,
    email: str,
    headers: tuple[tuple[str, str], ...] = (),
    *,
    source: str | None = None,
) -> str:
    """A login start carrying exactly ``headers`` (HTTP header fields or gRPC metadata,
    a name repeated as given) and nothing else of the client's own, over HTTP from the
    loopback address ``source`` when one is given: ``"OK"``, or the error's code.

    Over gRPC it is the pinned grpcurl's call (grpc-go): the Python client's gRPC core
    sends a ``traceparent`` at most once, whatever metadata it is given."""
    if transport == "grpc":
        assert source is None, "grpcurl picks its own address"
        return _grpcurl_start(stack, email, headers)
    address = urlsplit(stack.http.base_url)
    conn = http.client.HTTPConnection(
        address.hostname or "", address.port, timeout=10, source_address=(source, 0) if source else None
    )
    try:
        body = json.dumps({"email": email}).encode()
        conn.putrequest("POST", "/v1/auth/email/start")
        for name, value in (("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers):
            conn.putheader(name, value)
        conn.endheaders(body)
        resp = conn.getresponse()
        if resp.status < 400:
            return "OK"
        answer = requests.Response()
        answer.status_code, answer._content = resp.status, resp.read()
        answer.headers.update(resp.getheaders())
        return problem_error(answer).code
    finally:
        conn.close()


def _grpcurl_start(stack: Stack, email: str, headers: tuple[tuple[str, str], ...]) -> str:
    protoset = write_protoset(stack.workdir / "gateway.protoset", gateway_pb2.DESCRIPTOR)
    argv = [str(go_tool("grpcurl")), "-plaintext", "-protoset", str(protoset), "-format-error"]
    argv += [arg for name, value in headers for arg in ("-H", f"{name}: {value}")]
    argv += ["-d", json.dumps({"email": email}), stack.address("gateway", "grpc")]
    proc = subprocess.run(
        [*argv, "galaxy.gateway.v1.GatewayService/StartEmailLogin"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if proc.returncode == 0:
        return "OK"
    reason = re.search(r'"reason":\s*"([A-Z_]+)"', proc.stdout + proc.stderr)
    return reason[1] if reason else f"<grpcurl failed: {proc.stdout}{proc.stderr}>"


def session_ids(stack: Stack) -> list[str]:
    """Ids of every session in Redis, read through the public key schema."""
    client = stack.redis.client()
    try:
        pattern = session_key(stack.redis.key_prefix, "*")
        prefix_len = len(session_key(stack.redis.key_prefix, ""))
        return sorted(key[prefix_len:] for key in client.scan_iter(match=pattern))
    finally:
        client.close()


@contextlib.contextmanager
def session_events(stack: Stack) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Listen to the revocation signal (``{p}session-events``, contracts/redis.md)
    for the block: the callable it gives answers every message published since the
    block began, oldest first, each decoded (a PING answered after every earlier
    message marks where the messages published so far end)."""
    client = stack.redis.client()
    pubsub = client.pubsub()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
    received: list[dict[str, Any]] = []

    def published() -> list[dict[str, Any]]:
        if pubsub.connection is None:
            raise RuntimeError("the signal is read inside the session_events block, while it listens")
        pubsub.ping("barrier")
        while (message := pubsub.get_message(timeout=5.0)) is not None and message["type"] != "pong":
            received.append(json.loads(message["data"]))
        return list(received)

    try:
        pubsub.subscribe(events_channel(stack.redis.key_prefix))
        assert pubsub.get_message(timeout=5.0)["type"] == "subscribe"
        yield published
    finally:
        pubsub.close()
        client.close()


def session_record(stack: Stack, session_id: str) -> SessionRecord | None:
    client = stack.redis.client()
    try:
        return read_session(client, stack.redis.key_prefix, session_id)
    finally:
        client.close()


# The routes of the gateway's HTTP API by the gRPC method they mirror.
_HTTP_ROUTES = {
    "StartEmailLogin": ("POST", "/v1/auth/email/start"),
    "ConfirmEmailLogin": ("POST", "/v1/auth/email/confirm"),
    "RefreshSession": ("POST", "/v1/auth/refresh"),
    "Logout": ("POST", "/v1/auth/logout"),
    "GetMe": ("GET", "/v1/me"),
    "ListSessions": ("GET", "/v1/sessions"),
}
_GRPC_SERVICES = {
    "gateway": "galaxy.gateway.v1.GatewayService",
    "authsession": "galaxy.authsession.v1.AuthSessionService",
}


def log_lines(stack: Stack, service: str) -> list[dict[str, Any]]:
    """Every JSON line ``service`` logged, in every incarnation, oldest first
    (an incarnation's header and a goroutine dump are no JSON lines)."""
    return list(json_lines(stack.process(service).all_logs_text()))


def call_lines(stack: Stack, service: str, method: str, transport: str = "grpc") -> list[dict[str, Any]]:
    """The per-call summary lines ``service`` logged for ``method`` (a gRPC
    method name such as ``StartEmailLogin``), oldest first: the ``grpc call``
    lines, or for the gateway over HTTP the ``http request`` lines of the
    route that mirrors it."""
    if service == "gateway" and transport == "http":
        verb, path = _HTTP_ROUTES[method]
        return [
            r
            for r in log_lines(stack, service)
            if r.get("msg") == "http request" and r.get("method") == verb and r.get("path") == path
        ]
    full = f"/{_GRPC_SERVICES[service]}/{method}"
    return [r for r in log_lines(stack, service) if r.get("msg") == "grpc call" and r.get("method") == full]
