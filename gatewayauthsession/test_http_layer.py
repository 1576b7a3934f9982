"""The answers of the gateway's HTTP layer (``contracts/errors.md``, "Answers
from the HTTP layer"), requests written byte by byte to a real stack.

Each scenario spoils a logout of a logged-in session, and a login start,
in one way of a class, and checks the documented answer: the HTTP server's
plain text for a request it cannot read, a problem document for a path not
spelled as a route's, never a redirect. Neither request revokes or mails
anything; ``test_the_requests_spoiled_here_are_served_as_they_are`` shows
that, unspoiled, they would."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from contracts.errors import ApiError
from contracts.gatewayv1 import Login
from gatewayauthsession.scenario import call_lines, log_in, raw_http, session_ids
from gatewayauthsession.stack import Stack

Spoil = Callable[[bytes], bytes]
Answer = tuple[http.client.HTTPResponse, bytes, bytes]

EMAIL = "http-layer@example.com"
OTHER_EMAIL = "http-layer-start@example.com"
BAD = b"400 Bad Request"
HEADER_LIMIT = 20 << 10  # MaxHeaderBytes (16 KiB) and the 4 KiB net/http reads ahead


def plain_answer(*rules: str) -> pytest.MarkDecorator:
    """The rules a scenario of a plain answer verifies: its own row of the table, and what every plain answer
    is (plain text, the connection closed, nothing behind the gateway reached)."""
    return pytest.mark.rule(*rules, "errors.plain.shape", "errors.plain.reaches-nothing", transport="http")


@pytest.fixture
def login(stack: Stack) -> Login:
    return log_in(stack, stack.http, EMAIL)


def _logout(login: Login) -> bytes:
    return (
        b"POST /v1/auth/logout HTTP/1.1\r\nHost: gateway\r\n"
        + f"Authorization: Bearer {login.access_token}\r\n".encode()
        + b"Connection: close\r\n\r\n"
    )


def _start() -> bytes:
    body = json.dumps({"email": OTHER_EMAIL}).encode()
    return (
        b"POST /v1/auth/email/start HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )


def _nothing_revoked_or_mailed(stack: Stack, login: Login) -> None:
    assert session_ids(stack) == [login.session_id], "a session was revoked"
    assert stack.http.me(login.access_token).session_id == login.session_id
    assert [m.to for m in stack.mail.messages] == [EMAIL], "something was mailed besides the login's code"


def _both_spoiled(stack: Stack, login: Login, spoil: Spoil) -> list[Answer]:
    """The answers to the spoiled logout and the spoiled login start, after
    which nothing was revoked or mailed, and neither request was logged: the
    gateway's code never saw them."""
    answers = [raw_http(stack, spoil(request)) for request in (_logout(login), _start())]
    _nothing_revoked_or_mailed(stack, login)
    assert call_lines(stack, "gateway", "Logout", "http") == [], "the spoiled logout was logged"
    assert len(call_lines(stack, "gateway", "StartEmailLogin", "http")) <= 1, "the spoiled start was logged"
    return answers


def _expect_plain(answer: Answer, status: int, body: bytes) -> None:
    """``answer`` is the HTTP server's own: plain text (none for an empty
    body), Connection: close, none of the gateway's headers, the connection
    closed after it."""
    resp, text, after = answer
    assert (resp.status, text) == (status, body), f"{resp.status} {resp.reason!r}: {text[:200]!r}"
    assert resp.getheader("Content-Type") == ("text/plain; charset=utf-8" if body else None)
    assert resp.getheader("Connection", "").lower() == "close"
    assert resp.getheader("Cache-Control") is None
    assert after == b"", f"the connection was kept open after the answer (then read {after!r})"


def _expect_problem(answer: Answer, code: str) -> None:
    """``answer`` is the API's problem document with ``code``, with the
    headers every answer of the API carries and no redirect."""
    resp, text, _ = answer
    assert resp.getheader("Content-Type", "").startswith("application/problem+json"), (resp.status, text[:200])
    problem = json.loads(text)
    ApiError(str(problem["code"]), "http", resp.status, str(problem.get("detail", ""))).check_against_table()
    assert problem["code"] == code, problem
    assert resp.getheader("Cache-Control") == "no-store"
    assert resp.getheader("X-Content-Type-Options") == "nosniff"
    assert resp.getheader("Location") is None


