"""Redis for a stack: an isolated in-memory fakeredis TCP server by default, or
a real server (``INTEGRATION_REAL_REDIS_ADDR``) isolated by key prefix.

Both expose the same surface: ``url`` for the services, ``key_prefix`` they
must use, ``client()`` for tests, and ``stop()``.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

if TYPE_CHECKING:  # redis and fakeredis are heavy imports: keep them off module import
    import redis

__all__ = ["REAL_REDIS_ENV", "FakeRedisServer", "RealRedis", "RedisBackend", "real_redis_addr"]

REAL_REDIS_ENV = "INTEGRATION_REAL_REDIS_ADDR"


def real_redis_addr() -> str | None:
    """``host:port`` of the real Redis to use, or None when not configured."""
    return os.environ.get(REAL_REDIS_ENV) or None


class RedisBackend(Protocol):
    url: str
    key_prefix: str

    def client(self) -> redis.Redis: ...
    def stop(self) -> None: ...


class _Backend:
    """Context-manager plumbing shared by the backends: leaving the block stops it."""

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class FakeRedisServer(_Backend):
    """A fakeredis TCP server on 127.0.0.1, port 0, with state of its own."""

    def __init__(self, key_prefix: str = "galaxy:") -> None:
        from fakeredis import TcpFakeServer

        class _Server(TcpFakeServer):
            def get_request(self) -> tuple[socket.socket, Any]:
                # The server answers a pipeline (MULTI ... EXEC) with one small
                # write per command; without TCP_NODELAY, Nagle's algorithm and
                # the client's delayed ACK stall each transaction by ~40 ms.
                sock, addr = super().get_request()
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return sock, addr

        self.key_prefix = key_prefix
        self._server = _Server(("127.0.0.1", 0))
        self._server.daemon_threads = True
        self._server.block_on_close = False
        port: int = self._server.server_address[1]
        self.url = f"redis://127.0.0.1:{port}/0"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.005}, name=f"fakeredis:{port}", daemon=True
        )
        self._thread.start()
        self._stopped = False

    def client(self) -> redis.Redis:
        import redis

        return redis.Redis.from_url(self.url, decode_responses=True, protocol=2)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class RealRedis(_Backend):
    """A real Redis shared by many stacks: each gets a random key prefix and
    its keys are deleted on stop."""

    def __init__(self, addr: str, db: int = 0) -> None:
        import redis

        self.url = f"redis://{addr}/{db}"
        self.key_prefix = f"galaxy-test:{secrets.token_hex(6)}:"
        self._client = redis.Redis.from_url(self.url, decode_responses=True, socket_timeout=5)
        try:
            self._client.ping()
        except redis.RedisError as exc:
            raise ConnectionError(f"cannot reach the real Redis at {addr} ({REAL_REDIS_ENV}): {exc}") from exc

    def client(self) -> redis.Redis:
        import redis

        return redis.Redis.from_url(self.url, decode_responses=True)

    def stop(self) -> None:
        keys = list(self._client.scan_iter(match=self.key_prefix + "*", count=500))
        if keys:
            self._client.delete(*keys)
        self._client.close()
