"""A stack to explore by hand: ``nox -s up`` and ``--keep-stack-on-failure``.

    python -m harness.topology.explore [SUITE] [--set NAME=VALUE ...] [--links all]

raises a stack of a registered suite (the first one when none is named), with
the settings given, prints its endpoints with lines to paste into a shell (and
whatever the suite adds: ``Topology.notes``), then prints each request a stub
receives, until Ctrl-C (or SIGTERM). The services run in their own process
groups with a parent-death signal and this run's tag, so nothing outlives it;
their logs stay under ``reports/up/<suite>/``.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import FrameType
from typing import TextIO

from harness.faults.toxiproxy import ToxiproxyServer
from harness.paths import PROJECT_ROOT, REPORTS_DIR
from harness.processes.sweep import reap_run, start_run, sweep
from harness.suites.registry import suites
from harness.topology.declaration import Topology, load
from harness.topology.programs import binary_for
from harness.topology.settings import Settings, SettingsError
from harness.topology.stack import Stack, start_stack

__all__ = ["endpoints", "hold", "main"]


def endpoints(stack: Stack) -> str:
    """Where every part of ``stack`` listens, with lines to paste into a shell
    (from the project root)."""
    lines = []
    for service in stack.topology.services:
        for listener in service.listens:
            lines.append(f"{service.name:12} {listener:5} {stack.address(service.name, listener)}")
    if stack.redis_backend is not None:
        lines.append(f"{'redis':12} {'':5} {stack.redis.url}   key prefix {stack.redis.key_prefix!r}")
    lines += [f"{name:12} {'stub':5} {stub.url}" for name, stub in stack.stubs.items()]
    lines.append("logs         " + "  ".join(str(p.log_path) for p in stack.processes))
    if stack.links:
        lines.append("fault-proxy links (client -> proxy -> server):")
        lines += [f"  {name:28} {link.listen} -> {link.upstream}" for name, link in stack.links.items()]
    probes = []
    for service in stack.topology.services:
        for listener, path in service.probes.items():
            probes.append(f"  curl -s http://{stack.address(service.name, listener)}{path}")
    if probes:
        lines += ["", "Readiness:", *probes]
    if stack.topology.notes:
        notes: Callable[[Stack], list[str]] = load(stack.topology.notes)
        lines += ["", *notes(stack)]
    return "\n".join(lines)


class _Stop(Exception):
    """SIGTERM or SIGINT: time to stop the stack."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def _journal_line(name: str, request: object) -> str:
    method = getattr(request, "method", "?")
    path = getattr(request, "path", "?")
    body = getattr(request, "json", None)
    return f"{name}: {method} {path} {json.dumps(body, sort_keys=True) if body is not None else ''}".rstrip()


def hold(stack: Stack, out: TextIO, *, until: Callable[[], bool] = lambda: False) -> str:
    """Print ``stack``'s endpoints, then every request its stubs receive, until SIGINT
    or SIGTERM (or ``until()``); returns what ended it. The caller stops the stack."""
    previous = {s: signal.signal(s, _raise_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(endpoints(stack), file=out)
        print("\nHolding the stack; Ctrl-C stops it.", file=out, flush=True)
        seen = dict.fromkeys(stack.stubs, 0)
        while not until():
            for name, stub in stack.stubs.items():
                requests = stub.requests
                for request in requests[seen[name] :]:
                    print(_journal_line(name, request), file=out, flush=True)
                seen[name] = len(requests)
            time.sleep(0.1)
        return "done"
    except _Stop as stop:
        return str(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _given(topology: Topology, pairs: Sequence[str]) -> Settings:
    values: dict[str, object] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SettingsError(f"--set takes NAME=VALUE, not {pair!r}")
        values[name] = value
    return Settings(topology, values)


def main(argv: Sequence[str] | None = None) -> int:
    registered = suites()
    parser = argparse.ArgumentParser(prog="nox -s up --", description="Raise a stack to explore by hand.")
    parser.add_argument("suite", nargs="?", default=registered[0].name, choices=[s.name for s in registered])
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a documented setting")
    parser.add_argument("--links", help="edges through the fault proxy: 'all' or a comma list of edge names")
    args = parser.parse_args(argv)
    topology = next(s for s in registered if s.name == args.suite).topology()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the stubs' request lines would drown the printout
    links: list[str] | str = ("all" if args.links == "all" else args.links.split(",")) if args.links else []
    try:
        settings = _given(topology, args.set)
        edges = [e.name for e in topology.edges()]
        if links != "all" and (unknown := [x for x in links if x not in edges]):
            raise SettingsError(f"unknown links {unknown}; {topology.name}'s edges: {', '.join(edges)} or 'all'")
    except SettingsError as exc:
        parser.error(str(exc))
    run_id = start_run()
    sweep(keep=run_id)
    workdir = REPORTS_DIR / "up" / topology.name / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    print(f"building (or finding) {', '.join(s.name for s in topology.services)} ...", file=sys.stderr, flush=True)
    binaries = {s.name: binary_for(s) for s in topology.services}
    proxy = ToxiproxyServer(workdir / "toxiproxy").start() if links else None
    try:
        stack = start_stack(topology, workdir, binaries, settings, proxy=proxy, links=links)
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
