"""The error modes of an owned redis-server, as a client sees them: OOM, READONLY, a write that waits."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from harness.redis.backends import RedisServerProcess, redis_server_binary

pytestmark = pytest.mark.skipif(
    redis_server_binary() is None, reason="no redis-server on PATH (.ci/install-packages installs it)"
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServerProcess]:
    with RedisServerProcess(tmp_path / "redis", record=0) as made:
        made.client().set("kept", "before")
        yield made


def _client(server: RedisServerProcess, timeout: float | None = 5.0) -> redis.Redis:
    return redis.Redis.from_url(server.url, decode_responses=True, socket_timeout=timeout)


def _wire(server: RedisServerProcess, *words: str) -> str:
    """The first line of the server's answer to one command, as it is on the wire
    (a client library may trim an error's leading code)."""
    host, port = server.addr.rsplit(":", 1)
    command = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(command.encode())
        return sock.makefile("rb").readline().decode().rstrip("\r\n")


def test_refused_writes_answer_oom_and_reads_and_deletes_still_work(server: RedisServerProcess) -> None:
    client = _client(server)
    with server.refuse_writes():
        assert _wire(server, "SET", "k", "v") == "-OOM command not allowed when used memory > 'maxmemory'."
        assert _wire(server, "HSET", "h", "f", "v").startswith("-OOM command not allowed")
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            client.set("k", "v")
        script = "return redis.call('SET', KEYS[1], 'v')"  # a script that writes is refused too
        assert _wire(server, "EVAL", script, "1", "k").startswith("-OOM command not allowed")
        assert client.get("kept") == "before"
        assert client.delete("kept") == 1, "a delete frees memory: it is allowed"
    client.set("k", "v")
    assert client.get("k") == "v"
    assert client.config_get("maxmemory") == {"maxmemory": "0"}, "heal restores the limit it found"
    assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"


def test_a_read_only_replica_answers_readonly_and_keeps_its_data(server: RedisServerProcess) -> None:
    client = _client(server)
    mode = server.read_only()
    assert _wire(server, "SET", "k", "v") == "-READONLY You can't write against a read only replica."
    with pytest.raises(redis.exceptions.ReadOnlyError):
        client.set("k", "v")
    assert client.get("kept") == "before"
    assert client.role()[0] == "slave"
    mode.heal()
    client.set("k", "v")
    assert (client.get("k"), client.get("kept")) == ("v", "before")
    assert client.role()[0] == "master"


def test_a_replica_of_a_second_owned_server_takes_its_data(server: RedisServerProcess, tmp_path: Path) -> None:
    with RedisServerProcess(tmp_path / "master", record=0) as master:
        master.client().set("from-master", "1")
        master.client().config_set("repl-diskless-sync-delay", "0")  # sync at once, not 5 s later
        client = _client(server)
        with server.read_only(master.addr):
            deadline = time.monotonic() + 10
            while client.get("from-master") != "1":
                assert time.monotonic() < deadline, "the replica never synced from its master"
                time.sleep(0.02)
            assert client.get("kept") is None, "a full sync replaces the replica's dataset"
            with pytest.raises(redis.exceptions.ReadOnlyError):
                client.set("k", "v")
        client.set("k", "v")
        assert client.get("k") == "v"


def test_paused_writes_wait_unanswered_while_reads_are_served(server: RedisServerProcess) -> None:
    mode = server.pause_writes()
    with pytest.raises(redis.TimeoutError):
        _client(server, timeout=0.3).set("k", "timed out")
    client = _client(server)
    assert client.get("kept") == "before", "a read is answered during the pause"
    done = threading.Event()

    def write() -> None:
        _client(server, timeout=10).set("k", "waited")
        done.set()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    assert not done.wait(0.3), "a write was answered during the pause"
    mode.heal()
    assert done.wait(5), "the waiting write was not answered once the pause ended"
    writer.join(5)
    assert client.get("k") == "waited"


def test_heal_undoes_every_mode_in_effect(server: RedisServerProcess) -> None:
    server.refuse_writes()
    server.read_only()
    server.pause_writes()
    assert [m.name for m in server.error_modes.active()] == ["refuse_writes", "read_only", "pause_writes"]
    server.heal()
    assert server.error_modes.active() == []
    client = _client(server, timeout=2)
    client.set("k", "v")
    assert client.get("k") == "v"


def test_a_mode_in_effect_cannot_be_set_twice(server: RedisServerProcess) -> None:
    with server.refuse_writes(), pytest.raises(RuntimeError, match="already in effect"):
        server.refuse_writes()
    server.refuse_writes().heal()  # healed, it may be set again


def test_a_restarted_server_has_no_mode_in_effect(server: RedisServerProcess) -> None:
    mode = server.refuse_writes()
    server.restart(keep_data=True)
    assert mode.healed
    assert server.error_modes.active() == []
    client = _client(server)
    client.set("k", "v")
    assert client.get("kept") == "before"
