"""Redis for a stack: an isolated in-memory fakeredis TCP server by default, or
a real server (``INTEGRATION_REAL_REDIS_ADDR``) isolated by key prefix, or a
``redis-server`` process of the harness's own.

All expose the same surface: ``url`` for the services, ``key_prefix`` they
must use, ``client()`` for tests, and ``stop()``. The two a test owns
(:class:`FakeRedisServer`, :class:`RedisServerProcess`) also take faults
(:class:`RedisFaults`): ``kill()`` (connections cut, port closed),
``pause()``/``resume()`` (connections held, nothing answered), and
``restart(keep_data=...)`` on the same port, with the keyspace kept or lost
as the test says. A shared real Redis takes none: a test cannot stop it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, Self

from harness.ports import free_port
from harness.process import ServiceProcess

if TYPE_CHECKING:  # redis and fakeredis are heavy imports: keep them off module import
    import redis

__all__ = [
    "REAL_REDIS_ENV",
    "REDIS_SERVER_ENV",
    "FakeRedisServer",
    "RealRedis",
    "RedisBackend",
    "RedisServerProcess",
    "real_redis_addr",
    "redis_server_binary",
]

REAL_REDIS_ENV = "INTEGRATION_REAL_REDIS_ADDR"
REDIS_SERVER_ENV = "INTEGRATION_REDIS_SERVER"
"""Path of the ``redis-server`` binary for :class:`RedisServerProcess` (default: the one on PATH)."""


def real_redis_addr() -> str | None:
    """``host:port`` of the real Redis to use, or None when not configured."""
    return os.environ.get(REAL_REDIS_ENV) or None


class RedisBackend(Protocol):
    url: str
    key_prefix: str

    def client(self) -> redis.Redis: ...
    def stop(self) -> None: ...

    # Faults; a backend the test does not own raises NotImplementedError.
    def kill(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def restart(self, *, keep_data: bool) -> None: ...


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


_READ_SIZE = 64 * 1024


class _Gate:
    """A connection's read side that blocks while the server is paused, so
    a paused server reads (and so answers) nothing, as a frozen one would.

    fakeredis's handler asks it for a line at a time and feeds each to its
    command parser, which takes any piece of the stream: so it is handed
    all that has arrived instead, and a command of seven RESP lines (or a
    whole pipeline) costs one pass through the handler rather than seven.
    Like ``readline`` on the non-blocking socket, it gives ``b""`` when
    nothing has arrived and at the end of the stream."""

    def __init__(self, rfile: Any, resumed: threading.Event) -> None:
        self._rfile = rfile
        self._resumed = resumed

    def readline(self, *args: Any) -> bytes:
        self._resumed.wait()
        data: bytes = self._rfile.read1(_READ_SIZE)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rfile, name)


class FakeRedisServer(_Backend):
    """A fakeredis TCP server on 127.0.0.1, port 0, with state of its own.
    A restart binds the same port again."""

    def __init__(self, key_prefix: str = "galaxy:") -> None:
        self.key_prefix = key_prefix
        self._resumed = threading.Event()
        self._resumed.set()
        self._keyspace: Any = None  # fakeredis's FakeServer: the data, kept across a restart
        self._port = 0
        self._server: Any = None
        self._serve()
        self.url = f"redis://127.0.0.1:{self._port}/0"
        self._stopped = False

    def _serve(self) -> None:
        import fakeredis._clients._tcp_server as tcp
        from fakeredis import TcpFakeServer

        # Each connection's thread polls its socket this often while idle (a
        # select that returns at once when data arrives, so no command waits
        # on it). fakeredis's 10 ms makes dozens of idle pooled connections
        # wake thousands of times a second, taking the GIL from the test and
        # the stubs in this same process: enough to stall an answer by
        # hundreds of milliseconds on a loaded machine.
        tcp._POLL_INTERVAL = max(tcp._POLL_INTERVAL, 0.25)

        resumed = self._resumed

        class _Server(TcpFakeServer):
            def __init__(self, addr: tuple[str, int]) -> None:
                super().__init__(addr)
                self.connections: set[socket.socket] = set()

                class _Handler(self.RequestHandlerClass):  # type: ignore[name-defined,misc]
                    def setup(self) -> None:
                        try:
                            super().setup()
                        except OSError:
                            # The peer reset the connection as it came in (a fault
                            # proxy does): fakeredis's setup fails after opening the
                            # socket's files, and finish() never runs to close them.
                            for f in (getattr(self, "wfile", None), getattr(self, "rfile", None)):
                                with contextlib.suppress(Exception):
                                    f.close()  # type: ignore[union-attr]
                            raise
                        self.rfile = _Gate(self.rfile, resumed)  # type: ignore[has-type]  # set by the base

                self.RequestHandlerClass = _Handler

            def get_request(self) -> tuple[socket.socket, Any]:
                # The server answers a pipeline (MULTI ... EXEC) with one small
                # write per command; without TCP_NODELAY, Nagle's algorithm and
                # the client's delayed ACK stall each transaction by ~40 ms.
                sock, addr = super().get_request()
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.connections.add(sock)
                return sock, addr

            def shutdown_request(self, request: Any) -> None:
                self.connections.discard(request)
                super().shutdown_request(request)

            def handle_error(self, request: Any, client_address: Any) -> None:
                if not isinstance(sys.exc_info()[1], OSError):  # a peer that vanished is no error of ours
                    super().handle_error(request, client_address)

        server = _Server(("127.0.0.1", self._port))
        server.daemon_threads = True
        server.block_on_close = False
        if self._keyspace is None:
            self._keyspace = server.fake_server
        else:
            server.fake_server = self._keyspace
        self._port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.005}, name=f"fakeredis:{self._port}", daemon=True
        )
        self._thread.start()

    def client(self) -> redis.Redis:
        import redis

        return redis.Redis.from_url(self.url, decode_responses=True, protocol=2)

    # ------------------------------------------------------------ faults

    @property
    def running(self) -> bool:
        return self._server is not None

    def kill(self) -> None:
        """Stop at once: the port closes and every open connection is cut."""
        server, self._server = self._server, None
        if server is None:
            return
        self._resumed.set()  # let paused handlers see their sockets close
        server.shutdown()
        server.server_close()
        for sock in list(server.connections):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    def pause(self) -> None:
        """Hold every connection open and answer nothing until :meth:`resume`;
        new connections are accepted, as the kernel does for a frozen process."""
        self._resumed.clear()

    def resume(self) -> None:
        self._resumed.set()

    def restart(self, *, keep_data: bool) -> None:
        """Kill the server if it runs, then serve again on the same port with
        the keyspace it had (``keep_data=True``) or an empty one."""
        if self._stopped:
            raise RuntimeError("this fakeredis server was stopped for good")
        self.kill()
        if not keep_data:
            self._keyspace = None
        self._serve()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.kill()


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

    def _not_owned(self) -> NoReturn:
        raise NotImplementedError(
            f"the Redis at {self.url} is shared ({REAL_REDIS_ENV}): a test cannot break it; "
            "mark the test redis_faults to get a redis-server of its own"
        )

    def kill(self) -> None:
        self._not_owned()

    def pause(self) -> None:
        self._not_owned()

    def resume(self) -> None:
        self._not_owned()

    def restart(self, *, keep_data: bool) -> None:
        self._not_owned()

    def stop(self) -> None:
        keys = list(self._client.scan_iter(match=self.key_prefix + "*", count=500))
        if keys:
            self._client.delete(*keys)
        self._client.close()


def redis_server_binary() -> str | None:
    """The ``redis-server`` to run: ``$INTEGRATION_REDIS_SERVER`` or the one on PATH."""
    return os.environ.get(REDIS_SERVER_ENV) or shutil.which("redis-server")


def _pong(addr: str) -> bool:
    host, port = addr.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServerProcess(_Backend):
    """A ``redis-server`` of this test's own, on 127.0.0.1 (redis-server takes
    no port 0, so a free port is chosen for it and kept across restarts).
    Its data is written to an append-only file with every write, so it
    survives a kill when a restart keeps it; ``keep_data=False`` deletes it."""

    def __init__(self, workdir: Path, *, binary: str | None = None, key_prefix: str = "galaxy:") -> None:
        binary = binary or redis_server_binary()
        if binary is None:
            raise FileNotFoundError(
                f"no redis-server on PATH: install it (apt-get install redis-server) or set {REDIS_SERVER_ENV}"
            )
        self.key_prefix = key_prefix
        self.data_dir = workdir / "redis-data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.addr = f"127.0.0.1:{port}"
        self.url = f"redis://{self.addr}/0"
        argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(self.data_dir), "--save", ""]
        argv += ["--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no", "--loglevel", "warning"]
        self.process = ServiceProcess(
            "redis-server",
            argv,
            env={},
            workdir=workdir,
            ready_probe=lambda _: {"redis": self.addr} if _pong(self.addr) else None,
        ).start()

    def client(self) -> redis.Redis:
        import redis

        return redis.Redis.from_url(self.url, decode_responses=True)

    def kill(self) -> None:
        """SIGKILL: the port closes and every connection is cut."""
        if self.process.is_running():
            self.process.kill()

    def pause(self) -> None:
        """SIGSTOP: connections stay open, nothing is answered."""
        self.process.pause()

    def resume(self) -> None:
        self.process.resume()

    def restart(self, *, keep_data: bool) -> None:
        self.process.stop()
        if not keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir.mkdir(parents=True)
        self.process.restart()

    def stop(self) -> None:
        self.process.stop()
