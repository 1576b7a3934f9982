"""The ``stack`` and ``login`` sections: ``start_stack`` to ready, whole and per component
(as ``start_stack`` records them in ``Stack.timings``), its teardown, and a login flow over a fresh stack."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from benchlib.common import Options, say
from benchlib.machine import nproc
from benchlib.redis_backends import RealRedisServer
from benchlib.report import EN_DASH, Goal, Section, Stats, ms, span, table, verdict
from benchlib.runs import service_binaries

if TYPE_CHECKING:  # imported at run time only once sys.path holds the project root
    from gatewayauthsession.stack import Stack
    from harness.redis.backends import RedisBackend

GOAL_STACK_P50_MS = 20.0

COMPONENTS = (
    "fakeredis server",
    "mail stub",
    "user stub",
    "materials (generate + write)",
    "services spawned",
    "services → ready",
)
# Each service's own spawn → ready, side by side (they overlap "services → ready", so are not summed).
SIDE_BY_SIDE = ("authsession spawn → ready", "gateway spawn → ready")
TEARDOWN = ("gateway process", "authsession process", "mail stub", "user stub", "redis")


def _stop_timed(stack: Stack, samples: dict[str, float]) -> None:
    """Stop ``stack`` part by part, in the order of ``Stack.stop``, timing each; then
    ``Stack.stop`` itself (every part's stop is idempotent) so nothing is left. The
    stack loop opens no API clients, so closing them is left to ``Stack.stop``."""
    parts: list[tuple[str, Callable[[], object]]] = [
        ("gateway process", stack.gateway.stop),
        ("authsession process", stack.authsession.stop),
        ("mail stub", stack.mail.stop),
        ("user stub", stack.user_stub.stop),
        ("redis", stack.redis.stop),
    ]
    for name, stop in parts:
        started = time.perf_counter()
        stop()
        samples[name] = time.perf_counter() - started
    stack.stop()


def bench_stack(opts: Options) -> Section:
    from gatewayauthsession.stack import start_stack

    section = Section("Isolated stack: start → ready")
    binaries = service_binaries()
    total = opts.warmup + opts.iterations

    whole: list[float] = []
    stops: list[float] = []
    parts: dict[str, list[float]] = {
        name: [] for name in (*COMPONENTS, *SIDE_BY_SIDE, "whole (instrumented)", "sum", "other")
    }
    down: dict[str, list[float]] = {name: [] for name in TEARDOWN}
    say(f"stack: {total} iterations ({opts.warmup} warm-up), each a plain start_stack, then one stopped part by part")
    for i in range(total):
        with tempfile.TemporaryDirectory(prefix="bench-stack-") as tmp:
            started = time.perf_counter()
            stack = start_stack(Path(tmp), binaries)
            elapsed = time.perf_counter() - started
            started = time.perf_counter()
            stack.stop()
            stopped = time.perf_counter() - started
        if i >= opts.warmup:
            whole.append(elapsed)
            stops.append(stopped)

        stop_samples: dict[str, float] = {}
        with tempfile.TemporaryDirectory(prefix="bench-stack-") as tmp:
            started = time.perf_counter()
            stack = start_stack(Path(tmp), binaries)
            elapsed = time.perf_counter() - started
            samples = dict(stack.timings)  # start_stack's own record of each part
            for name, process in zip(SIDE_BY_SIDE, (stack.authsession, stack.gateway), strict=True):
                samples[name] = process.startup_seconds or 0.0
            _stop_timed(stack, stop_samples)
        if i < opts.warmup:
            continue
        missing = set(COMPONENTS) - set(samples)
        if missing:
            raise RuntimeError(f"start_stack did not go through {sorted(missing)}; update scripts/benchlib/stack.py")
        for name in (*COMPONENTS, *SIDE_BY_SIDE):
            parts[name].append(samples[name])
        accounted = sum(samples[name] for name in COMPONENTS)
        parts["whole (instrumented)"].append(elapsed)
        parts["sum"].append(accounted)
        parts["other"].append(elapsed - accounted)
        for name in TEARDOWN:
            down[name].append(stop_samples[name])
    say(f"  whole: p50 {Stats.of(whole).p50 * 1000:.1f}ms")

    w = Stats.of(whole)
    met = w.p50 * 1000 <= GOAL_STACK_P50_MS
    section.goals.append(
        Goal(f"isolated stack start → ready, p50 ≤ {GOAL_STACK_P50_MS:.0f} ms (2-core machine)", ms(w.p50), met)
    )

    def row(label: str, values: Sequence[float]) -> list[str]:
        s = Stats.of(values)
        return [label, ms(s.p50), ms(s.p95), span(s, ms)]

    header = ["", "p50", "p95", f"min {EN_DASH} max"]
    section.lines += [
        f"Goal: whole-stack p50 ≤ {GOAL_STACK_P50_MS:.0f} ms on the 2-core machine (this one: {nproc()} CPUs) — "
        f"{verdict(met)} ({ms(w.p50)}).",
        "",
        f"Whole: `gatewayauthsession.stack.start_stack` with the suite's default settings and fakeredis, "
        f"{w.n} iterations after {opts.warmup} warm-up (the warm-up pays the one-off imports that the suite "
        f"pays once per worker), each in a fresh directory; `Stack.stop()` timed separately.",
        "",
        *table(header, [row("**whole stack** (`start_stack`)", whole), row("teardown (`Stack.stop()`)", stops)]),
        "",
        "Per component: in the same iterations, right after each plain one, a second `start_stack`, as "
        "`start_stack` records each part's time itself (`Stack.timings`; "
        '"other" is the rest of `start_stack`: environment assembly, the fault-proxy check, `ExitStack` '
        "bookkeeping). The harness binds authsession's gRPC socket and hands it over (`fd://N`), so both "
        'services are spawned at once and "services → ready" waits for the two side by side; each one\'s own '
        "spawn → ready overlaps it and is shown below the sum, not in it.",
        "",
        *table(
            ["component", *header[1:]],
            [
                *(row(name, parts[name]) for name in COMPONENTS),
                row("*sum of components*", parts["sum"]),
                row("*other*", parts["other"]),
                row("*whole (this loop)*", parts["whole (instrumented)"]),
                *(row(f"{name} (side by side)", parts[name]) for name in SIDE_BY_SIDE),
            ],
        ),
        "",
        "Teardown per part, in `Stack.stop()`'s order (same loop):",
        "",
        *table(["part", *header[1:]], [row(name, down[name]) for name in TEARDOWN]),
        "",
        "Each registered suite's stack (`pyproject.toml`'s suites), started from its declaration alone as its "
        "tests start it (`harness.topology.stack.start_stack` with the declared topology, no setting given, "
        f"fakeredis), {opts.iterations} iterations after {opts.warmup} warm-up each, one suite after the other:",
        "",
        *table(["suite (its parts)", *header[1:]], [row(label, samples) for label, samples in _suite_stacks(opts)]),
    ]
    return section


def _suite_stacks(opts: Options) -> list[tuple[str, list[float]]]:
    """Start → ready of every registered suite's declared stack."""
    from harness.suites.registry import suites
    from harness.topology.programs import binary_for
    from harness.topology.stack import start_stack

    measured: list[tuple[str, list[float]]] = []
    for suite in suites():
        topology = suite.topology()
        binaries = {service.name: binary_for(service) for service in topology.services}
        samples: list[float] = []
        for i in range(opts.warmup + opts.iterations):
            with tempfile.TemporaryDirectory(prefix=f"bench-{suite.name}-") as tmp:
                started = time.perf_counter()
                stack = start_stack(topology, Path(tmp), binaries)
                elapsed = time.perf_counter() - started
                stack.stop()
            if i >= opts.warmup:
                samples.append(elapsed)
        parts = [service.name for service in topology.services] + list(topology.stubs)
        if topology.redis is not None:
            parts.append("redis")
        label = f"`{suite.name}` ({', '.join(parts)})"
        say(f"  {label}: p50 {Stats.of(samples).p50 * 1000:.1f}ms")
        measured.append((label, samples))
    return measured


# --------------------------------------------------------------------------- login flow


def _login_samples(stack: Stack, index: int, into: dict[str, list[float]]) -> None:
    """start + confirm + me: over HTTP on fresh connections, over HTTP again, over gRPC twice."""

    def flow(transport: str, email: str, breakdown: bool = False) -> float:
        api = stack.api("http" if transport == "http" else "grpc")
        t0 = time.perf_counter()
        challenge = api.start_email_login(email)
        t1 = time.perf_counter()
        code = stack.mail.last_code(email)
        t2 = time.perf_counter()
        login = api.confirm_email_login(challenge.challenge_id, code)
        t3 = time.perf_counter()
        api.me(login.access_token)
        t4 = time.perf_counter()
        if breakdown:
            into["  start_email_login"].append(t1 - t0)
            into["  confirm_email_login"].append(t3 - t2)
            into["  me"].append(t4 - t3)
        return t4 - t0

    into["HTTP, first login on a fresh stack"].append(flow("http", f"first{index}@example.com"))
    into["HTTP, second login (warm connections)"].append(flow("http", f"second{index}@example.com", True))
    into["gRPC, first login (fresh channel)"].append(flow("grpc", f"third{index}@example.com"))
    into["gRPC, second login"].append(flow("grpc", f"fourth{index}@example.com"))


LOGIN_ROWS = (
    "HTTP, first login on a fresh stack",
    "HTTP, second login (warm connections)",
    "  start_email_login",
    "  confirm_email_login",
    "  me",
    "gRPC, first login (fresh channel)",
    "gRPC, second login",
)


def bench_login(opts: Options, real: RealRedisServer) -> Section:
    from gatewayauthsession.stack import start_stack
    from harness.redis.backends import RealRedis

    section = Section("Login flow over a stack (start + confirm + me)")
    binaries = service_binaries()
    backends: dict[str, Callable[[], RedisBackend | None]] = {"fakeredis": lambda: None}
    if real.addr is not None:
        addr = real.addr
        backends["real redis-server"] = lambda: RealRedis(addr)
    results: dict[str, dict[str, list[float]]] = {name: {row: [] for row in LOGIN_ROWS} for name in backends}
    total = opts.warmup + opts.iterations
    say(f"login: {total} stacks per backend ({', '.join(backends)}), interleaved")
    for i in range(total):
        for name, backend in backends.items():
            samples: dict[str, list[float]] = {row: [] for row in LOGIN_ROWS}
            with tempfile.TemporaryDirectory(prefix="bench-login-") as tmp:
                stack = start_stack(Path(tmp), binaries, redis=backend())
                try:
                    _login_samples(stack, i, samples)
                    stack.check_stubs()
                finally:
                    stack.stop()
            if i >= opts.warmup:
                for row in LOGIN_ROWS:
                    results[name][row] += samples[row]
    header = ["flow"]
    for name in backends:
        header += [f"{name} p50", f"{name} p95"]
    rows = []
    for row in LOGIN_ROWS:
        cells = [row.replace("  ", "&nbsp;&nbsp;↳ ")]
        for name in backends:
            s = Stats.of(results[name][row])
            cells += [ms(s.p50), ms(s.p95)]
        rows.append(cells)
    first = Stats.of(results["fakeredis"][LOGIN_ROWS[0]])
    say(f"  fakeredis, first HTTP login: p50 {first.p50 * 1000:.1f}ms")
    section.lines += [
        f"A fresh `start_stack` per iteration ({opts.iterations} after {opts.warmup} warm-up), four logins each "
        "through the suite's own clients (`stack.api(...)`); the code is read from the mail stub as the tests do. "
        "No goal; it shows where a scenario's time goes.",
        "",
        *table(header, rows),
    ]
    if real.addr is None:
        section.lines += ["", f"Real redis-server: not measured: {real.reason}."]
    return section
