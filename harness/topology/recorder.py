"""What a failing test leaves behind (:class:`harness.forensics.bundle.Evidence`),
for any declared stack: the hops its requests made, read from every service's
JSON-line log (the platform's ``http request`` and ``grpc call`` lines with
their ``trace_id``), every stub's journal and the stack's Redis commands; and
files for its bundle: the journals, the commands, a snapshot of the keyspace the
topology declares public (``Redis.keyspace``), the fault links and the binaries'
hashes.

Who called a service or a stub is read from the topology's edges (the
scenarios call the services in its ``clients``). A Redis command is put down
to the process whose connection sent it (its client port), and to the trace of
the call that process was serving then."""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import psutil

from harness.forensics.bundle import Evidence, file_sha256
from harness.forensics.timeline import Hop, json_lines, parse_time
from harness.forensics.traces import LOG_SPAN_ID, LOG_TRACE_ID, trace_id_of
from harness.redis.commands import RedisCommand
from harness.topology.declaration import REDIS, TEST, load

if TYPE_CHECKING:
    from harness.topology.stack import Stack

__all__ = ["Recorder"]

_PROXY = "fault proxy"
_HEALTH = {"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch", "/healthz", "/readyz"}
# gRPC codes that mean the server side failed, not that the caller was refused.
_SERVER_FAULTS = {"Internal", "Unknown", "Unavailable", "DeadlineExceeded", "DataLoss", "Unimplemented", "Aborted"}
_LIFECYCLE = {"starting", "serving", "shutting down", "stopped"}
_REDIS_CHATTER = {"PING", "HELLO", "CLIENT", "SELECT", "INFO", "COMMAND", "READONLY", "AUTH", "MONITOR"}


def _log_hops(service: str, caller: Callable[[object], str], text: str, evidence: Evidence) -> None:
    for record in json_lines(text):
        at = parse_time(record.get("time"))
        if at is None:
            continue
        msg = str(record.get("msg", ""))
        trace_id = record.get(LOG_TRACE_ID)
        took = record.get("duration_ms")
        duration = float(took) / 1000 if isinstance(took, int | float) else None
        origin = f"{service} log"
        if record.get("component") == "grpc":
            evidence.chatter["grpc-go debug lines"] += 1
        elif msg in ("http request", "grpc call"):
            target = str(record.get("path") if msg == "http request" else record.get("method"))
            if target in _HEALTH:
                evidence.chatter["health checks"] += 1
                continue
            if msg == "http request":
                status = str(record.get("status", ""))
                operation = f"{record.get('method')} {target}"
                error = status.isdigit() and int(status) >= 500
            else:
                status = str(record.get("code", ""))
                operation = f"gRPC {target.rsplit('/', 1)[-1]}"
                error = status in _SERVER_FAULTS
            detail = str(record.get("error_code") or record.get("error") or "")
            start = at - (duration or 0.0)
            evidence.hops.append(
                Hop(
                    start,
                    caller(record.get("peer")),
                    service,
                    operation,
                    status,
                    duration,
                    trace_id,
                    error,
                    origin,
                    detail,
                )
            )
        elif msg in _LIFECYCLE or record.get("level") in ("WARN", "ERROR"):
            level = str(record.get("level", ""))
            skip = {"time", "level", "msg", "service", LOG_TRACE_ID, LOG_SPAN_ID}
            detail = ", ".join(f"{k}={v}" for k, v in record.items() if k not in skip)
            evidence.hops.append(
                Hop(at, service, service, msg, level, None, trace_id, level == "ERROR", origin, detail)
            )
        else:
            evidence.chatter[f"{str(record.get('level', 'other')).lower()} lines"] += 1