def _add(line: bytes) -> Spoil:
    """A header line added before the end of the header block."""
    return lambda request: request.replace(b"\r\n\r\n", b"\r\n" + line + b"\r\n\r\n", 1)


def _replace(old: bytes, new: bytes) -> Spoil:
    return lambda request: request.replace(old, new, 1)


def _in_value(name: bytes, byte: int) -> Spoil:
    """``byte`` inside the value of header ``name``: the request's own field
    when it has one, else one added."""

    def spoil(request: bytes) -> bytes:
        field = b"\r\n" + name + b": "
        if field in request:
            return request.replace(field, field + b"a" + bytes([byte]) + b"b", 1)
        return _add(name + b": a" + bytes([byte]) + b"b")(request)

    return spoil


def test_the_requests_spoiled_here_are_served_as_they_are(stack: Stack, login: Login) -> None:
    logout, _, _ = raw_http(stack, _logout(login))
    start, _, _ = raw_http(stack, _start())

    assert (logout.status, start.status) == (204, 200)
    assert session_ids(stack) == []
    assert len(stack.mail.messages_to(OTHER_EMAIL)) == 1


CONTROL_BYTES = [
    (0x00, b"Authorization"),
    (0x01, b"Host"),
    (0x08, b"User-Agent"),
    (0x0B, b"Content-Type"),
    (0x0D, b"Traceparent"),
    (0x1B, b"X-Anything"),
    (0x1F, b"Accept"),
    (0x7F, b"Authorization"),
]


@pytest.mark.parametrize(
    ("byte", "name"), CONTROL_BYTES, ids=[f"{byte:#04x}-in-{name.decode().lower()}" for byte, name in CONTROL_BYTES]
)
@plain_answer("errors.plain.header-value", "errors.plain.body")
def test_a_control_byte_in_any_header_value_gets_the_plain_400(
    stack: Stack, login: Login, byte: int, name: bytes
) -> None:
    for answer in _both_spoiled(stack, login, _in_value(name, byte)):
        _expect_plain(answer, 400, BAD)


@pytest.mark.parametrize(
    ("spoil", "body"),
    [
        (_add(b"X-Anything"), BAD),
        (_add(b"X-Anything : a"), b"400 Bad Request: invalid header name"),
        (_add(b"X Anything: a"), b"400 Bad Request: invalid header name"),
        (_add(b"X-\x01Anything: a"), BAD),
        (_add(b"X-\xffAnything: a"), BAD),
        (_replace(b"HTTP/1.1\r\nHost", b"HTTP/1.1\r\n Host"), BAD),
    ],
    ids=["no-colon", "space-before-colon", "space-in-name", "control-byte-in-name", "non-ascii-name", "leading-space"],
)
@plain_answer("errors.plain.header-line", "errors.plain.header-name-space", "errors.plain.body")
def test_a_malformed_header_line_gets_the_plain_400(stack: Stack, login: Login, spoil: Spoil, body: bytes) -> None:
    for answer in _both_spoiled(stack, login, spoil):
        _expect_plain(answer, 400, body)


def _padded_to(total: int) -> Spoil:
    """A header line that makes the request line and header block ``total`` bytes."""

    def spoil(request: bytes) -> bytes:
        head, sep, _ = request.partition(b"\r\n\r\n")
        padding = total - len(head + sep) - len(b"X-Padding: \r\n")
        return _add(b"X-Padding: " + b"a" * padding)(request)

    return spoil


@pytest.mark.parametrize(
    "spoil",
    [_padded_to(HEADER_LIMIT + 1), _padded_to(64 << 10), _add(b"X-Anything: a\r\n" * 1500 + b"X-Last: a")],
    ids=["20-kib-and-a-byte", "64-kib", "many-short-lines"],
)
@plain_answer("errors.plain.header-block-size", "errors.plain.body")
def test_a_header_block_over_20_kib_gets_the_plain_431(stack: Stack, login: Login, spoil: Spoil) -> None:
    for answer in _both_spoiled(stack, login, spoil):
        _expect_plain(answer, 431, b"431 Request Header Fields Too Large")


@pytest.mark.rule("errors.plain.header-block-size", transport="http")
def test_a_header_block_of_20_kib_is_served(stack: Stack, login: Login) -> None:
    request = _padded_to(HEADER_LIMIT)(_logout(login))
    assert len(request) == HEADER_LIMIT

    resp, body, _ = raw_http(stack, request)

    assert resp.status == 204, body
    assert session_ids(stack) == []


