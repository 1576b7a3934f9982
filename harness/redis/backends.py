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
An owned ``redis-server`` also takes error modes, in which it runs on but
refuses or holds back writes (:mod:`harness.redis.error_modes`):
``refuse_writes()`` (OOM), ``read_only()`` (a replica), ``pause_writes()``
(``CLIENT PAUSE ... WRITE``), each undone by its ``heal()`` or all by ``heal()``.

Each also records the commands it is sent, for a failing test's timeline
(``commands()``, :class:`~harness.redis.commands.RedisCommand`), in a ring buffer of the last
``record`` of them: a fakeredis server in the fakeredis host itself, a real
Redis through a ``MONITOR`` connection (on a shared one, only the commands
that name the stack's key prefix).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import socket
import sys
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, Self

from harness.paths import PROJECT_ROOT
from harness.processes.ports import PortHold
from harness.processes.service import ServiceProcess
from harness.redis import REAL_REDIS_ENV
from harness.redis.commands import RedisCommand, _Monitor
from harness.redis.error_modes import ErrorMode, RedisErrorModes
from harness.redis.fakeredis_host import DEFAULT_RECORD, READY_ENV

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
    "stop_fakeredis_host",
]

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
    def commands(self) -> list[RedisCommand]: ...

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


def _bytecode() -> dict[str, str]:
    """The host's bytecode goes where this process's does (``harness.paths.bytecode_env``),
    never beside the sources."""
    if sys.pycache_prefix:
        return {"PYTHONPYCACHEPREFIX": sys.pycache_prefix}
    return {"PYTHONDONTWRITEBYTECODE": "1"}


class _Host:
    """The fakeredis host of this process (:mod:`harness.redis.fakeredis_host`),
    started on first use and stopped when the process exits; it exits by
    itself too once this process is gone."""

    _lock = threading.Lock()
    _current: _Host | None = None

    def __init__(self) -> None:
        self._workdir = Path(tempfile.mkdtemp(prefix="fakeredis-host-"))
        self.process = ServiceProcess(
            "fakeredis",
            [sys.executable, "-m", "harness.redis.fakeredis_host"],
            env={"PYTHONPATH": str(PROJECT_ROOT), **_bytecode()},
            workdir=self._workdir,
            ready_env=READY_ENV,
        ).start()
        host, port = self.process.address("control").rsplit(":", 1)
        self._conn = socket.create_connection((host, int(port)), timeout=30)
        self._conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader = self._conn.makefile("rb")
        self._calls = threading.Lock()

    @classmethod
    def get(cls) -> _Host:
        with cls._lock:
            if cls._current is None or not cls._current.process.is_running():
                cls._current = cls()
                atexit.register(cls._current.close)
            return cls._current

    @classmethod
    def close_current(cls) -> None:
        with cls._lock:
            host, cls._current = cls._current, None
        if host is not None:
            host.close()

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        with self._calls:
            self._conn.sendall(json.dumps({"op": op, **args}).encode() + b"\n")
            line = self._reader.readline()
        if not line:
            raise ConnectionError(f"the fakeredis host exited; its log:\n{self.process.log_tail()}")
        answer: dict[str, Any] = json.loads(line)
        if not answer.get("ok"):
            raise RuntimeError(f"fakeredis host: {op}: {answer.get('error')}")
        return answer

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._reader.close()
            self._conn.close()
        self.process.stop()
        shutil.rmtree(self._workdir, ignore_errors=True)


def stop_fakeredis_host() -> None:
    """Stop this process's fakeredis host, and with it every
    :class:`FakeRedisServer` still serving (a test run calls it as it ends)."""
    _Host.close_current()


class FakeRedisServer(_Backend):
    """A fakeredis TCP server on 127.0.0.1, with state of its own, served by
    this process's fakeredis host (a process of its own, so its answers never
    wait on the test's threads). A restart binds the same port again: the host
    holds it meanwhile (:class:`~harness.processes.ports.PortHold`)."""

    def __init__(self, key_prefix: str = "galaxy:", *, record: int = DEFAULT_RECORD) -> None:
        self.key_prefix = key_prefix
        self._host = _Host.get()
        answer = self._host.call("serve", record=record)
        self._id: int = answer["id"]
        self._port: int = answer["port"]
        self.url = f"redis://127.0.0.1:{self._port}/0"
        self._running = True
        self._stopped = False

    def client(self) -> redis.Redis:
        import redis

        return redis.Redis.from_url(self.url, decode_responses=True, protocol=2)

    def commands(self) -> list[RedisCommand]:
        """The commands the server recorded, oldest first (none once it is stopped)."""
        if self._stopped:
            return []
        answer = self._host.call("commands", id=self._id)
        return [
            RedisCommand(at, client, tuple(words), took, err, reply)
            for at, client, words, took, err, reply in answer["commands"]
        ]

    # ------------------------------------------------------------ faults

    @property
    def running(self) -> bool:
        return self._running

    def kill(self) -> None:
        """Stop at once: the port closes and every open connection is cut."""
        if self._running:
            self._host.call("kill", id=self._id)
            self._running = False

    def pause(self) -> None:
        """Hold every connection open and answer nothing until :meth:`resume`;
        new connections are accepted, as the kernel does for a frozen process."""
        self._host.call("pause", id=self._id)

    def resume(self) -> None:
        self._host.call("resume", id=self._id)

    def restart(self, *, keep_data: bool) -> None:
        """Kill the server if it runs, then serve again on the same port with
        the keyspace it had (``keep_data=True``) or an empty one."""
        if self._stopped:
            raise RuntimeError("this fakeredis server was stopped for good")
        self._host.call("restart", id=self._id, keep_data=keep_data)
        self._running = True

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._running = False
        with contextlib.suppress(ConnectionError):  # a host already gone has stopped it too
            self._host.call("stop", id=self._id)