def _stub_hops(stub: Any, caller: str, target: str, evidence: Evidence) -> None:
    for rec in stub.requests:
        trace_id = trace_id_of(rec.header("traceparent"))
        status = "dropped" if rec.status is None else str(rec.status)
        error = rec.status is None or rec.status >= 500 or rec.note is not None
        detail = "; ".join(x for x in (rec.fault, rec.note) if x)
        evidence.hops.append(
            Hop(
                rec.at,
                caller,
                target,
                f"{rec.method} {rec.path}",
                status,
                rec.duration,
                trace_id,
                error,
                stub.name,
                detail,
            )
        )


_REDIS_KEYLESS = {"MULTI", "EXEC", "DISCARD", "UNWATCH", "SCAN", "FLUSHDB", "FLUSHALL", "TIME", "DBSIZE"}


def _redis_subject(words: tuple[str, ...]) -> str:
    """The key a Redis command names first ("" for a command of none)."""
    command = words[0].upper() if words else ""
    if command in ("EVALSHA", "EVAL", "FCALL"):
        return words[3] if len(words) > 3 and words[2] not in ("", "0") else ""
    if command in _REDIS_KEYLESS or len(words) < 2 or words[1].startswith("... "):
        return ""
    return words[1]


def _redis_text(cmd: RedisCommand) -> str:
    """A Redis command in full, as recorded, with what it was answered (when known)."""
    said = " ".join(cmd.words)
    if cmd.error is not None:
        return f"{said} -> ERR {cmd.error}"
    return said if cmd.reply is None else f"{said} -> {cmd.reply}"


def _redis_operation(words: tuple[str, ...]) -> str:
    command = words[0].upper() if words else "?"
    if command in ("EVALSHA", "EVAL", "FCALL") and len(words) > 3:
        return f"{command} {words[3]}"
    return " ".join([command, *words[1:2]])