@pytest.mark.parametrize(
    "spoil",
    [
        _replace(b" HTTP/1.1\r\n", b"\r\n"),
        _replace(b" HTTP/1.1\r\n", b" http/1.1\r\n"),
        _replace(b" HTTP/1.1\r\n", b" HTTP/1\r\n"),
        _replace(b" HTTP/1.1\r\n", b" HTTP/1.10\r\n"),
        _replace(b"POST ", b"P(ST "),
        _replace(b"POST /v1/auth/", b"POST /v1/auth/ "),
        _replace(b"POST /v1/", b"POST v1/"),
        _replace(b" HTTP/1.1\r\n", b"%zz HTTP/1.1\r\n"),
        _replace(b" HTTP/1.1\r\n", b"\x7f HTTP/1.1\r\n"),
    ],
    ids=[
        "no-version-http-0.9",
        "version-in-lower-case",
        "version-without-minor",
        "two-digit-minor",
        "method-not-a-token",
        "space-in-target",
        "target-without-slash",
        "bad-percent-escape",
        "control-byte-in-target",
    ],
)
@plain_answer("errors.plain.request-line", "errors.plain.request-target", "errors.plain.body")
def test_a_malformed_request_line_gets_the_plain_400(stack: Stack, login: Login, spoil: Spoil) -> None:
    for answer in _both_spoiled(stack, login, spoil):
        _expect_plain(answer, 400, BAD)


@pytest.mark.parametrize("version", [b"HTTP/0.9", b"HTTP/2.0", b"HTTP/3.0"])
@plain_answer("errors.plain.version", "errors.plain.body")
def test_an_http_version_other_than_1_x_gets_the_plain_505(stack: Stack, login: Login, version: bytes) -> None:
    for answer in _both_spoiled(stack, login, _replace(b"HTTP/1.1\r\n", version + b"\r\n")):
        _expect_plain(answer, 505, b"505 HTTP Version Not Supported: unsupported protocol version")


@pytest.mark.parametrize(
    ("spoil", "body"),
    [
        (_replace(b"Host: gateway\r\n", b""), b"400 Bad Request: missing required Host header"),
        (_replace(b"Host: gateway\r\n", b"Host: gate/way\r\n"), b"400 Bad Request: malformed Host header"),
        (_add(b"Host: elsewhere"), BAD),
    ],
    ids=["missing", "malformed", "twice"],
)
@plain_answer(
    "errors.plain.host-missing", "errors.plain.host-malformed", "errors.plain.host-twice", "errors.plain.body"
)
def test_a_bad_host_gets_the_plain_400(stack: Stack, login: Login, spoil: Spoil, body: bytes) -> None:
    for answer in _both_spoiled(stack, login, spoil):
        _expect_plain(answer, 400, body)


@pytest.mark.parametrize(
    "spoil",
    [_add(b"Content-Length: two"), _add(b"Content-Length: -1"), _add(b"Content-Length: 1\r\nContent-Length: 2")],
    ids=["not-a-number", "negative", "two-that-differ"],
)
@plain_answer("errors.plain.content-length", "errors.plain.body")
def test_a_bad_content_length_gets_the_plain_400(stack: Stack, login: Login, spoil: Spoil) -> None:
    # The start carries its own Content-Length: one added beside it differs.
    for answer in _both_spoiled(stack, login, spoil):
        _expect_plain(answer, 400, BAD)


@pytest.mark.parametrize(
    "coding",
    [b"gzip", b"identity", b"gzip, chunked", b"chunked\r\nTransfer-Encoding: chunked"],
    ids=["gzip", "identity", "two-codings", "the-field-twice"],
)
@plain_answer("errors.plain.transfer-encoding", "galaxy.gateway.http-framing", "openapi.body.framing")
def test_a_transfer_encoding_other_than_chunked_gets_the_plain_501(stack: Stack, login: Login, coding: bytes) -> None:
    for answer in _both_spoiled(stack, login, _add(b"Transfer-Encoding: " + coding)):
        _expect_plain(answer, 501, b"Unsupported transfer encoding")


@pytest.mark.parametrize("expectation", [b"200-ok", b"100-continue-later"])
@plain_answer("errors.plain.expect")
def test_an_expectation_other_than_100_continue_gets_the_plain_417(
    stack: Stack, login: Login, expectation: bytes
) -> None:
    for answer in _both_spoiled(stack, login, _add(b"Expect: " + expectation)):
        _expect_plain(answer, 417, b"")


