"""The pre-flight (harness/suites/preflight.py): each mistake a newcomer makes in the
machine or the environment is one line naming the tool or the variable, within
seconds, before anything is built or started."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.builds.refs import BASE_ENV
from harness.paths import PROJECT_ROOT, galaxy_root
from harness.processes.ports import PortHold
from harness.redis import REAL_REDIS_ENV
from harness.suites import preflight

WANT = "want host:port, like 127.0.0.1:6379"


@pytest.mark.parametrize(
    ("value", "want"),
    [
        pytest.param("127.0.0.1:6379", ("127.0.0.1", 6379), id="ipv4"),
        pytest.param("redis.internal:6380", ("redis.internal", 6380), id="a-name"),
        pytest.param("[::1]:6379", ("::1", 6379), id="ipv6-in-brackets"),
        pytest.param("redis://localhost:6379", f"{REAL_REDIS_ENV}='redis://localhost:6379' is a URL; {WANT}", id="url"),
        pytest.param("garbage", f"{REAL_REDIS_ENV}='garbage' is not host:port; {WANT}", id="garbage"),
        pytest.param("localhost", f"{REAL_REDIS_ENV}='localhost' is not host:port; {WANT}", id="no-port"),
        pytest.param(":6379", f"{REAL_REDIS_ENV}=':6379' is not host:port; {WANT}", id="no-host"),
        pytest.param("::1:6379", f"{REAL_REDIS_ENV}='::1:6379' is not host:port; {WANT}", id="ipv6-bare"),
        pytest.param("h:99999", f"{REAL_REDIS_ENV}='h:99999': port 99999 is out of range; {WANT}", id="port-too-big"),
        pytest.param("h:0", f"{REAL_REDIS_ENV}='h:0': port 0 is out of range; {WANT}", id="port-zero"),
    ],
)
def test_the_real_redis_address_is_host_and_port(value: str, want: tuple[str, int] | str) -> None:
    assert preflight.parse_host_port(value) == want


@pytest.fixture
def answering(request: pytest.FixtureRequest) -> Iterator[str]:
    """``127.0.0.1:port`` of a server that answers each connection's first bytes with ``request.param``
    (None: says nothing)."""
    reply: bytes | None = request.param
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(64)
                if reply is not None:
                    conn.sendall(reply)
                stop.wait(3)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(5)
    server.close()


@pytest.mark.parametrize("answering", [b"+PONG\r\n"], indirect=True)
def test_a_redis_that_answers_passes(answering: str) -> None:
    assert preflight.real_redis(answering, reach=True) is None


@pytest.mark.parametrize("answering", [b"HTTP/1.1 400 Bad Request\r\n\r\n"], indirect=True)
def test_something_else_than_redis_is_named(answering: str) -> None:
    assert preflight.real_redis(answering, reach=True) == (
        f"{REAL_REDIS_ENV}={answering}: what answers there is not a Redis ready to serve "
        "(PING got b'HTTP/1.1 400 Bad Request\\r\\n\\r\\n')"
    )


@pytest.mark.parametrize("answering", [None], indirect=True)
def test_a_redis_that_says_nothing_is_given_up_on_in_time(answering: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preflight, "REACH_TIMEOUT_S", 0.3)
    started = time.monotonic()
    line = preflight.real_redis(answering, reach=True)
    assert time.monotonic() - started < 2
    assert line == f"{REAL_REDIS_ENV}={answering}: no answer within 0.3 s; start a Redis there, or unset it"


def test_a_port_where_nothing_listens_is_named() -> None:
    with PortHold() as nobody:
        addr = nobody.address
        assert preflight.real_redis(addr, reach=True) == (
            f"{REAL_REDIS_ENV}={addr}: nothing answers there (Connection refused); start a Redis there, or unset it"
        )


def test_the_real_redis_is_reached_only_by_a_run_that_uses_it() -> None:
    with PortHold() as nobody:
        assert preflight.real_redis(nobody.address, reach=False) is None, "set but unused: only its form is checked"
    assert preflight.real_redis("redis://x:1", reach=False) is not None
    assert preflight.real_redis(None, reach=False) is None
    assert preflight.real_redis(None, reach=True) == f"{REAL_REDIS_ENV} is not set; {WANT}, of a running Redis"


def _fake_go(directory: Path, script: str) -> None:
    directory.mkdir(exist_ok=True)
    go = directory / "go"
    go.write_text("#!/bin/sh\n" + textwrap.dedent(script))
    go.chmod(0o755)


def test_go_missing_from_path_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    galaxy = galaxy_root()
    assert preflight.go_toolchain(galaxy) == (
        f"go: not found on PATH; the services need Go 1.26.8 or later ({galaxy / 'go.work'}): "
        "install it and put its bin/ on PATH"
    )


def test_an_older_go_is_named_with_the_release_needed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_go(tmp_path / "bin", 'echo "go1.25.3"\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "go.work").write_text("go 1.26.8\n\nuse ./a\n")
    assert preflight.go_toolchain(tmp_path / "ws") == (
        f"go: go1.25.3 found; the services need Go 1.26.8 or later ({tmp_path / 'ws' / 'go.work'})"
    )


def test_a_go_that_refuses_the_workspace_is_quoted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    said = "go: go.work requires go >= 1.26.8 (running go 1.25.3; GOTOOLCHAIN=local)"
    _fake_go(tmp_path / "bin", f'echo "{said}" >&2\nexit 1\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    assert preflight.go_toolchain(galaxy_root()) == said


def test_the_go_on_this_machine_builds_the_workspace() -> None:
    assert preflight.go_toolchain(galaxy_root()) is None


def test_the_skew_base_is_checked_when_given_or_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BASE_ENV, raising=False)
    assert preflight.skew_base(PROJECT_ROOT, required=False) is None
    monkeypatch.setenv(BASE_ENV, "HEAD")
    assert preflight.skew_base(PROJECT_ROOT, required=False) is None
    monkeypatch.setenv(BASE_ENV, "no-such-ref")
    assert preflight.skew_base(PROJECT_ROOT, required=False) == (
        f"{BASE_ENV}: 'no-such-ref' is not a commit of the repository at {PROJECT_ROOT}; "
        "name a commit, branch or tag, or unset it for the merge-base with main"
    )


def _run(*argv: str, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """``argv`` run in the project's root, this environment less the variables checked, plus ``env``; and how
    long it took."""
    unset = (BASE_ENV, REAL_REDIS_ENV, "NOXW_CACHE")
    full = {k: v for k, v in os.environ.items() if k not in unset} | env
    started = time.monotonic()
    done = subprocess.run(argv, cwd=PROJECT_ROOT, env=full, capture_output=True, text=True, timeout=300, check=False)
    return done, time.monotonic() - started


@pytest.mark.parametrize(
    ("args", "env", "want"),
    [
        pytest.param(
            ("-m", "smoke", "--redis-backend=real"),
            {REAL_REDIS_ENV: "redis://localhost:6379"},
            f"ERROR: {REAL_REDIS_ENV}='redis://localhost:6379' is a URL; {WANT}",
            id="real-redis-as-a-url",
        ),
        pytest.param(
            (),
            {BASE_ENV: "nonexistent"},
            f"ERROR: {BASE_ENV}: 'nonexistent' is not a commit of the repository at {PROJECT_ROOT}; "
            "name a commit, branch or tag, or unset it for the merge-base with main",
            id="skew-base",
        ),
    ],
)
def test_a_suite_run_ends_on_one_line_before_it_builds(args: tuple[str, ...], env: dict[str, str], want: str) -> None:
    done, took = _run(
        sys.executable, "-m", "pytest", "gatewayauthsession", "-n", "2", "-p", "no:randomly", *args, **env
    )
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [want]
    assert "building" not in done.stdout
    assert took < 30, f"took {took:.1f}s"


def test_a_dead_real_redis_ends_the_suite_session_on_one_line() -> None:
    with PortHold() as nobody:
        addr = nobody.address
        done, took = _run(str(PROJECT_ROOT / "noxw"), "-s", "real_redis", **{REAL_REDIS_ENV: addr})
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    said = (
        f"nox > Session real_redis aborted: {REAL_REDIS_ENV}={addr}: nothing answers there (Connection refused); "
        "start a Redis there, or unset it"
    )
    # nox ends the line with a full stop, after its own "(took N seconds)" when the session took a second or more
    assert re.fullmatch(re.escape(said) + r"( \(took [^)]*\))?\.", last), last
    assert took < 60, f"took {took:.1f}s"
