"""What a failing test of this suite leaves behind (harness.forensics.bundle.Evidence):
the hops its requests made, read from both services' JSON-line logs
(``galaxy/README.md``, ``contracts/tracing.md``), the mail and user stubs'
journals and the stack's Redis commands; and files for its bundle: the
journals, the commands, a snapshot of the public keyspace
(``contracts/redis.md``) and the binaries' hashes.

The test calls the gateway; the gateway calls authsession and reads Redis;
authsession calls mail, user and Redis. A Redis command is put down to the
process whose connection sent it (its client port), and to the trace of the
call that process was serving then."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import psutil

from contracts.redis_schema import public_keyspace
from contracts.tracing import SPAN_ID_KEY, TRACE_ID_KEY, Traceparent
from harness.forensics.bundle import Evidence, file_sha256
from harness.forensics.timeline import Hop, json_lines, parse_time
from harness.redis.commands import RedisCommand
from harness.stubs.server import HttpStub

if TYPE_CHECKING:
    from gatewayauthsession.stack import Stack

__all__ = ["Recorder"]

TEST = "test"
_HEALTH = {"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch", "/healthz", "/readyz"}
_CALLER = {"gateway": TEST, "authsession": "gateway"}
# gRPC codes that mean the server side failed, not that the caller was refused.
_SERVER_FAULTS = {"Internal", "Unknown", "Unavailable", "DeadlineExceeded", "DataLoss", "Unimplemented", "Aborted"}
_LIFECYCLE = {"starting", "serving", "shutting down", "stopped"}
_REDIS_CHATTER = {"PING", "HELLO", "CLIENT", "SELECT", "INFO", "COMMAND", "READONLY", "AUTH", "MONITOR"}


def _log_hops(service: str, text: str, evidence: Evidence) -> None:
    for record in json_lines(text):
        at = parse_time(record.get("time"))
        if at is None:
            continue
        msg = str(record.get("msg", ""))
        trace_id = record.get(TRACE_ID_KEY)
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
                Hop(start, _CALLER[service], service, operation, status, duration, trace_id, error, origin, detail)
            )
        elif msg in _LIFECYCLE or record.get("level") in ("WARN", "ERROR"):
            level = str(record.get("level", ""))
            skip = {"time", "level", "msg", "service", TRACE_ID_KEY, SPAN_ID_KEY}
            detail = ", ".join(f"{k}={v}" for k, v in record.items() if k not in skip)
            evidence.hops.append(
                Hop(at, service, service, msg, level, None, trace_id, level == "ERROR", origin, detail)
            )
        else:
            evidence.chatter[f"{str(record.get('level', 'other')).lower()} lines"] += 1


def _stub_hops(stub: HttpStub, caller: str, target: str, evidence: Evidence) -> None:
    for rec in stub.requests:
        trace_id = None
        with contextlib.suppress(Exception):
            trace_id = Traceparent.parse(rec.header("traceparent")).trace_id
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
        proxied = [name.split("->")[0] for name in self.stack.links if name.endswith("->redis")]
        if self.stack.proxy is not None and proxied:
            with contextlib.suppress(RuntimeError):
                parts.append((proxied[0] if len(proxied) == 1 else "fault proxy", self.stack.proxy.process.pid))
        for name, pid in parts:
            with contextlib.suppress(psutil.Error):
                for conn in psutil.Process(pid).net_connections(kind="tcp"):
                    if conn.laddr:
                        self._owners[conn.laddr.port] = name

    def _owner(self, client: str) -> str:
        port = client.rsplit(":", 1)[-1]
        return self._owners.get(int(port), f"client :{port}") if port.isdigit() else client

    def snapshot(self) -> None:
        """Keep what goes with the stack: its Redis commands, its public keys, who owns which connection."""
        self._learn_owners()
        with contextlib.suppress(Exception):
            self._commands = self.stack.redis.commands()
        with contextlib.suppress(Exception):
            self._keyspace = self._read_keyspace()

    def _read_keyspace(self) -> dict[str, Any]:
        import redis

        client = redis.Redis.from_url(
            self.stack.redis.url, decode_responses=True, socket_timeout=1, socket_connect_timeout=1, protocol=2
        )
        try:
            return public_keyspace(client, self.stack.redis.key_prefix)
        finally:
            client.close()

    def _redis_hops(self, commands: Iterable[RedisCommand], evidence: Evidence) -> None:
        for cmd in commands:
            if not cmd.words or cmd.words[0].upper() in _REDIS_CHATTER:
                evidence.chatter["redis connection and ping commands"] += 1
                continue
            status = f"ERR {cmd.error}" if cmd.error else "ok"
            evidence.hops.append(
                Hop(
                    cmd.at,
                    self._owner(cmd.client),
                    "redis",
                    _redis_operation(cmd.words),
                    status,
                    cmd.duration,
                    None,
                    cmd.error is not None,
                    "redis commands",
                    cmd.error or "",
                )
            )

    def evidence(self, for_bundle: bool = True) -> Evidence:
        """The hops, from the logs, journals and Redis commands as they are now,
        and (``for_bundle``) the files of the bundle."""
        stack = self.stack
        evidence = Evidence(trace_id=stack.trace.trace_id)
        for proc in stack.processes:
            _log_hops(proc.name, proc.all_logs_text(), evidence)
        _stub_hops(stack.mail, "authsession", "mail", evidence)
        _stub_hops(stack.users, "authsession", "user", evidence)
        commands: list[RedisCommand] = []
        if self._commands is None:
            self._learn_owners()
            with contextlib.suppress(Exception):
                commands = stack.redis.commands()
        else:
            commands = self._commands
        self._redis_hops(commands, evidence)
        if for_bundle:
            self._files(commands, evidence)
        return evidence

    def _files(self, commands: list[RedisCommand], evidence: Evidence) -> None:
        stack = self.stack
        evidence.files["journals/mail.txt"] = stack.mail.format_log()
        evidence.files["journals/user.txt"] = stack.users.format_log()
        evidence.files["redis/commands.txt"] = (
            "".join(
                f"{c.at:.6f} {self._owner(c.client):<12} {' '.join([c.words[0].upper(), *c.words[1:]])}"
                + (f"  -> ERR {c.error}" if c.error else "")
                + (f"  ({c.duration * 1000:.2f} ms)" if c.duration is not None else "")
                + "\n"
                for c in commands
            )
            or "no Redis command was recorded\n"
        )
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