def _client_hello() -> bytes:
    """The ClientHello Python's TLS client sends to open a connection."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="gateway")
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


@plain_answer("errors.plain.not-http", "errors.plain.body")
def test_tls_on_the_plain_port_gets_the_plain_400(stack: Stack, login: Login) -> None:
    hello = _client_hello()
    assert b"\n" in hello, "the ClientHello holds no line feed (its supported_groups extension, 0x000a, would)"

    _expect_plain(raw_http(stack, hello), 400, BAD)

    address = urlsplit(stack.http.base_url)
    started = time.monotonic()
    with (
        socket.create_connection((address.hostname, address.port), timeout=5) as sock,
        pytest.raises(ssl.SSLError),
    ):
        ssl.create_default_context().wrap_socket(sock, server_hostname="gateway")
    assert time.monotonic() - started < 2, "the TLS client was kept waiting"
    _nothing_revoked_or_mailed(stack, login)


NOT_A_ROUTE = [
    ("GET", "//v1/me"),
    ("POST", "/v1/auth//logout"),
    ("POST", "/v1/auth/logout/"),
    ("DELETE", "/v1/sessions/{sid}/"),
    ("POST", "/v1/auth/./logout"),
    ("GET", "/v1/auth/../me"),
    ("DELETE", "/v1/sessions/../sessions/{sid}"),
    ("DELETE", "/v1/sessions/{sid}/.."),
    ("DELETE", "/v1/sessions/%2e%2e/sessions/{sid}"),
    ("DELETE", "/v1/sessions/%2E"),
    ("POST", "/v1/auth/.%2E/auth/logout"),
    ("POST", "/v1/auth%2Flogout"),
    ("DELETE", "/v1/sessions/{sid}%2f"),
    ("DELETE", "/v1/sessions/{sid}%2Fx"),
    ("DELETE", "/v1/sessions/x%5C{sid}"),
    ("DELETE", "/v1/sessions/{sid}\\"),
    ("POST", "/v1/auth%5Clogout"),
    ("GET", "http://gateway//v1/me"),
    ("POST", "http://gateway/v1/x/../auth/logout"),
    ("OPTIONS", "*"),
    ("CONNECT", "gateway:443"),
]


@pytest.mark.parametrize(("method", "target"), NOT_A_ROUTE, ids=[f"{m}-{t}" for m, t in NOT_A_ROUTE])
@pytest.mark.rule(
    "errors.paths.as-sent",
    "errors.paths.empty-segment",
    "errors.paths.dot-segment",
    "errors.paths.slash-segment",
    "errors.paths.asterisk-form",
    "errors.paths.authority-form",
    "errors.paths.session-id",
    "errors.http-layer.answers",
    "errors.http.only-problems",
    "errors.code.not-found",
    "openapi.route.unknown-path",
    "openapi.sessions.session-id-param",
    "openapi.headers.every-response",
    transport="http",
)
def test_a_path_not_spelled_as_a_route_is_not_found_never_redirected(
    stack: Stack, login: Login, method: str, target: str
) -> None:
    request = (
        f"{method} {target.format(sid=login.session_id)} HTTP/1.1\r\nHost: gateway\r\n"
        f"Authorization: Bearer {login.access_token}\r\nConnection: close\r\n\r\n"
    ).encode()

    _expect_problem(raw_http(stack, request), "NOT_FOUND")
    _nothing_revoked_or_mailed(stack, login)


@pytest.mark.rule("errors.paths.asterisk-form", "errors.http-layer.answers", "errors.code.not-found", transport="http")
def test_the_http2_preface_is_not_found_and_the_connection_closed(stack: Stack) -> None:
    answer = raw_http(stack, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

    _expect_problem(answer, "NOT_FOUND")
    resp, _, after = answer
    assert resp.getheader("Connection", "").lower() == "close"
    assert after == b"", f"the connection was kept open after the answer (then read {after!r})"


@pytest.mark.rule(
    "errors.paths.methods",
    "errors.paths.method-not-allowed",
    "errors.code.method-not-allowed",
    "openapi.route.method-not-allowed",
    "errors.http-layer.answers",
    transport="http",
)
def test_a_method_is_compared_as_spelled(stack: Stack, login: Login) -> None:
    request = (
        f"delete /v1/sessions/{login.session_id} HTTP/1.1\r\nHost: gateway\r\n"
        f"Authorization: Bearer {login.access_token}\r\nConnection: close\r\n\r\n"
    ).encode()

    answer = raw_http(stack, request)

    _expect_problem(answer, "METHOD_NOT_ALLOWED")
    assert answer[0].getheader("Allow") == "DELETE"
    _nothing_revoked_or_mailed(stack, login)


@pytest.mark.rule("errors.paths.as-sent", transport="http")
def test_the_absolute_form_is_served_whatever_its_host(stack: Stack, login: Login) -> None:
    request = (
        f"GET http://elsewhere.example:8443/v1/me HTTP/1.1\r\nHost: gateway\r\n"
        f"Authorization: Bearer {login.access_token}\r\nConnection: close\r\n\r\n"
    ).encode()

    resp, body, _ = raw_http(stack, request)

    assert resp.status == 200, body
    assert json.loads(body)["session_id"] == login.session_id


@pytest.mark.waits
@pytest.mark.rule("errors.timeouts.header", transport="http")
def test_a_header_block_still_incomplete_after_5_s_is_closed_without_an_answer(stack: Stack, login: Login) -> None:
    unfinished = _logout(login).removesuffix(b"\r\n")
    started = time.monotonic()

    with pytest.raises(http.client.RemoteDisconnected):
        raw_http(stack, unfinished, timeout=15)  # longer than the 10 s read timeout, which must not be the one

    closed_after = time.monotonic() - started
    assert closed_after >= 4.5, f"closed after {closed_after:.1f}s, before the header timeout of 5 s"
    assert closed_after < 8, f"closed after {closed_after:.1f}s, not at the header timeout of 5 s"
    _nothing_revoked_or_mailed(stack, login)


def _connect(stack: Stack) -> socket.socket:
    address = urlsplit(stack.http.base_url)
    return socket.create_connection((address.hostname, address.port), timeout=20)


def _head(sock: socket.socket) -> bytes:
    """What the connection holds up to the end of an answer's header block."""
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            break
        head += chunk
    return head


