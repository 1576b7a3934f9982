from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest
import redis

from harness.paths import PROJECT_ROOT
from harness.redis.backends import FakeRedisServer, RealRedis, real_redis_addr


def test_each_fake_server_has_state_of_its_own() -> None:
    with FakeRedisServer() as a, FakeRedisServer() as b:
        assert a.url != b.url
        ca, cb = a.client(), b.client()
        ca.set("k", "a")
        assert ca.get("k") == "a"
        assert cb.get("k") is None
        ca.close()
        cb.close()


def test_a_fake_server_stops_promptly_even_with_a_client_connected() -> None:
    server = FakeRedisServer()
    client = server.client()
    assert client.ping()
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1.0
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(server.url, socket_connect_timeout=1).ping()
    server.stop()  # idempotent
    client.close()


@pytest.mark.skipif(real_redis_addr() is None, reason="INTEGRATION_REAL_REDIS_ADDR is not set")
def test_real_redis_is_isolated_by_prefix_and_cleaned() -> None:
    addr = real_redis_addr()
    assert addr is not None
    a, b = RealRedis(addr), RealRedis(addr)
    assert a.key_prefix != b.key_prefix
    client = a.client()
    client.set(a.key_prefix + "x", "1")
    client.set(b.key_prefix + "x", "2")
    a.stop()
    assert client.get(a.key_prefix + "x") is None
    assert client.get(b.key_prefix + "x") == "2"
    b.stop()
    assert client.get(b.key_prefix + "x") is None
    client.close()


def test_an_unreachable_real_redis_is_a_clear_error() -> None:
    with pytest.raises(ConnectionError, match="INTEGRATION_REAL_REDIS_ADDR"):
        RealRedis("127.0.0.1:1")


def test_fake_servers_are_served_from_a_process_of_their_own() -> None:
    with FakeRedisServer() as server:
        port = int(server.url.rsplit(":", 1)[1].split("/")[0])
        listening = [c for c in psutil.net_connections(kind="tcp4") if c.status == psutil.CONN_LISTEN]
        owners = {c.pid for c in listening if c.laddr and c.laddr.port == port}
        assert owners, f"nothing listens on {server.url}"
        assert os.getpid() not in owners, "the fakeredis server answers from the test process"


def test_the_fakeredis_host_goes_when_its_test_process_dies_abruptly() -> None:
    script = (
        "import os, sys\n"
        "from harness.redis.backends import FakeRedisServer, _Host\n"
        "server = FakeRedisServer()\n"
        "assert server.client().ping()\n"
        "print(_Host.get().process.pid, flush=True)\n"
        "os._exit(0)  # no clean-up of any kind\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT, check=True
    )
    host = int(done.stdout.split()[-1])
    deadline = time.monotonic() + 10
    while psutil.pid_exists(host) and psutil.Process(host).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, f"the fakeredis host {host} outlived its test process"
        time.sleep(0.05)


def test_a_bad_request_to_the_fakeredis_host_is_a_clear_error() -> None:
    with FakeRedisServer() as server, pytest.raises(RuntimeError, match="unknown op 'flush'"):
        server._host.call("flush", id=server._id)