class Recorder:
    """Gathers one stack's evidence. Which process owns which Redis client port
    is read while the processes run, so :meth:`snapshot` (called before the
    stack stops) keeps that, the Redis commands and the keyspace for the bundle
    written after the teardown."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self._owners: dict[int, str] = {}
        self._commands: list[RedisCommand] | None = None
        self._keyspace: dict[str, Any] | None = None
        stack.before_restart.append(self._learn_owners)  # a restarted process's connections go with it

    def _learn_owners(self) -> None:
        parts: list[tuple[str, int]] = [(TEST, os.getpid())]
        for proc in self.stack.processes:
            with contextlib.suppress(RuntimeError):
                parts.append((proc.name, proc.pid))
        if self.stack.proxy is not None and self.stack.links:
            with contextlib.suppress(RuntimeError):
                parts.append((_PROXY, self.stack.proxy.process.pid))
        for name, pid in parts:
            with contextlib.suppress(psutil.Error):
                for conn in psutil.Process(pid).net_connections(kind="tcp"):
                    if conn.laddr:
                        self._owners[conn.laddr.port] = name

    def _owner(self, part: str, client: str) -> str:
        """Who sent ``part`` what came from address ``client``: the process that owns
        that port; for the fault proxy, the client of the one proxied edge to ``part``."""
        port = client.rsplit(":", 1)[-1]
        if not port.isdigit():
            return client
        owner = self._owners.get(int(port), f"client :{port}")
        if owner == _PROXY:
            proxied = {e.client for e in self.stack.topology.edges() if e.server == part and e.name in self.stack.links}
            return proxied.pop() if len(proxied) == 1 else owner
        return owner

    def snapshot(self) -> None:
        """Keep what goes with the stack: its Redis commands, its public keys, who owns which connection."""
        self._learn_owners()
        if self.stack.redis_backend is None:
            return
        with contextlib.suppress(Exception):
            self._commands = self.stack.redis.commands()
        with contextlib.suppress(Exception):
            self._keyspace = self._read_keyspace()

    def _read_keyspace(self) -> dict[str, Any] | None:
        declared = self.stack.topology.redis
        if declared is None or declared.keyspace is None:
            return None
        import redis

        client = redis.Redis.from_url(
            self.stack.redis.url, decode_responses=True, socket_timeout=1, socket_connect_timeout=1, protocol=2
        )
        try:
            read: dict[str, Any] = load(declared.keyspace)(client, self.stack.redis.key_prefix)
            return read
        finally:
            client.close()

    def _caller(self, part: str) -> str:
        """Who called ``part``, by the topology's edges (several: each named, "a|b")."""
        return "|".join(self.stack.topology.callers(part)) or "?"

    def _caller_at(self, part: str, peer: object) -> str:
        """Who called ``part`` from address ``peer`` (as its log line names the caller):
        the process that owns that port, else whoever the edges say may call it."""
        if isinstance(peer, str) and not (owner := self._owner(part, peer)).startswith("client :"):
            return owner
        return self._caller(part)

    def _redis_hops(self, commands: Iterable[RedisCommand], evidence: Evidence) -> None:
        for cmd in commands:
            if not cmd.words or cmd.words[0].upper() in _REDIS_CHATTER:
                evidence.chatter["redis connection and ping commands"] += 1
                continue
            status = f"ERR {cmd.error}" if cmd.error else "ok"
            evidence.hops.append(
                Hop(
                    cmd.at,
                    self._owner(REDIS, cmd.client),
                    "redis",
                    _redis_operation(cmd.words),
                    status,
                    cmd.duration,
                    None,
                    cmd.error is not None,
                    "redis commands",
                    _redis_text(cmd),
                    _redis_subject(cmd.words),
                )
            )

    def evidence(self, for_bundle: bool = True) -> Evidence:
        """The hops, from the logs, journals and Redis commands as they are now,
        and (``for_bundle``) the files of the bundle."""
        stack = self.stack
        evidence = Evidence(trace_id=stack.trace_id)
        live = self._commands is None  # no snapshot yet: the stack still runs
        if live:
            self._learn_owners()
        for proc in stack.processes:
            _log_hops(proc.name, functools.partial(self._caller_at, proc.name), proc.all_logs_text(), evidence)
        for name, stub in stack.stubs.items():
            _stub_hops(stub, self._caller(name), name, evidence)
        commands: list[RedisCommand] = []
        if live and stack.redis_backend is not None:
            with contextlib.suppress(Exception):
                commands = stack.redis.commands()
        elif self._commands is not None:
            commands = self._commands
        self._redis_hops(commands, evidence)
        if for_bundle:
            self._files(commands, evidence)
        return evidence

    def _files(self, commands: list[RedisCommand], evidence: Evidence) -> None:
        stack = self.stack
        for name, stub in stack.stubs.items():
            evidence.files[f"journals/{name}.txt"] = stub.format_log()
        evidence.files["redis/commands.txt"] = (
            "".join(
                f"{c.at:.6f} {self._owner(REDIS, c.client):<12} {' '.join([c.words[0].upper(), *c.words[1:]])}"
                + (f"  -> ERR {c.error}" if c.error else "")
                + (f"  ({c.duration * 1000:.2f} ms)" if c.duration is not None else "")
                + "\n"
                for c in commands
            )
            or "no Redis command was recorded\n"
        )
        declared = stack.topology.redis
        if declared is None or declared.keyspace is None:
            keyspace: dict[str, Any] = {"note": "the topology declares no public keyspace to read"}
        else:
            keyspace = self._keyspace if self._keyspace is not None else {"note": "not read: the stack had stopped"}
        evidence.files["redis/keyspace.json"] = json.dumps(keyspace, indent=1, sort_keys=True) + "\n"
        evidence.files["binaries.json"] = (
            json.dumps(
                {
                    name: {**{k: str(v) for k, v in asdict(b).items()}, "sha256": file_sha256(b.path)}
                    for name, b in sorted(stack.binaries.items())
                },
                indent=1,
            )
            + "\n"
        )
        evidence.files["fault-proxy-links.txt"] = stack.describe_links() + "\n"