@pytest.mark.rule("errors.http-layer.expect-continue", transport="http")
def test_expect_100_continue_gets_the_interim_answer_before_the_body_is_sent(stack: Stack, login: Login) -> None:
    start = _start()
    headers, body = start.split(b"\r\n\r\n", 1)
    with _connect(stack) as sock:
        sock.sendall(headers + b"\r\nExpect: 100-continue\r\n\r\n")
        interim = _head(sock)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim
        sock.sendall(body)
        final = http.client.HTTPResponse(sock)
        final.begin()
        answer = final.read()
    assert final.status == 200, answer
    assert json.loads(answer)["challenge_id"]
    assert len(stack.mail.messages_to(OTHER_EMAIL)) == 1


@pytest.mark.waits
@pytest.mark.rule("errors.timeouts.body", "errors.code.invalid-argument", transport="http")
def test_a_body_not_all_sent_10_s_after_the_request_began_is_refused_and_the_connection_closed(
    stack: Stack, login: Login
) -> None:
    start = _start()
    with _connect(stack) as sock:
        started = time.monotonic()
        sock.sendall(start[: len(start) - 5])  # all but the body's last five bytes
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        answered_after = time.monotonic() - started
        body = resp.read()
        after = sock.recv(1)
    problem = json.loads(body)
    assert (resp.status, problem["code"]) == (400, "INVALID_ARGUMENT"), body
    assert "could not be read" in problem["detail"], problem
    assert resp.getheader("Connection", "").lower() == "close"
    assert after == b"", "the connection stayed open"
    assert 9.5 <= answered_after <= 10.0 + 3.0, f"answered after {answered_after:.1f}s"
    _nothing_revoked_or_mailed(stack, login)


@pytest.mark.waits
@pytest.mark.rule("errors.timeouts.idle", transport="http")
def test_a_kept_alive_connection_idle_for_60_s_is_closed(stack: Stack, login: Login) -> None:
    with _connect(stack) as sock:
        sock.sendall(
            f"GET /v1/me HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {login.access_token}\r\n\r\n".encode()
        )
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        body = resp.read()
        idle_since = time.monotonic()
        assert resp.status == 200, body
        assert resp.getheader("Connection", "").lower() != "close", resp.getheaders()
        sock.settimeout(75)
        after = sock.recv(1)  # nothing comes but the close
        closed_after = time.monotonic() - idle_since
    assert after == b"", f"the idle connection was sent {after!r}"
    assert 59.5 <= closed_after <= 60.0 + 5.0, f"closed after {closed_after:.1f}s idle"
