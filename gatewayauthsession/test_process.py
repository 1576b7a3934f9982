"""The process conventions of both binaries (``galaxy/README.md``, "Process
conventions"): configuration errors, listeners opened first or inherited,
the ready file, signals and the shutdown bound, the log lines.

Each scenario starts the stack's own builds by hand, beside its stack, with
the stack's environment changed as the scenario says: still black-box, only
the binary, its environment and what it writes."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import grpc
import psutil
import pytest

from contracts.authsessionv1.client import AuthSessionGrpcClient
from contracts.errors import ApiError
from contracts.gatewayv1.grpc_client import GatewayGrpcClient
from contracts.health import grpc_health
from contracts.tracing import SPAN_ID_KEY, TRACE_ID_KEY
from gatewayauthsession.by_hand import by_hand, run_to_exit
from gatewayauthsession.scenario import call_lines, expect_error, log_in, log_lines
from gatewayauthsession.stack import Stack
from harness.processes.drain import Drain
from harness.processes.service import ServiceProcess

SERVICES = ("gateway", "authsession")
CONFIGURATION = ": configuration: "


def _json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text``, each read as one JSON object (a line that is not fails)."""
    lines = []
    for line in text.splitlines():
        value = json.loads(line)
        assert isinstance(value, dict), line
        lines.append(value)
    return lines


def _stopped(stderr: str) -> dict[str, Any]:
    """The last line of ``stderr``, which must be the JSON ``stopped`` line."""
    last = _json_lines(stderr)[-1]
    assert last.get("msg") == "stopped", f"the last line is not 'stopped': {last}"
    return last


# ------------------------------------------------------------------ configuration


CONFIG_PROBLEMS: dict[str, dict[str, str | None]] = {
    "gateway": {
        "GATEWAY_AUTHSESSION_ADDR": None,
        "GATEWAY_REDIS_URL": "http://not-redis",
        "GATEWAY_JWKS_FILE": None,
        "GATEWAY_READY_TIMEOUT": "soon",
        "GATEWAY_LOGIN_BURST": "0",
        "GATEWAY_LOG_LEVEL": "loud",
        "GATEWAY_GRPC_ADDR": "fd://2",
    },
    "authsession": {
        "AUTHSESSION_REDIS_URL": None,
        "AUTHSESSION_MAIL_URL": None,
        "AUTHSESSION_USER_URL": "ftp://users.example",
        "AUTHSESSION_SIGNING_KEY_FILE": None,
        "AUTHSESSION_SIGNING_KEY_ID": None,
        "AUTHSESSION_CODE_TTL": "ten minutes",
        "AUTHSESSION_RETRY_GRACE": "5m1s",  # past its bound, 5m
        "AUTHSESSION_LOG_LEVEL": "loud",
        "AUTHSESSION_GRPC_ADDR": "fd://0",
    },
}


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.rule(
    "galaxy.process.configuration",
    "galaxy.env.gateway-authsession-addr",
    "galaxy.env.gateway-redis-url",
    "galaxy.env.gateway-jwks-file",
    "galaxy.env.gateway-log-level",
    "galaxy.env.gateway-grpc-addr",
    "galaxy.env.authsession-redis-url",
    "galaxy.env.authsession-mail-url",
    "galaxy.env.authsession-user-url",
    "galaxy.env.authsession-signing-key-file",
    "galaxy.env.authsession-signing-key-id",
    "galaxy.env.authsession-log-level",
    "galaxy.env.authsession-grpc-addr",
    "galaxy.env.authsession-retry-grace",
    "galaxy.process.inherited-listeners",
)
def test_every_bad_or_missing_setting_is_one_line_and_exit_code_2(stack: Stack, service: str) -> None:
    """Required settings left out and bad ones given (a duration that is none, a value
    out of range, a Redis URL that is not one, a listener on a standard stream): the
    binary stops at once with exit code 2 and one line per problem, naming each."""
    problems = CONFIG_PROBLEMS[service]
    proc, seconds = run_to_exit(stack, service, problems)

    assert proc.returncode == 2, proc
    assert seconds < 5
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert all(line.startswith(f"{service}{CONFIGURATION}") for line in lines), lines
    named = {var for var in problems for line in lines if var in line}
    assert named == set(problems), f"problems not named: {set(problems) - named}; lines: {lines}"
    assert len(lines) == len(problems), lines


