"""Error modes of a Redis the test owns: the server keeps running and
answering, but refuses or holds back writes, as a production Redis does when
it is full, demoted or paused. Each is set through Redis's own admin commands
and undone by its :meth:`ErrorMode.heal` (or :meth:`RedisErrorModes.heal` for
all at once):

- :meth:`RedisErrorModes.refuse_writes`: out of memory. ``maxmemory`` is set
  below what the server already uses, with the ``noeviction`` policy, so every
  command that may grow the dataset (``SET``, ``HSET``, ``INCR``, a script
  that writes) is answered ``OOM command not allowed when used memory >
  'maxmemory'``; reads and deletes still work.
- :meth:`RedisErrorModes.read_only`: a replica. ``REPLICAOF`` an address where
  nothing listens (or another server, whose dataset then replaces this one's),
  so every write is answered ``READONLY You can't write against a read only
  replica.``; reads serve the data it had. The address is a held port
  (:class:`~harness.processes.ports.PortHold`): nothing listens there until healed.
- :meth:`RedisErrorModes.pause_writes`: ``CLIENT PAUSE ... WRITE``. A write
  waits, unanswered, until the pause ends; reads are answered at once.

A shared Redis takes none of them (a test cannot break what others use), nor
does fakeredis, which implements no memory limit, replication or pause: they
need a ``redis-server`` of the test's own
(:class:`~harness.redis.backends.RedisServerProcess`).
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Self

from harness.processes.ports import PortHold

if TYPE_CHECKING:
    import redis

__all__ = ["ErrorMode", "RedisErrorModes"]

PAUSE_LIMIT_MS = 10 * 60 * 1000
"""The longest a write pause lasts unless healed sooner: Redis ends it by itself then."""


class ErrorMode:
    """One error mode in effect; :meth:`heal` undoes it (idempotent), as does leaving its ``with`` block."""

    def __init__(self, modes: RedisErrorModes, name: str, undo: Callable[[redis.Redis], object]) -> None:
        self.name = name
        self.healed = False
        self._modes = modes
        self._undo = undo

    def heal(self) -> None:
        if not self.healed:
            self.healed = True
            self._modes._healed(self)
            with self._modes.admin() as client:
                self._undo(client)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.heal()

    def __repr__(self) -> str:
        return f"<ErrorMode {self.name}{' healed' if self.healed else ''}>"


class RedisErrorModes:
    """The error modes of the Redis at ``url``, which the caller owns."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._active: list[ErrorMode] = []

    def admin(self) -> redis.Redis:
        """A client for the admin commands (its own connection, so no pause holds it)."""
        import redis

        return redis.Redis.from_url(self.url, decode_responses=True, socket_timeout=5, protocol=2)

    def active(self) -> list[ErrorMode]:
        return list(self._active)

    def _apply(
        self, name: str, do: Callable[[redis.Redis], object], undo: Callable[[redis.Redis], object]
    ) -> ErrorMode:
        if any(mode.name == name for mode in self._active):
            raise RuntimeError(f"{name} is already in effect on {self.url}; heal it first")
        with self.admin() as client:
            do(client)
        mode = ErrorMode(self, name, undo)
        self._active.append(mode)
        return mode

    def _healed(self, mode: ErrorMode) -> None:
        self._active.remove(mode)

    def refuse_writes(self) -> ErrorMode:
        """Out of memory: writes answer ``OOM ...`` until healed (``maxmemory`` and its policy restored)."""
        with self.admin() as client:
            before: dict[str, str] = client.config_get("maxmemory") | client.config_get("maxmemory-policy")

        def full(admin: redis.Redis) -> None:
            admin.config_set("maxmemory-policy", "noeviction")
            admin.config_set("maxmemory", "1")  # bytes: below any server's own use

        def restore(admin: redis.Redis) -> None:
            admin.config_set("maxmemory-policy", before["maxmemory-policy"])
            admin.config_set("maxmemory", before["maxmemory"])

        return self._apply("refuse_writes", full, restore)

    def read_only(self, master: str | None = None) -> ErrorMode:
        """A replica: writes answer ``READONLY ...`` until healed (``REPLICAOF NO ONE``).
        ``master`` (``host:port``) is whose replica it becomes: by default an address
        where nothing listens, so it keeps its own data; a live server's replaces it."""
        nobody = PortHold() if master is None else None  # where nothing listens while the mode lasts
        host, port = (nobody.address if nobody is not None else str(master)).rsplit(":", 1)

        def undo(admin: redis.Redis) -> None:
            try:
                admin.replicaof("NO", "ONE")
            finally:
                if nobody is not None:
                    nobody.close()

        return self._apply("read_only", lambda admin: admin.replicaof(host, port), undo)

    def pause_writes(self, ms: int = PAUSE_LIMIT_MS) -> ErrorMode:
        """Writes wait unanswered for ``ms`` or until healed (``CLIENT UNPAUSE``); reads go on."""
        return self._apply(
            "pause_writes",
            lambda admin: admin.client_pause(ms, all=False),  # all=False: WRITE
            lambda admin: admin.client_unpause(),
        )

    def heal(self) -> None:
        """Undo every mode in effect, the latest first."""
        for mode in reversed(self._active):
            mode.heal()

    def forget(self) -> None:
        """The server restarted with its configuration from the command line: nothing is in effect."""
        for mode in self._active:
            mode.healed = True
        self._active.clear()
