"""A stack to explore by hand: ``nox -s up`` and ``--keep-stack-on-failure``.

    python -m gatewayauthsession.explore [--set code_ttl=1m ...] [--links all]

raises a stack (the suite's, with the settings given), prints its endpoints
with ready-to-paste curl and grpcurl lines, then prints each login code as
the mail service receives it, until Ctrl-C (or SIGTERM). The services run in
their own process groups with a parent-death signal and this run's tag, so
nothing outlives it; their logs stay under ``reports/up/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import FrameType
from typing import TextIO

from gatewayauthsession.stack import LINKS, Stack, StackSettings, start_stack
from harness.builds.binary import build
from harness.faults.toxiproxy import ToxiproxyServer
from harness.paths import PROJECT_ROOT, REPORTS_DIR
from harness.processes.sweep import reap_run, start_run, sweep
from harness.suites.grpcurl import grpcurl_prefix

__all__ = ["endpoints", "hold", "main"]

SERVICES = ("authsession", "gateway")


def endpoints(stack: Stack) -> str:
    """Where every part of ``stack`` listens, with lines to paste into a shell, each working as printed
    (tests/harness/test_up_commands.py runs them)."""
    from grpc_health.v1 import health_pb2

    from contracts.gatewayv1._pb import gateway_pb2

    http = "http://" + stack.gateway.address("http")
    grpc = stack.gateway.address("grpc")
    rpc = "galaxy.gateway.v1.GatewayService"
    grpcurl = grpcurl_prefix(stack.workdir / "grpcurl.protoset", gateway_pb2.DESCRIPTOR, health_pb2.DESCRIPTOR)
    lines = [
        f"gateway HTTP   {http}   (OpenAPI: {http}/openapi.json)",
        f"gateway gRPC   {grpc}",
        f"authsession    {stack.authsession.address('grpc')} (gRPC, galaxy.authsession.v1)",
        f"Redis          {stack.redis.url}   key prefix {stack.redis.key_prefix!r}",
        f"mail stub      {stack.mail.url}",
        f"user stub      {stack.users.url}",
        f"logs           {stack.authsession.log_path}  {stack.gateway.log_path}",
    ]
    if stack.links:
        lines.append("fault-proxy links (client -> proxy -> server):")
        lines += [f"  {name:22} {link.listen} -> {link.upstream}" for name, link in stack.links.items()]
    lines += [
        "",
        "Log in over HTTP (the code is printed below when it is mailed):",
        f"  curl -s {http}/v1/auth/email/start -H 'Content-Type: application/json' "
        '-d \'{"email": "you@example.com"}\'',
        f"  curl -s {http}/v1/auth/email/confirm -H 'Content-Type: application/json' "
        '-d \'{"challenge_id": "CHALLENGE", "code": "CODE"}\'',
        f"  curl -s {http}/v1/me -H 'Authorization: Bearer ACCESS_TOKEN'",
        f"  curl -s {http}/readyz",
        "Or over gRPC:",
        f'  {grpcurl} -d \'{{"email": "you.grpc@example.com"}}\' {grpc} {rpc}/StartEmailLogin',
        f"  {grpcurl} -H 'authorization: Bearer ACCESS_TOKEN' {grpc} {rpc}/GetMe",
        f"  {grpcurl} -d '{{}}' {grpc} grpc.health.v1.Health/Check",
        "The sessions in Redis:",
        f"  redis-cli -u {stack.redis.url} --scan --pattern '{stack.redis.key_prefix}session:*'",
    ]
    return "\n".join(lines)


class _Stop(Exception):
    """SIGTERM or SIGINT: time to stop the stack."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def hold(stack: Stack, out: TextIO, *, until: Callable[[], bool] = lambda: False) -> str:
    """Print ``stack``'s endpoints, then every code mailed, until SIGINT or
    SIGTERM (or ``until()``); returns what ended it. The caller stops the stack."""
    previous = {s: signal.signal(s, _raise_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(endpoints(stack), file=out)
        print("\nHolding the stack; Ctrl-C stops it.", file=out, flush=True)
        seen = 0
        while not until():
            messages = stack.mail.messages
            for message in messages[seen:]:
                print(
                    f"mail: code {message.data.get('code')} for {message.to} (challenge {message.idempotency_key})",
                    file=out,
                    flush=True,
                )
            seen = len(messages)
            time.sleep(0.1)
        return "done"
    except _Stop as stop:
        return str(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _settings(pairs: Sequence[str], links: str | None) -> StackSettings:
    fields = {f.name: f for f in dataclasses.fields(StackSettings)}
    values: dict[str, object] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or name not in fields or name == "links":
            raise SystemExit(f"--set takes NAME=VALUE with NAME one of {sorted(set(fields) - {'links'})}, not {pair!r}")
        values[name] = int(value) if fields[name].type in (int, "int") else value
    if links:
        values["links"] = "all" if links == "all" else tuple(links.split(","))
    return StackSettings(**values)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nox -s up --", description="Raise a stack to explore by hand.")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a StackSettings field")
    parser.add_argument("--links", help=f"links through the fault proxy: 'all' or a comma list of {', '.join(LINKS)}")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the stubs' request lines would drown the printout
    try:
        settings = _settings(args.set, args.links)
        settings.proxied_links()
    except (TypeError, ValueError) as exc:
        parser.error(str(exc))
    run_id = start_run()
    sweep(keep=run_id)
    workdir = REPORTS_DIR / "up" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    print(f"building (or finding) {', '.join(SERVICES)} ...", file=sys.stderr, flush=True)
    binaries = {name: build(name) for name in SERVICES}
    proxy = ToxiproxyServer(workdir / "toxiproxy").start() if settings.links else None
    try:
        stack = start_stack(workdir, binaries, settings, proxy=proxy)
        try:
            why = hold(stack, sys.stdout)
        finally:
            stack.stop()
        print(f"\nstopped ({why}); logs in {workdir.relative_to(PROJECT_ROOT)}", file=sys.stderr)
    finally:
        if proxy is not None:
            proxy.stop()
        reap_run(run_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