MISSING_FILES = {
    "gateway": "GATEWAY_JWKS_FILE",
    "authsession": "AUTHSESSION_SIGNING_KEY_FILE",
}


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.rule(
    "galaxy.process.configuration", "galaxy.env.gateway-jwks-file", "galaxy.env.authsession-signing-key-file"
)
def test_a_key_file_that_cannot_be_read_is_a_configuration_problem(stack: Stack, service: str) -> None:
    variable = MISSING_FILES[service]
    proc, _ = run_to_exit(stack, service, {variable: str(stack.workdir / "no-such-file.pem")})

    assert proc.returncode == 2, proc
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"{service}{CONFIGURATION}"), line
    assert variable in line, line


NOT_A_SIGNING_KEY = {  # each breaks one demand of tokens.md's key set on a key that is otherwise the stack's own
    "another-curve": {"crv": "X25519"},
    "another-key-type": {"kty": "EC"},
    "a-private-key": {"d": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
    "another-algorithm": {"alg": "ES256"},
    "not-for-signatures": {"use": "enc"},
    "no-kid": {"kid": None},
}


@pytest.mark.parametrize("change", NOT_A_SIGNING_KEY.values(), ids=NOT_A_SIGNING_KEY.keys())
@pytest.mark.rule("tokens.keys.jwks", "galaxy.env.gateway-jwks-file", "galaxy.process.configuration")
def test_a_key_set_holding_a_key_that_is_no_ed25519_signature_key_is_a_configuration_problem(
    stack: Stack, change: dict[str, str | None]
) -> None:
    """The gateway trusts only Ed25519 public keys for signatures ({"kty": "OKP", "crv": "Ed25519", a kid,
    alg EdDSA and use sig when given}): a key set holding another stops it at once, as a bad setting."""
    [key] = stack.keys.jwks()["keys"]
    changed = {k: v for k, v in (key | change).items() if v is not None}
    jwks = stack.workdir / "changed-jwks.json"
    jwks.write_text(json.dumps({"keys": [changed]}))

    proc, _ = run_to_exit(stack, "gateway", {"GATEWAY_JWKS_FILE": str(jwks)})

    assert proc.returncode == 2, f"a key set holding {changed}: {proc}"
    [line] = proc.stderr.splitlines()
    assert line.startswith(f"gateway{CONFIGURATION}"), line
    assert "GATEWAY_JWKS_FILE" in line, line


# ------------------------------------------------------------------ listeners


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.rule(
    "galaxy.process.listen-first",
    "galaxy.logs.stopped-line",
    "galaxy.env.gateway-http-addr",
    "galaxy.env.gateway-grpc-addr",
    "galaxy.env.authsession-grpc-addr",
)
def test_an_address_in_use_stops_the_binary_at_once_before_it_serves(stack: Stack, service: str) -> None:
    """Every listener is opened before any serves: the last one's address in use stops
    the binary at once (exit code 1, the last line ``stopped`` with the error), and no
    ready file says it served."""
    listens = list(stack.topology.service(service).listens.values())
    with socket.create_server(("127.0.0.1", 0)) as taken:
        busy = "{}:{}".format(*taken.getsockname())
        proc, seconds = run_to_exit(stack, service, {listens[-1]: busy})

    assert proc.returncode == 1, proc
    assert seconds < 5
    assert "address already in use" in _stopped(proc.stderr).get("error", ""), proc.stderr


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.rule(
    "galaxy.process.listen-first",
    "galaxy.process.ready-file",
    "galaxy.env.gateway-http-addr",
    "galaxy.env.gateway-grpc-addr",
    "galaxy.env.authsession-grpc-addr",
    "galaxy.env.gateway-ready-file",
    "galaxy.env.authsession-ready-file",
)
def test_listen_addresses_take_port_0_and_a_given_port_and_the_ready_file_names_them(
    stack: Stack, service: str
) -> None:
    """The ready file, written atomically (a temporary file renamed over the path: a
    stale file of that name is replaced, not written into), names the service, its
    pid and every listener's real address, each serving once it is written."""
    declared = stack.topology.service(service)
    listeners = list(declared.listens)
    with socket.create_server(("127.0.0.1", 0)) as probe:
        free = f"127.0.0.1:{probe.getsockname()[1]}"
    ready_file = stack.workdir / f"{service}-ready.json"
    ready_file.write_text("stale")
    stale = ready_file.with_suffix(".stale")
    os.link(ready_file, stale)  # the stale file's inode, under a second name

    def written(proc: ServiceProcess) -> dict[str, str] | None:
        try:
            doc = json.loads(ready_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return dict(doc["addresses"]) if doc.get("pid") == proc.pid else None

    changes: dict[str, str | None] = {declared.listens[listeners[0]]: free, declared.ready_file: str(ready_file)}
    proc = by_hand(stack, service, changes, ready_env=None, ready_probe=written).start()

    doc = json.loads(ready_file.read_text())
    assert doc == {"service": service, "pid": proc.pid, "addresses": doc["addresses"]}, doc
    assert set(doc["addresses"]) == set(listeners)
    assert doc["addresses"][listeners[0]] == free
    for name, address in doc["addresses"].items():
        host, port = address.rsplit(":", 1)
        assert (host, int(port) > 0) == ("127.0.0.1", True), (name, address)
        socket.create_connection((host, int(port)), timeout=5).close()
    assert stale.read_text() == "stale", "the ready file was written in place, not renamed over the stale one"
    assert os.stat(stale).st_ino != os.stat(ready_file).st_ino
    proc.stop()


@pytest.mark.rule("galaxy.process.inherited-listeners", "galaxy.process.ready-file", "galaxy.env.gateway-http-addr")
def test_a_client_that_connects_to_an_inherited_listener_before_the_binary_serves_is_answered(stack: Stack) -> None:
    with socket.create_server(("127.0.0.1", 0)) as http, socket.create_server(("127.0.0.1", 0)) as grpc_listener:
        early = socket.create_connection(http.getsockname(), timeout=10)
        early.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
        changes: dict[str, str | None] = {
            "GATEWAY_HTTP_ADDR": f"fd://{http.fileno()}",
            "GATEWAY_GRPC_ADDR": f"fd://{grpc_listener.fileno()}",
        }
        proc = by_hand(stack, "gateway", changes).start(pass_fds=[http.fileno(), grpc_listener.fileno()])
        addresses = {"http": "{}:{}".format(*http.getsockname()), "grpc": "{}:{}".format(*grpc_listener.getsockname())}
    with early:
        answer = early.makefile("rb").read()
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert proc.addresses == addresses
    assert grpc_health(proc.address("grpc"), "") == "SERVING"
    proc.stop()


_AS_3_AND_UP = """
import fcntl, os, sys
count = int(sys.argv[1])
given = [int(fd) for fd in sys.argv[2 : 2 + count]]
moved = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in given]
for fd in given:
    os.close(fd)
for target, fd in enumerate(moved, 3):
    os.dup2(fd, target)
    os.close(fd)
os.execv(sys.argv[2 + count], sys.argv[2 + count :])
"""
"""Run a command with the descriptors named handed over as 3, 4, ... (as a systemd socket unit numbers them)."""


@pytest.mark.rule("galaxy.process.inherited-listeners")
def test_listeners_inherited_as_descriptors_3_and_4_as_a_socket_unit_hands_them_over_are_served(
    stack: Stack,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as http, socket.create_server(("127.0.0.1", 0)) as grpc_listener:
        fds = [http.fileno(), grpc_listener.fileno()]
        through = [sys.executable, "-c", _AS_3_AND_UP, str(len(fds)), *map(str, fds)]
        changes: dict[str, str | None] = {"GATEWAY_HTTP_ADDR": "fd://3", "GATEWAY_GRPC_ADDR": "fd://4"}
        proc = by_hand(stack, "gateway", changes, through=through).start(pass_fds=fds)
        http_address = http.getsockname()
        addresses = {"http": "{}:{}".format(*http_address), "grpc": "{}:{}".format(*grpc_listener.getsockname())}

    assert proc.addresses == addresses, f"the ready file names {proc.addresses}, the sockets handed over {addresses}"
    with socket.create_connection(http_address, timeout=5) as client:
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
        answer = client.makefile("rb").read()
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert grpc_health(proc.address("grpc"), "") == "SERVING"
    proc.stop()


@contextmanager
def _descriptor(kind: str) -> Iterator[int | None]:
    """An open descriptor of ``kind`` that is no listening TCP socket (None: one not open)."""
    if kind == "not-open":
        yield None
        return
    if kind == "not-a-socket":
        with open(os.devnull, "rb") as file:
            yield file.fileno()
        return
    family, sock_type = {
        "not-tcp": (socket.AF_UNIX, socket.SOCK_STREAM),
        "not-listening": (socket.AF_INET, socket.SOCK_STREAM),
        "udp": (socket.AF_INET, socket.SOCK_DGRAM),
    }[kind]
    with socket.socket(family, sock_type) as sock:
        if family == socket.AF_UNIX:
            sock.bind(f"\0galaxy-rulecover-{os.getpid()}-{time.monotonic_ns()}")  # an abstract name: no file
            sock.listen()
        else:
            sock.bind(("127.0.0.1", 0))
        yield sock.fileno()


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("kind", ["not-open", "not-a-socket", "not-tcp", "not-listening", "udp"])
@pytest.mark.rule("galaxy.process.inherited-listener-refused", "galaxy.logs.stopped-line")
def test_an_inherited_descriptor_that_is_no_listening_tcp_socket_stops_the_binary_at_once(
    stack: Stack, service: str, kind: str
) -> None:
    variable = list(stack.topology.service(service).listens.values())[-1]
    with _descriptor(kind) as fd:
        number = fd if fd is not None else 250
        proc, seconds = run_to_exit(stack, service, {variable: f"fd://{number}"}, pass_fds=(fd,) if fd else ())

    assert proc.returncode == 1, proc
    assert seconds < 5
    assert f"fd {number}" in _stopped(proc.stderr).get("error", ""), proc.stderr


# ------------------------------------------------------------------ signals and the shutdown bound


def _gone_within(proc: ServiceProcess, seconds: float) -> int:
    """Wait for ``proc`` to exit by itself; its exit code (AssertionError if it outlives ``seconds``)."""
    deadline = time.monotonic() + seconds
    while proc.is_running():
        assert time.monotonic() < deadline, f"{proc.name} still runs {seconds}s after the signal"
        time.sleep(0.01)
    code = proc.stop()
    assert code is not None
    return code


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.rule("galaxy.process.signals", "galaxy.logs.stopped-line", "galaxy.logs.json-lines")
def test_sigint_stops_the_binary_cleanly(stack: Stack, service: str) -> None:
    proc = by_hand(stack, service).start()
    os.kill(proc.pid, signal.SIGINT)

    assert _gone_within(proc, 5) == 0
    assert "error" not in _stopped(proc.log_text())


def _drained_with_a_call_in_flight(
    stack: Stack, service: str, seconds: float, timeout: float
) -> tuple[Future[Any], Drain]:
    """SIGTERM to ``service`` (``timeout`` seconds to exit) while a login start made
    of it directly, whose mail takes ``seconds``, is in flight: the call, over by
    the time this returns, and the drain."""
    slow = stack.mail.delay(seconds)
    if service == "gateway":
        client: Any = stack.client("grpc")
    else:
        client = stack.authsession_client()
    with ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(client.start_email_login, "slow@example.com")
        deadline = time.monotonic() + 5
        while slow.applied == 0:
            assert time.monotonic() < deadline, "the login never reached the mail service"
            time.sleep(0.005)
        drain = stack.process(service).terminate_and_drain(timeout=timeout)
    return in_flight, drain


@pytest.mark.stack(gateway_shutdown_timeout="300ms", authsession_shutdown_timeout="300ms")
@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.rule(
    "galaxy.process.signals",
    "galaxy.env.gateway-shutdown-timeout",
    "galaxy.env.authsession-shutdown-timeout",
    "galaxy.logs.stopped-line",
)
def test_the_drain_ends_at_the_shutdown_bound(stack: Stack, service: str) -> None:
    """A call that would take three seconds is in flight at SIGTERM: with a shutdown
    bound of 300 ms the binary does not wait for it, but ends the drain at the bound
    and stops by itself, saying why in its last line."""
    in_flight, drain = _drained_with_a_call_in_flight(stack, service, 3.0, timeout=5)
    with pytest.raises((ApiError, grpc.RpcError)):
        in_flight.result()

    assert drain.exited_after is not None, drain.describe()
    assert drain.exited_after < 0.3 + 2.0, drain.describe()  # far short of the call's three seconds
    assert "error" in _stopped(stack.process(service).log_text()), "a drain cut short is no clean stop"


# ------------------------------------------------------------------ logs


def _peer_of(pid: int, address: str) -> str:
    """``ip:port`` of process ``pid``'s connection to ``address`` (an IPv4-mapped IPv6
    socket's address as its IPv4 one, as a server sees it)."""
    host, port = address.rsplit(":", 1)
    connections = psutil.Process(pid).net_connections(kind="tcp")
    for conn in connections:
        if conn.raddr and (conn.raddr.ip.removeprefix("::ffff:"), conn.raddr.port) == (host, int(port)):
            return f"{conn.laddr.ip.removeprefix('::ffff:')}:{conn.laddr.port}"
    raise AssertionError(f"process {pid} has no connection to {address}: {connections}")


@pytest.mark.rule("galaxy.logs.http-request-line", "galaxy.logs.grpc-call-line", "galaxy.logs.json-lines")
def test_each_request_logs_its_line_with_the_peer_and_never_the_query(stack: Stack) -> None:
    address = stack.http.base_url.removeprefix("http://")
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        peer = "{}:{}".format(*sock.getsockname())
        sock.sendall(b"GET /v1/me?token=query-secret HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
        answer = sock.makefile("rb").read()
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 401 ")

    [line] = [r for r in log_lines(stack, "gateway") if r.get("msg") == "http request" and r.get("peer") == peer]
    assert (line["method"], line["path"], line["status"], line["bytes"]) == ("GET", "/v1/me", 401, len(body)), line
    assert isinstance(line["duration_ms"], float | int), line
    assert line["duration_ms"] >= 0
    assert "query-secret" not in stack.gateway.log_text()

    stack.mail.fail_with(503)
    expect_error("DEPENDENCY_UNAVAILABLE", stack.http.start_email_login, "logged@example.com", dependency="mail")
    [failed] = [r for r in log_lines(stack, "gateway") if r.get("msg") == "request failed"]
    assert (failed["method"], failed["path"], failed["code"]) == (
        "POST",
        "/v1/auth/email/start",
        "DEPENDENCY_UNAVAILABLE",
    )
    assert failed["error"], failed

    # authsession's line names the gateway's end of their connection as its peer (the line of this call: the
    # gateway's own health checks, once a second, log theirs beside it).
    call = call_lines(stack, "authsession", "StartEmailLogin")[-1]
    assert call["peer"] == _peer_of(stack.gateway.pid, stack.authsession.address("grpc")), call
    assert (call["code"], call["error_code"]) == ("Unavailable", "DEPENDENCY_UNAVAILABLE"), call
    assert call["error"], call


@pytest.mark.rule("galaxy.logs.grpc-call-line")
def test_a_grpc_call_line_names_the_callers_address(stack: Stack) -> None:
    client = stack.api("grpc")
    assert isinstance(client, GatewayGrpcClient)
    expect_error("UNAUTHENTICATED", client.me, "garbage")

    [line] = [r for r in log_lines(stack, "gateway") if r.get("msg") == "grpc call"]
    assert line["peer"] == _peer_of(os.getpid(), stack.gateway.address("grpc")), line
    assert (line["code"], line["error_code"]) == ("Unauthenticated", "UNAUTHENTICATED"), line
    assert "error" not in line, "only INTERNAL and DEPENDENCY_UNAVAILABLE log their cause"


LEVELS = {None: "INFO", "debug": "DEBUG", "info": "INFO", "warn": "WARN", "error": "ERROR"}
ORDER = ["DEBUG", "INFO", "WARN", "ERROR"]


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("level", list(LEVELS), ids=[str(level) for level in LEVELS])
@pytest.mark.rule(
    "galaxy.logs.json-lines",
    "galaxy.logs.library-lines",
    "galaxy.env.gateway-log-level",
    "galaxy.env.authsession-log-level",
    "tracing.logs.outside-requests",
)
def test_the_log_is_json_lines_on_stderr_at_the_level_set(stack: Stack, service: str, level: str | None) -> None:
    """Started with its log level (unset: info), asked for a login (which logs the
    call's line, and at debug the gRPC library's own lines), a failing one (a warning),
    then stopped: stderr is JSON lines, none below the level, and the lines outside a
    request carry no trace; stdout stays empty."""
    variable = f"{service.upper()}_LOG_LEVEL"
    stdout = stack.workdir / f"{service}-{level}.stdout"
    proc = by_hand(stack, service, {variable: level}, stdout=stdout).start()
    if service == "gateway":
        client: Any = GatewayGrpcClient(proc.address("grpc"))
    else:
        client = AuthSessionGrpcClient(proc.address("grpc"))
    try:
        client.start_email_login(f"level-{level}@example.com")
        stack.mail.fail_with(503)
        with pytest.raises(ApiError):
            client.start_email_login(f"level-{level}-failed@example.com")
    finally:
        client.close()
    proc.stop()

    lines = _json_lines(proc.log_text())
    assert stdout.read_text() == ""
    least = ORDER.index(LEVELS[level])
    below = [line for line in lines[:-1] if ORDER.index(line["level"]) < least]
    assert below == [], f"lines below {LEVELS[level]}"
    levels = {line["level"] for line in lines[:-1]}
    assert ("WARN" in levels) == (least <= ORDER.index("WARN")), "the failed call's warning"
    assert ("INFO" in levels) == (least <= ORDER.index("INFO")), "the call's line"
    if level == "debug":
        assert any(line.get("component") == "grpc" for line in lines), "no line of the gRPC library"
    if least <= ORDER.index("INFO"):
        assert "serving" in {line["msg"] for line in lines}
    for line in lines:
        if line["msg"] in ("starting", "serving", "shutting down", "stopped"):
            assert not {TRACE_ID_KEY, SPAN_ID_KEY} & set(line), line
    assert lines[-1]["msg"] == "stopped", "whatever the level, the last line is stopped"


@pytest.mark.redis_faults
@pytest.mark.rule("galaxy.logs.library-lines", "galaxy.logs.json-lines")
def test_the_redis_librarys_own_lines_are_json_too(stack: Stack) -> None:
    login = log_in(stack, stack.http, "library@example.com")
    stack.redis.kill()
    expect_error("DEPENDENCY_UNAVAILABLE", stack.http.me, login.access_token, dependency="redis")
    stack.redis.restart(keep_data=True)

    for service in SERVICES:
        _json_lines(stack.process(service).log_text())  # every line, the libraries' included
    redis_lines = [r for s in SERVICES for r in log_lines(stack, s) if r.get("component") == "redis"]
    assert redis_lines, "no line of the Redis library"