class _Monitored(_Backend):
    """A Redis reached at ``url`` whose commands a MONITOR connection records, when asked to."""

    url: str
    _monitor: _Monitor | None = None

    def client(self) -> redis.Redis:
        import redis

        return redis.Redis.from_url(self.url, decode_responses=True)

    def commands(self) -> list[RedisCommand]:
        """The commands MONITOR saw, oldest first: on a shared Redis only those naming this
        stack's key prefix; while the server was down, none."""
        return list(self._monitor.commands) if self._monitor is not None else []

    def _stop_monitor(self) -> None:
        if self._monitor is not None:
            self._monitor.stop()


class RealRedis(_Monitored):
    """A real Redis shared by many stacks: each gets a random key prefix and
    its keys are deleted on stop."""

    def __init__(self, addr: str, db: int = 0, *, record: int = DEFAULT_RECORD) -> None:
        import redis

        self.url = f"redis://{addr}/{db}"
        self.key_prefix = f"galaxy-test:{secrets.token_hex(6)}:"
        self._client = redis.Redis.from_url(self.url, decode_responses=True, socket_timeout=5)
        try:
            self._client.ping()
        except redis.RedisError as exc:
            raise ConnectionError(f"cannot reach the real Redis at {addr} ({REAL_REDIS_ENV}): {exc}") from exc
        self._monitor = _Monitor(addr, record, only=self.key_prefix) if record else None

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
        self._stop_monitor()
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


class RedisServerProcess(_Monitored):
    """A ``redis-server`` of this test's own, on 127.0.0.1 (redis-server takes
    no port 0, so a port is held for it, and kept across restarts).
    Its data is written to an append-only file with every write, so it
    survives a kill when a restart keeps it; ``keep_data=False`` deletes it."""

    def __init__(
        self, workdir: Path, *, binary: str | None = None, key_prefix: str = "galaxy:", record: int = DEFAULT_RECORD
    ) -> None:
        binary = binary or redis_server_binary()
        if binary is None:
            raise FileNotFoundError(
                f"no redis-server on PATH: install it (apt-get install redis-server) or set {REDIS_SERVER_ENV}"
            )
        self.key_prefix = key_prefix
        self.data_dir = workdir / "redis-data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        hold = PortHold()
        port = hold.port
        self.addr = hold.address
        self.url = f"redis://{self.addr}/0"
        argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(self.data_dir), "--save", ""]
        argv += ["--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no", "--loglevel", "warning"]
        self.process = ServiceProcess(
            "redis-server",
            argv,
            env={},
            workdir=workdir,
            ready_probe=lambda _: {"redis": self.addr} if _pong(self.addr) else None,
            holds=[hold],
        ).start()
        self._monitor = _Monitor(self.addr, record) if record else None
        self.error_modes = RedisErrorModes(self.url)

    def refuse_writes(self) -> ErrorMode:
        """Writes answer ``OOM command not allowed ...`` until healed (:mod:`harness.redis.error_modes`)."""
        return self.error_modes.refuse_writes()

    def read_only(self, master: str | None = None) -> ErrorMode:
        """Writes answer ``READONLY ...``: a replica of ``master``, by default of no live server."""
        return self.error_modes.read_only(master)

    def pause_writes(self) -> ErrorMode:
        """Writes wait unanswered (``CLIENT PAUSE ... WRITE``) until healed; reads go on."""
        return self.error_modes.pause_writes()

    def heal(self) -> None:
        """Undo every error mode in effect."""
        self.error_modes.heal()

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
        self.process.halt()
        self.error_modes.forget()  # a new process starts from its command line's configuration
        if not keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir.mkdir(parents=True)
        self.process.restart()

    def stop(self) -> None:
        self._stop_monitor()
        self.process.stop()
