from __future__ import annotations

import time

import pytest
import redis

from harness.redis_server import FakeRedisServer, RealRedis, real_redis_addr


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
