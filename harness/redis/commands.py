"""The commands a Redis was sent, as the harness records them for a failing
test's timeline (:class:`RedisCommand`), and the recording of a real Redis's
commands through a ``MONITOR`` connection (a fakeredis server records its own,
in :mod:`harness.redis.fakeredis_host`)."""

from __future__ import annotations

import collections
import re
import socket
import threading
from dataclasses import dataclass

__all__ = ["RedisCommand", "parse_monitor_line", "reply_summary"]


@dataclass(frozen=True)
class RedisCommand:
    """One command a Redis was sent: when (seconds since the epoch), from
    which client (``host:port``), its first words, how long it took, the
    error it was answered with and the answer in short (:func:`reply_summary`;
    all three None when not known: ``MONITOR`` tells none of them)."""

    at: float
    client: str
    words: tuple[str, ...]
    duration: float | None = None
    error: str | None = None
    reply: str | None = None


_MONITOR_LINE = re.compile(r"\+(?P<at>\d+\.\d+) \[\d+ (?P<client>[^\]]+)\] (?P<args>.*)")
_MONITOR_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')
RECORDED_WORDS = 6
RECORDED_WORD_CHARS = 80
"""A recorded command keeps its first RECORDED_WORDS words, each cut to RECORDED_WORD_CHARS
(MONITOR's record here, the fakeredis host's in its own process)."""


REPLY_CHARS = 40
"""A recorded answer that is a string keeps this many characters of it."""


def reply_summary(reply: object) -> str:
    """A command's answer in short, enough to tell what the caller was given:
    ``nil``, a number, a string (cut to REPLY_CHARS), ``empty`` for an empty
    array, map or set (a missing key's HGETALL or SMEMBERS), else how many
    items the array, map or set held; an error within a transaction's answer
    as ``ERR`` and its message."""
    if reply is None:
        return "nil"
    if isinstance(reply, Exception):  # one command's error in a transaction's answer
        return f"ERR {reply.args[0] if reply.args else reply}"[:REPLY_CHARS]
    if isinstance(reply, bool | int | float):
        return str(reply)
    if isinstance(reply, bytes | bytearray | memoryview):
        reply = bytes(reply).decode("utf-8", "replace")
    if isinstance(reply, str):
        return repr(reply) if len(reply) <= REPLY_CHARS else repr(reply[:REPLY_CHARS]) + f"... ({len(reply)} chars)"
    if isinstance(reply, dict | list | tuple | set | frozenset):
        return f"{len(reply)} items" if reply else "empty"
    return type(reply).__name__


def with_more(shown: list[str], total: int) -> list[str]:
    """``shown`` (the first RECORDED_WORDS of ``total`` words), with how many more there were."""
    return [*shown, f"... {total - RECORDED_WORDS} more"] if total > RECORDED_WORDS else shown


def parse_monitor_line(line: str) -> RedisCommand | None:
    """One line of ``MONITOR``'s output (``+1700000000.123456 [0 127.0.0.1:5000] "GET" "k"``), or None."""
    m = _MONITOR_LINE.fullmatch(line.strip())
    if m is None:
        return None
    words = [w.replace('\\"', '"').replace("\\\\", "\\") for w in _MONITOR_ARG.findall(m["args"])]
    shown = [w[:RECORDED_WORD_CHARS] for w in words[:RECORDED_WORDS]]
    return RedisCommand(float(m["at"]), m["client"], tuple(with_more(shown, len(words))))


class _Monitor:
    """Records a real Redis's commands through ``MONITOR``, from a thread of its own,
    into a ring buffer of the last ``size``; ``only`` keeps just the commands with a
    word that holds it (a key prefix). The connection is made again when the server
    restarts, until :meth:`stop`."""

    def __init__(self, addr: str, size: int, only: str | None = None) -> None:
        self._addr = addr
        self._only = only
        self.commands: collections.deque[RedisCommand] = collections.deque(maxlen=size)
        self._stopped = threading.Event()
        self._connected = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"redis-monitor:{addr}", daemon=True)
        self._thread.start()
        self._connected.wait(2)  # the commands from here on are seen

    def _run(self) -> None:
        host, port = self._addr.rsplit(":", 1)
        while not self._stopped.is_set():
            try:
                with socket.create_connection((host, int(port)), timeout=0.5) as sock:
                    sock.sendall(b"MONITOR\r\n")
                    self._read(sock)
            except OSError:
                pass
            self._stopped.wait(0.1)

    def _read(self, sock: socket.socket) -> None:
        pending = b""
        while not self._stopped.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return
            pending += data
            *lines, pending = pending.split(b"\r\n")
            for raw in lines:
                line = raw.decode("utf-8", "replace")
                if line == "+OK":
                    self._connected.set()
                elif (cmd := parse_monitor_line(line)) is not None and (
                    self._only is None or any(self._only in w for w in cmd.words)
                ):
                    self.commands.append(cmd)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=2)
