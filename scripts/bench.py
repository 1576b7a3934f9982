"""Benchmarks of galaxy integration; ``nox -s bench`` runs this and writes BENCHMARKS.md.

    python scripts/bench.py                       # everything, default sizes
    python scripts/bench.py --quick               # fewer iterations and repeats
    python scripts/bench.py --only stack,build    # some sections only
    python scripts/bench.py --iterations 50 --repeats 5

Sections (``--only``):

* ``build`` — ``harness.binary.build`` into a fresh cache directory (cold), then again (cached);
* ``stack`` — ``start_stack`` to ready, whole and per component (fakeredis server, stubs, keys,
  both processes), and the teardown;
* ``peers`` — ``ServiceProcess`` against mirakuru's ``HTTPExecutor`` and a 100 ms poll loop, one binary;
* ``login`` — a login flow (start + confirm + me) over a fresh stack, on fakeredis and on a real Redis;
* ``redis`` — per-operation latency of fakeredis and a real redis-server, and the smoke suite on each;
* ``suite`` — the boundary suite's wall time against its floor (longest test, CPU work / cores);
* ``faults`` — a stack with every link through the fault proxy against a plain one, and the suite's
  wall time with and without the fault scenarios;
* ``nox`` — a warm ``nox -s gatewayauthsession`` against the pytest time inside it.

Every figure is measured in the run that writes it; what cannot be measured (no redis-server, a
failing build) is written as "not measured" with the reason.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Self, cast

if TYPE_CHECKING:  # imported at run time only once sys.path holds the project root
    import redis

    from gatewayauthsession.stack import Stack
    from harness.binary import Binary
    from harness.redis_server import RedisBackend

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("build", "stack", "peers", "login", "redis", "suite", "faults", "nox")
SERVICES = ("authsession", "gateway")

GOAL_STACK_P50_MS = 20.0
GOAL_NOX_OVERHEAD_S = 1.0
GOAL_FLOOR_RATIO = 1.3  # suite wall / its floor
GOAL_PEER_RATIO = 10.0  # mirakuru's defaults / ServiceProcess, to start and to stop
GOAL_FAULT_GROWTH = 4 / 3  # the fault scenarios may add at most a third to the suite's wall time
DEFAULT_NOX_SELECTION = "test_login_then_me_describes_the_session"
# what a pytest process (controller or xdist worker) of the suite imports that costs
SUITE_IMPORTS = (
    "pytest",
    "xdist",
    "grpc",
    "google.protobuf",
    "cryptography.hazmat.primitives.asymmetric.ed25519",
    "fakeredis",
    "redis",
    "werkzeug",
    "pytest_httpserver",
    "requests",
    "psutil",
)
TIMES, EN_DASH, MINUS = "\u00d7", "\u2013", "\u2212"  # for the Markdown: times sign, en dash, minus sign

_started = time.perf_counter()


def say(message: str) -> None:
    """Progress on the terminal."""
    print(f"bench [{time.perf_counter() - _started:7.1f}s] {message}", flush=True)


# --------------------------------------------------------------------------- statistics and formatting


@dataclass(frozen=True)
class Stats:
    """Samples in seconds; p95 is the nearest-rank percentile."""

    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> Self:
        if not values:
            raise ValueError("no samples")
        return cls(tuple(values))

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def p50(self) -> float:
        return statistics.median(self.values)

    @property
    def p95(self) -> float:
        ordered = sorted(self.values)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def max(self) -> float:
        return max(self.values)


def ms(seconds: float) -> str:
    value = seconds * 1000
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"


def secs(seconds: float) -> str:
    return f"{seconds:.2f} s"


def span(stats: Stats, fmt: Callable[[float], str]) -> str:
    return f"{fmt(stats.min)} {EN_DASH} {fmt(stats.max)}"


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}{TIMES}" if denominator > 0 else "n/a"


def verdict(met: bool) -> str:
    return "**met**" if met else "**not met**"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


@dataclass
class Goal:
    goal: str
    measured: str
    met: bool | None  # None: not judged (not measured, or measured with failing runs)


@dataclass
class Section:
    title: str
    lines: list[str] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    failed: bool = False


# --------------------------------------------------------------------------- environment


def _run_text(argv: Sequence[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"unknown ({exc})"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory() -> str:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    return "unknown"


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def _nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _xdist_auto_workers() -> str:
    """How many workers ``-n auto`` starts for the suite: its conftest's
    answer (two per CPU), else pytest-xdist's own."""
    try:
        config = SimpleNamespace(option=SimpleNamespace(numprocesses="auto"))
        suite: Any = importlib.import_module("gatewayauthsession.conftest")
        workers = suite.pytest_xdist_auto_num_workers(config)
        if workers is None:
            plugin: Any = importlib.import_module("xdist.plugin")
            workers = plugin.pytest_xdist_auto_num_workers(config)
        return str(workers)
    except Exception:
        return "?"


def _venv_bytecode() -> str:
    """Whether the dependencies' bytecode is cached (else every process compiles them on import)."""
    import importlib.util

    import grpc

    cached = importlib.util.cache_from_source(grpc.__file__ or "")
    return "yes" if Path(cached).exists() else "no"


def _git_commit() -> str:
    commit = _run_text(["git", "rev-parse", "--short=12", "HEAD"])
    dirty = _run_text(["git", "status", "--porcelain", "--untracked-files=no"])
    return commit + (" (with uncommitted changes)" if dirty and not dirty.startswith("unknown") else "")


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child run: without this process's harness run tag, so every
    pytest run owns (and sweeps) its own processes."""
    from harness.sweep import HARNESS_TAG_ENV

    env = {k: v for k, v in os.environ.items() if k != HARNESS_TAG_ENV}
    env.update(extra)
    return env


# --------------------------------------------------------------------------- child runs


_PYTEST_SUMMARY = re.compile(r"^=*\s*(?P<summary>.*?)\s+in (?P<secs>\d+(?:\.\d+)?)s\b")


@dataclass(frozen=True)
class Run:
    wall: float
    returncode: int
    summary: str  # pytest's last line, e.g. "116 passed"
    pytest_seconds: float | None  # pytest's own "in X.XXs"
    output: str
    cpu: float = 0.0  # user + system seconds of the whole process tree (every process it waited for)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_timed(argv: Sequence[str], env: dict[str, str] | None = None) -> Run:
    cpu_before = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, env=env or child_env(), capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    output = proc.stdout + proc.stderr
    summary, pytest_seconds = "", None
    for line in reversed(output.splitlines()):
        match = _PYTEST_SUMMARY.match(line.strip())
        if match and re.search(r"\b(passed|failed|error|errors|skipped|deselected|no tests ran)\b", line):
            summary, pytest_seconds = match["summary"], float(match["secs"])
            break
    return Run(wall, proc.returncode, summary or f"exit code {proc.returncode}", pytest_seconds, output, cpu)


def _show_run(label: str, run: Run) -> None:
    own = f", pytest says {run.pytest_seconds:.2f}s" if run.pytest_seconds is not None else ""
    say(f"  {label}: {run.wall:.2f}s wall ({run.summary}{own})")
    if run.returncode != 0:
        tail = "\n".join(run.output.splitlines()[-15:])
        say(f"  {label} exited with {run.returncode}; output tail:\n{tail}")


def prebuild() -> None:
    """Build (or find) the binaries before a timed run, so that a source changed meanwhile
    is not built inside the run; a failure is left for the run itself to report."""
    from harness.binary import build

    with contextlib.suppress(Exception):
        for service in SERVICES:
            build(service)


def pytest_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", *args]


def _summaries(runs: Sequence[Run]) -> str:
    distinct = sorted({r.summary for r in runs})
    return "; ".join(distinct)


# --------------------------------------------------------------------------- build


def bench_build(opts: Options) -> Section:
    from harness.binary import build

    section = Section("Build (`harness.binary.build`)")
    cold: dict[str, list[float]] = {s: [] for s in SERVICES}
    cached: dict[str, list[float]] = {s: [] for s in SERVICES}
    anomalies: list[str] = []
    for repeat in range(opts.repeats):
        for service in SERVICES:
            with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
                say(f"build {service}: cold into a fresh cache dir (repeat {repeat + 1}/{opts.repeats})")
                started = time.perf_counter()
                first = build(service, cache_dir=Path(tmp))
                cold[service].append(time.perf_counter() - started)
                started = time.perf_counter()
                second = build(service, cache_dir=Path(tmp))
                cached[service].append(time.perf_counter() - started)
                if first.cached or not second.cached:
                    anomalies.append(
                        f"{service} repeat {repeat + 1}: first call cached={first.cached}, "
                        f"second cached={second.cached}"
                    )
                say(f"  {service}: cold {cold[service][-1]:.2f}s, cached {cached[service][-1] * 1000:.1f}ms")
    rows = []
    for service in SERVICES:
        c, h = Stats.of(cold[service]), Stats.of(cached[service])
        rows.append([f"`{service}`", secs(c.p50), span(c, secs), ms(h.p50), span(h, ms), str(c.n)])
    section.lines += [
        "Cold: `build(service, cache_dir=<fresh temporary dir>)`: the harness cache misses and `go build` "
        "runs. Go's own build cache (`GOCACHE`) is left as it is and already holds these sources' packages, "
        "so `go build` mostly links; a changed package adds its compile time, and a first-ever build "
        "(empty `GOCACHE`) compiles every dependency (not measured). Cached: the same call again "
        "(hashes the workspace, finds the binary). No goal; for information.",
        "",
        *table(
            ["service", "cold p50", f"cold min {EN_DASH} max", "cached p50", f"cached min {EN_DASH} max", "runs"], rows
        ),
    ]
    if anomalies:
        section.lines += ["", "Unexpected cache states (a source changed during the run?): " + "; ".join(anomalies)]
    return section


# --------------------------------------------------------------------------- stack


COMPONENTS = (
    "fakeredis server",
    "mail stub",
    "user stub",
    "keys (generate + write)",
    "authsession process → ready",
    "gateway process → ready",
)
TEARDOWN = ("gateway process", "authsession process", "mail stub", "user stub", "redis")


def _binaries() -> dict[str, Binary]:
    from harness.binary import build

    return {service: build(service) for service in SERVICES}


@contextlib.contextmanager
def instrumented_stack(samples: dict[str, float]) -> Iterator[None]:
    """Make ``start_stack`` time its own steps: the harness classes that
    ``gatewayauthsession/stack.py`` uses are swapped, in that module only, for
    subclasses that add their construction / start time to ``samples``. The
    stack is built by the same code, with the same environment, as in the suite."""
    from unittest import mock

    import gatewayauthsession.stack as stack_module
    from harness.keys import KeySet
    from harness.mail_stub import MailStub
    from harness.process import ServiceProcess
    from harness.redis_server import FakeRedisServer
    from harness.user_stub import UserStub

    expected: dict[str, type] = {
        "FakeRedisServer": FakeRedisServer,
        "MailStub": MailStub,
        "UserStub": UserStub,
        "KeySet": KeySet,
        "ServiceProcess": ServiceProcess,
    }
    for name, cls in expected.items():
        if getattr(stack_module, name, None) is not cls:
            raise RuntimeError(
                f"gatewayauthsession/stack.py no longer uses harness's {name} by that name; "
                "update instrumented_stack() in scripts/bench.py"
            )

    def add(key: str, started: float) -> None:
        samples[key] = samples.get(key, 0.0) + time.perf_counter() - started

    class TimedFakeRedisServer(FakeRedisServer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            started = time.perf_counter()
            super().__init__(*args, **kwargs)
            add("fakeredis server", started)

    class TimedMailStub(MailStub):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            started = time.perf_counter()
            super().__init__(*args, **kwargs)
            add("mail stub", started)

        def start(self) -> Self:
            started = time.perf_counter()
            try:
                return super().start()
            finally:
                add("mail stub", started)

    class TimedUserStub(UserStub):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            started = time.perf_counter()
            super().__init__(*args, **kwargs)
            add("user stub", started)

        def start(self) -> Self:
            started = time.perf_counter()
            try:
                return super().start()
            finally:
                add("user stub", started)

    class TimedKeySet(KeySet):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            started = time.perf_counter()
            super().__init__(*args, **kwargs)
            add("keys (generate + write)", started)

        def write(self, directory: Path) -> tuple[Path, Path]:
            started = time.perf_counter()
            try:
                return super().write(directory)
            finally:
                add("keys (generate + write)", started)

    class TimedServiceProcess(ServiceProcess):
        def start(self) -> Self:
            started = time.perf_counter()
            try:
                return super().start()
            finally:
                add(f"{self.name} process → ready", started)

    replacements = {
        "FakeRedisServer": TimedFakeRedisServer,
        "MailStub": TimedMailStub,
        "UserStub": TimedUserStub,
        "KeySet": TimedKeySet,
        "ServiceProcess": TimedServiceProcess,
    }
    with contextlib.ExitStack() as patches:
        for name, replacement in replacements.items():
            patches.enter_context(mock.patch.object(stack_module, name, replacement))
        yield


def _stop_timed(stack: Stack, samples: dict[str, float]) -> None:
    """Stop ``stack`` part by part, in the order of ``Stack.stop``, timing each; then
    ``Stack.stop`` itself (every part's stop is idempotent) so nothing is left. The
    stack loop opens no API clients, so closing them is left to ``Stack.stop``."""
    parts: list[tuple[str, Callable[[], object]]] = [
        ("gateway process", stack.gateway.stop),
        ("authsession process", stack.authsession.stop),
        ("mail stub", stack.mail.stop),
        ("user stub", stack.users.stop),
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
    binaries = _binaries()
    total = opts.warmup + opts.iterations

    whole: list[float] = []
    stops: list[float] = []
    parts: dict[str, list[float]] = {name: [] for name in (*COMPONENTS, "whole (instrumented)", "sum", "other")}
    down: dict[str, list[float]] = {name: [] for name in TEARDOWN}
    say(f"stack: {total} iterations ({opts.warmup} warm-up), each a plain start_stack then an instrumented one")
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

        samples: dict[str, float] = {}
        stop_samples: dict[str, float] = {}
        with tempfile.TemporaryDirectory(prefix="bench-stack-") as tmp:
            with instrumented_stack(samples):
                started = time.perf_counter()
                stack = start_stack(Path(tmp), binaries)
                elapsed = time.perf_counter() - started
            _stop_timed(stack, stop_samples)
        if i < opts.warmup:
            continue
        missing = set(COMPONENTS) - set(samples)
        if missing:
            raise RuntimeError(f"start_stack did not go through {sorted(missing)}; update scripts/bench.py")
        for name in COMPONENTS:
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
        f"Goal: whole-stack p50 ≤ {GOAL_STACK_P50_MS:.0f} ms on the 2-core machine (this one: {_nproc()} CPUs) — "
        f"{verdict(met)} ({ms(w.p50)}).",
        "",
        f"Whole: `gatewayauthsession.stack.start_stack` with the suite's default settings and fakeredis, "
        f"{w.n} iterations after {opts.warmup} warm-up (the warm-up pays the one-off imports that the suite "
        f"pays once per worker), each in a fresh directory; `Stack.stop()` timed separately.",
        "",
        *table(header, [row("**whole stack** (`start_stack`)", whole), row("teardown (`Stack.stop()`)", stops)]),
        "",
        "Per component: in the same iterations, right after each plain one, a `start_stack` in which the "
        "harness classes it uses are wrapped by timing subclasses (same code, same environment as the suite; "
        '"other" is the rest of `start_stack`: environment assembly, `ExitStack` bookkeeping).',
        "",
        *table(
            ["component", *header[1:]],
            [
                *(row(name, parts[name]) for name in COMPONENTS),
                row("*sum of components*", parts["sum"]),
                row("*other*", parts["other"]),
                row("*whole (this loop)*", parts["whole (instrumented)"]),
            ],
        ),
        "",
        "Teardown per part, in `Stack.stop()`'s order (same loop):",
        "",
        *table(["part", *header[1:]], [row(name, down[name]) for name in TEARDOWN]),
    ]
    return section


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
    from harness.redis_server import RealRedis

    section = Section("Login flow over a stack (start + confirm + me)")
    binaries = _binaries()
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


# --------------------------------------------------------------------------- redis


@dataclass
class RealRedisServer:
    """A real Redis for the run: INTEGRATION_REAL_REDIS_ADDR, or a redis-server
    started here on a free loopback port, or none (``reason`` says why)."""

    addr: str | None = None
    source: str = ""
    reason: str = ""
    version: str = ""
    _proc: subprocess.Popen[bytes] | None = None
    _dir: tempfile.TemporaryDirectory[str] | None = None

    @classmethod
    @contextlib.contextmanager
    def provide(cls) -> Iterator[RealRedisServer]:
        from harness.redis_server import REAL_REDIS_ENV, real_redis_addr

        addr = real_redis_addr()
        if addr is not None:
            server = cls(addr, f"`{REAL_REDIS_ENV}={addr}`")
            server._probe()
            yield server
            return
        binary = shutil.which("redis-server")
        if binary is None:
            yield cls(reason=f"no redis-server: {REAL_REDIS_ENV} is unset and redis-server is not on PATH")
            return
        server = cls()
        try:
            server._start(binary)
            yield server
        finally:
            server._stop()

    def _start(self, binary: str) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self._dir = tempfile.TemporaryDirectory(prefix="bench-redis-")
        argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
        argv += ["--dir", self._dir.name, "--daemonize", "no"]
        log = Path(self._dir.name) / "redis.log"
        with open(log, "wb") as out:
            self._proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.addr = f"127.0.0.1:{port}"
        self.source = f"`redis-server` started by the bench on {self.addr}"
        deadline = time.monotonic() + 10
        while True:
            try:
                self._probe()
                break
            except Exception:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    self.addr = None
                    self.reason = f"redis-server did not start: {log.read_text(errors='replace')[-500:]}"
                    return
                time.sleep(0.02)
        say(f"redis: started {binary} on {self.addr} (version {self.version})")

    def _probe(self) -> None:
        import redis

        assert self.addr is not None
        client = redis.Redis.from_url(f"redis://{self.addr}/0", socket_timeout=2)
        try:
            info = client.info("server")
            self.version = str(info.get("redis_version", "?"))
        finally:
            client.close()

    def _stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._dir is not None:
            self._dir.cleanup()


def _operations(client: redis.Redis, prefix: str) -> dict[str, Callable[[], object]]:
    key, counter = f"{prefix}bench:h", f"{prefix}bench:n"
    client.hset(key, mapping={f"f{i}": f"value-{i}" for i in range(8)})
    client.set(counter, 0)

    def multi_exec() -> object:
        pipe = client.pipeline(transaction=True)
        pipe.hset(key, "f0", "x")
        pipe.pexpire(key, 600_000)
        return pipe.execute()

    def watch_multi_exec() -> object:
        with client.pipeline(transaction=True) as pipe:
            cast(Any, pipe).watch(counter)  # redis-py leaves watch() untyped
            current = int(pipe.get(counter) or 0)
            pipe.multi()
            pipe.set(counter, current + 1)
            pipe.pexpire(counter, 600_000)
            return pipe.execute()

    return {
        "PING": client.ping,
        "HSET (1 field)": lambda: client.hset(key, "f1", "y"),
        "HGETALL (8 fields)": lambda: client.hgetall(key),
        "MULTI / HSET / PEXPIRE / EXEC": multi_exec,
        "WATCH / GET / MULTI / SET / PEXPIRE / EXEC": watch_multi_exec,
    }


def _op_latencies(backend: RedisBackend, count: int) -> dict[str, Stats]:
    import redis

    client = redis.Redis.from_url(backend.url, decode_responses=True, protocol=2)
    try:
        ops = _operations(client, backend.key_prefix)
        results: dict[str, Stats] = {}
        for name, op in ops.items():
            for _ in range(min(20, count)):  # warm-up: connection, code paths
                op()
            samples = []
            for _ in range(count):
                started = time.perf_counter()
                op()
                samples.append(time.perf_counter() - started)
            results[name] = Stats.of(samples)
        return results
    finally:
        client.close()


def bench_redis(opts: Options, real: RealRedisServer) -> Section:
    from harness.redis_server import FakeRedisServer, RealRedis

    section = Section("fakeredis vs a real redis-server")
    say(f"redis: per-operation latency, {opts.redis_ops} of each, fakeredis")
    with FakeRedisServer() as fake:
        fake_ops = _op_latencies(fake, opts.redis_ops)
    real_ops: dict[str, Stats] = {}
    if real.addr is not None:
        say(f"redis: per-operation latency, {opts.redis_ops} of each, real redis-server")
        with RealRedis(real.addr) as shared:
            real_ops = _op_latencies(shared, opts.redis_ops)

    source = f"{real.source}, Redis {real.version}" if real.addr else f"not measured: {real.reason}"
    section.lines += [
        "Per operation: redis-py 8 (RESP2, one connection) from the bench process against the harness's "
        f"`FakeRedisServer` and against a real Redis ({source}); {opts.redis_ops} calls of each after 20 "
        "warm-up calls. The transactions are the shapes the services send (go-redis `TxPipelined`, `Watch`). "
        "No goal; for information.",
        "",
    ]
    rows = []
    for name, fs in fake_ops.items():
        cells = [name, ms(fs.p50), ms(fs.p95)]
        if real_ops:
            rs = real_ops[name]
            cells += [ms(rs.p50), ms(rs.p95), ratio(fs.p50, rs.p50)]
        else:
            cells += ["not measured", "not measured", "n/a"]
        rows.append(cells)
    section.lines += table(
        ["operation", "fakeredis p50", "fakeredis p95", "real p50", "real p95", "fake / real (p50)"], rows
    )

    section.lines += ["", "Smoke suite (`-m smoke -n auto`) on each backend, interleaved:", ""]
    if real.addr is None:
        section.lines.append(f"Not measured: {real.reason}.")
        return section
    runs: dict[str, list[Run]] = {"fake": [], "real": []}
    for repeat in range(opts.repeats):
        for backend in ("fake", "real"):
            argv = pytest_argv("gatewayauthsession", "-q", "-m", "smoke", "-n", "auto", "-p", "no:randomly")
            argv.append(f"--redis-backend={backend}")
            say(f"redis: smoke suite on {backend} (repeat {repeat + 1}/{opts.repeats})")
            prebuild()
            run = run_timed(argv, child_env(INTEGRATION_REAL_REDIS_ADDR=real.addr))
            _show_run(backend, run)
            runs[backend].append(run)
    rows = []
    for backend, label in (("fake", "fakeredis (`--redis-backend=fake`)"), ("real", "real (`--redis-backend=real`)")):
        s = Stats.of([r.wall for r in runs[backend]])
        failed = sum(r.returncode != 0 for r in runs[backend])
        rows.append([label, secs(s.p50), span(s, secs), str(s.n), _summaries(runs[backend]) + _failed(failed)])
    fake_p50 = Stats.of([r.wall for r in runs["fake"]]).p50
    real_p50 = Stats.of([r.wall for r in runs["real"]]).p50
    rows.append(["fake / real (medians)", ratio(fake_p50, real_p50), "", "", ""])
    section.lines += table(["backend", "wall p50", f"min {EN_DASH} max", "runs", "pytest"], rows)
    section.failed = any(r.returncode != 0 for rs in runs.values() for r in rs)
    return section


def _failed(count: int) -> str:
    return f" — **{count} run(s) failed**" if count else ""


# --------------------------------------------------------------------------- suite


def _longest_test(junit: Path) -> float:
    """The longest test case's time in a JUnit XML report (setup, call and teardown)."""
    from xml.etree import ElementTree

    times = [float(case.get("time", 0)) for case in ElementTree.parse(junit).getroot().iter("testcase")]  # noqa: S314 - our own report
    return max(times, default=0.0)


def bench_suite(opts: Options) -> Section:
    """The suite's wall time against its floor (max of the longest test and the
    CPU work spread over the cores), with ``-n auto``; ``-n 1`` beside it."""
    section = Section("Full suite: wall time against its floor")
    runs: dict[str, list[Run]] = {"1": [], "auto": []}
    longest: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as tmp:
        for repeat in range(opts.repeats):
            for workers in ("1", "auto"):
                say(f"suite: pytest gatewayauthsession -n {workers} (repeat {repeat + 1}/{opts.repeats})")
                prebuild()
                junit = Path(tmp) / f"suite-{workers}-{repeat}.xml"
                args = ("gatewayauthsession", "-q", "-n", workers, "-p", "no:randomly")
                run = run_timed(pytest_argv(*args, f"--junitxml={junit}"))
                _show_run(f"-n {workers}", run)
                runs[workers].append(run)
                if workers == "auto" and junit.exists():
                    longest.append(_longest_test(junit))
    one = Stats.of([r.wall for r in runs["1"]])
    auto = Stats.of([r.wall for r in runs["auto"]])
    failed = sum(r.returncode != 0 for rs in runs.values() for r in rs)
    cores = _nproc()
    cpu = Stats.of([r.cpu for r in runs["auto"]])
    floors = [max(long, r.cpu / cores) for long, r in zip(longest, runs["auto"], strict=False)] or [0.0]
    floor = Stats.of(floors)
    ratios = Stats.of([r.wall / f for r, f in zip(runs["auto"], floors, strict=False) if f > 0] or [math.inf])
    met = ratios.p50 <= GOAL_FLOOR_RATIO
    section.goals.append(
        Goal(
            f"suite wall ≤ {GOAL_FLOOR_RATIO}{TIMES} its floor (`-n auto`, {cores} cores)",
            f"{ratios.p50:.2f}{TIMES}",
            met if not failed else None,
        )
    )
    workers = _xdist_auto_workers()
    section.lines += [
        f"Goal: wall ≤ {GOAL_FLOOR_RATIO}{TIMES} floor — {verdict(met)} ({ratios.p50:.2f}{TIMES})"
        + (" — measured with failing runs" if failed else "")
        + f". The floor is max(longest test, CPU work / cores): no schedule on {cores} cores can beat it. "
        "CPU work is the user + system time of the whole run (pytest, its workers and every service process "
        "they started), from the kernel's accounting of waited-for children; the longest test is from the "
        "run's JUnit XML. What is left between wall and floor is waiting that holds a worker.",
        "",
        "`python -m pytest gatewayauthsession -q -n 1|auto -p no:randomly` (as "
        "`nox -s gatewayauthsession` runs it), wall time of the whole process, "
        f"{opts.repeats} repeat(s), the two interleaved; the binaries are built (or found) before "
        "each run, outside the timing.",
        "",
        *table(
            ["figure", "p50", f"min {EN_DASH} max"],
            [
                [f"wall, `-n auto` ({workers} workers)", secs(auto.p50), span(auto, secs)],
                ["CPU work (all processes)", secs(cpu.p50), span(cpu, secs)],
                [f"CPU work / {cores} cores", secs(cpu.p50 / cores), ""],
                ["longest test", secs(max(longest, default=0.0)), ""],
                ["**floor**", f"**{secs(floor.p50)}**", span(floor, secs)],
                [
                    "**wall / floor**",
                    f"**{ratios.p50:.2f}{TIMES}**",
                    f"{ratios.min:.2f}{TIMES} {EN_DASH} {ratios.max:.2f}{TIMES}",
                ],
                ["wall, `-n 1`", secs(one.p50), span(one, secs)],
                ["`-n 1` / `-n auto`", f"{one.p50 / auto.p50:.2f}{TIMES}", _failed(failed).strip(" —")],
            ],
        ),
    ]
    section.failed = bool(failed)
    return section


# --------------------------------------------------------------------------- peers


def _gateway_env(workdir: Path, http_port: int) -> dict[str, str]:
    """The gateway's environment, alike for every starter: a JWKS and
    dependencies it need not reach to serve /healthz."""
    from harness.keys import KeySet

    _, jwks = KeySet().write(workdir / "keys")
    return {
        "PATH": os.environ.get("PATH", ""),
        "GATEWAY_HTTP_ADDR": f"127.0.0.1:{http_port}",
        "GATEWAY_GRPC_ADDR": "127.0.0.1:0",
        "GATEWAY_AUTHSESSION_ADDR": "127.0.0.1:9",
        "GATEWAY_REDIS_URL": "redis://127.0.0.1:9/0",
        "GATEWAY_JWKS_FILE": str(jwks),
        "GATEWAY_LOG_LEVEL": "error",
    }


def _poll_loop(argv: list[str], env: dict[str, str], url: str) -> tuple[float, float]:
    """A hand-written starter: spawn, poll the URL every 100 ms; stop with SIGTERM and wait."""
    import requests

    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(url, timeout=1).ok:
                    break
            time.sleep(0.1)
        ready = time.perf_counter() - started
    finally:
        stopping = time.perf_counter()
        proc.terminate()
        proc.wait(timeout=10)
    return ready, time.perf_counter() - stopping


def _mirakuru(argv: list[str], env: dict[str, str], url: str) -> tuple[float, float]:
    """mirakuru's HTTPExecutor with its defaults, as its README starts a service."""
    from mirakuru import HTTPExecutor

    executor = HTTPExecutor(argv, url=url, envvars=env, timeout=30)
    started = time.perf_counter()
    executor.start()
    ready = time.perf_counter() - started
    stopping = time.perf_counter()
    executor.stop()
    return ready, time.perf_counter() - stopping


def _service_process(argv: list[str], env: dict[str, str], workdir: Path) -> tuple[float, float]:
    from harness.process import ServiceProcess

    proc = ServiceProcess("gateway", argv, env=env, workdir=workdir, ready_env="GATEWAY_READY_FILE")
    started = time.perf_counter()
    proc.start()
    ready = time.perf_counter() - started
    stopping = time.perf_counter()
    proc.stop()
    return ready, time.perf_counter() - stopping


def bench_peers(opts: Options) -> Section:
    """ServiceProcess against mirakuru's HTTPExecutor (defaults) and a 100 ms
    poll loop: the same gateway binary and environment, start to ready and
    stop, interleaved."""
    from harness.ports import free_port

    section = Section("Peers: starting and stopping one service")
    binary = str(_binaries()["gateway"].path)
    total = opts.warmup + opts.iterations
    samples: dict[str, tuple[list[float], list[float]]] = {
        name: ([], []) for name in ("ServiceProcess", "mirakuru HTTPExecutor", "100 ms poll loop")
    }
    say(f"peers: {total} iterations ({opts.warmup} warm-up) of each starter, interleaved")
    for i in range(total):
        for name in samples:
            with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
                port = free_port()
                env = _gateway_env(Path(tmp), port)
                url = f"http://127.0.0.1:{port}/healthz"
                if name == "ServiceProcess":
                    ready, stop = _service_process([binary], env, Path(tmp))
                elif name == "mirakuru HTTPExecutor":
                    ready, stop = _mirakuru([binary], env, url)
                else:
                    ready, stop = _poll_loop([binary], env, url)
            if i >= opts.warmup:
                samples[name][0].append(ready)
                samples[name][1].append(stop)
    stats = {name: (Stats.of(start), Stats.of(stop)) for name, (start, stop) in samples.items()}
    ours_start, ours_stop = stats["ServiceProcess"]
    mk_start, mk_stop = stats["mirakuru HTTPExecutor"]
    start_ratio, stop_ratio = mk_start.p50 / ours_start.p50, mk_stop.p50 / ours_stop.p50
    for what, value in (("start", start_ratio), ("stop", stop_ratio)):
        section.goals.append(
            Goal(
                f"`ServiceProcess` ≥ {GOAL_PEER_RATIO:.0f}{TIMES} faster than mirakuru's defaults to {what}",
                f"{value:.1f}{TIMES}",
                value >= GOAL_PEER_RATIO,
            )
        )
    section.lines += [
        f"The gateway binary with one environment, started to ready and stopped by each starter in turn, "
        f"{opts.iterations} times each after {opts.warmup} warm-up. `ServiceProcess` waits for the ready file "
        "(polled every ≤ 1 ms) and stops with SIGTERM and a reaping wait; mirakuru 3.1.0's `HTTPExecutor` with "
        "its defaults polls the URL (`/healthz`) and stops with SIGTERM and its own wait; the loop polls the URL "
        "every 100 ms and stops with `terminate()` + `wait()`.",
        "",
        *table(
            ["starter", "start → ready p50", "p95", "stop p50", "p95"],
            [[name, ms(a.p50), ms(a.p95), ms(b.p50), ms(b.p95)] for name, (a, b) in stats.items()],
        ),
        "",
        f"Ratios of medians, mirakuru / `ServiceProcess`: start **{start_ratio:.1f}{TIMES}**, "
        f"stop **{stop_ratio:.1f}{TIMES}**; 100 ms loop / `ServiceProcess`: start "
        f"{stats['100 ms poll loop'][0].p50 / ours_start.p50:.1f}{TIMES}.",
    ]
    return section


# --------------------------------------------------------------------------- faults


def bench_faults(opts: Options) -> Section:
    """What the fault layer costs: a stack whose five links all go through the
    fault proxy against a plain one (interleaved), and the suite with and
    without the fault scenarios."""
    from gatewayauthsession.stack import StackSettings, start_stack
    from harness.toxiproxy import ToxiproxyServer

    section = Section("Faults: a proxied stack, and the fault scenarios in the suite")
    binaries = _binaries()
    total = opts.warmup + opts.iterations
    plain: list[float] = []
    proxied: list[float] = []
    say(f"faults: {total} iterations ({opts.warmup} warm-up), a plain then a proxied start_stack each")
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        started = time.perf_counter()
        proxy = ToxiproxyServer(Path(tmp) / "toxiproxy").start()
        proxy_start = time.perf_counter() - started
        try:
            for i in range(total):
                for into, settings, server in (
                    (plain, StackSettings(), None),
                    (proxied, StackSettings(links="all"), proxy),
                ):
                    with tempfile.TemporaryDirectory(prefix="bench-faults-stack-") as stack_dir:
                        started = time.perf_counter()
                        stack = start_stack(Path(stack_dir), binaries, settings, proxy=server)
                        elapsed = time.perf_counter() - started
                        stack.stop()
                    if i >= opts.warmup:
                        into.append(elapsed)
        finally:
            proxy.stop()
    p, q = Stats.of(plain), Stats.of(proxied)

    runs: dict[str, list[Run]] = {"with": [], "without": []}
    base = ("gatewayauthsession", "-q", "-n", "auto", "-p", "no:randomly")
    for repeat in range(opts.repeats):
        for kind, extra in (("without", ("--ignore=gatewayauthsession/test_faults.py",)), ("with", ())):
            say(f"faults: suite {kind} the fault scenarios (repeat {repeat + 1}/{opts.repeats})")
            prebuild()
            run = run_timed(pytest_argv(*base, *extra))
            _show_run(kind, run)
            runs[kind].append(run)
    with_, without = Stats.of([r.wall for r in runs["with"]]), Stats.of([r.wall for r in runs["without"]])
    failed = sum(r.returncode != 0 for rs in runs.values() for r in rs)
    growth = with_.p50 / without.p50
    met = growth <= GOAL_FAULT_GROWTH
    section.goals.append(
        Goal(
            f"fault scenarios add ≤ a third to the suite's wall time (`-n auto` = {_xdist_auto_workers()} workers, "
            f"{_nproc()} CPUs)",
            f"{growth:.2f}{TIMES}",
            met if not failed else None,
        )
    )
    section.lines += [
        f'A stack with all five links through the fault proxy (`StackSettings(links="all")`) against a plain '
        f"one, interleaved, {opts.iterations} each after {opts.warmup} warm-up; the proxy (one per xdist "
        f"worker in the suite) started once, in {ms(proxy_start)}.",
        "",
        *table(
            ["stack", "start → ready p50", "p95", f"min {EN_DASH} max"],
            [
                ["plain", ms(p.p50), ms(p.p95), span(p, ms)],
                ["proxied (5 links)", ms(q.p50), ms(q.p95), span(q, ms)],
                ["**cost of the proxy**", f"**+{ms(q.p50 - p.p50)}** ({ratio(q.p50, p.p50)})", "", ""],
            ],
        ),
        "",
        f"Goal: the fault scenarios add at most a third to the suite — {verdict(met)} ({growth:.2f}{TIMES})"
        + (" — measured with failing runs" if failed else "")
        + ". `python -m pytest gatewayauthsession -q -n auto -p no:randomly`, with and without "
        f"`--ignore=gatewayauthsession/test_faults.py`, {opts.repeats} repeat(s) interleaved.",
        "",
        *table(
            ["suite", "wall p50", f"min {EN_DASH} max", "pytest"],
            [
                ["without the fault scenarios", secs(without.p50), span(without, secs), _summaries(runs["without"])],
                ["with them", secs(with_.p50), span(with_, secs), _summaries(runs["with"])],
                ["**growth** (median / median)", f"**{growth:.2f}{TIMES}**", "", _failed(failed).strip(" —")],
            ],
        ),
    ]
    section.failed = bool(failed)
    return section


# --------------------------------------------------------------------------- nox


def _nox_env() -> dict[str, str]:
    """A user's shell as far as nox cares: without the bench session's virtualenv."""
    env = child_env()
    venv = env.pop("VIRTUAL_ENV", None)
    for key in ("NOX_CURRENT_SESSION", "CONDA_PREFIX"):
        env.pop(key, None)
    if venv:
        env["PATH"] = os.pathsep.join(
            p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(venv.rstrip("/") + "/")
        )
    return env


def _nox_runs(opts: Options, nox: list[str], shown: str) -> tuple[list[Run], list[Run], list[float], list[float]]:
    """The timed runs of :func:`bench_nox`: nox, the same pytest directly, and bare interpreters."""
    selection = ["-k", opts.nox_k] if opts.nox_k else []
    with tempfile.TemporaryDirectory(prefix="bench-nox-") as tmp:
        junit = f"--junitxml={tmp}/junit.xml"  # keeps reports/gatewayauthsession.xml untouched
        nox_argv = [*nox, "-s", "gatewayauthsession", "--", "-q", *selection, junit]
        direct_argv = pytest_argv(
            "-o", "junit_suite_name=gatewayauthsession", "gatewayauthsession", "-n", "auto"
        )
        direct_argv += ["-q", *selection, junit]
        say(f"nox: warm-up run of nox -s gatewayauthsession -- {shown} (makes the venv warm; not counted)")
        warm = run_timed(nox_argv, _nox_env())
        _show_run("nox warm-up", warm)
        nox_runs: list[Run] = []
        direct_runs: list[Run] = []
        bare: list[float] = []
        imports: list[float] = []
        for repeat in range(opts.repeats):
            say(f"nox: fresh interpreters, bare and importing the suite's dependencies (repeat {repeat + 1})")
            bare.append(run_timed([sys.executable, "-c", "pass"]).wall)
            imports.append(run_timed([sys.executable, "-c", "import " + ", ".join(SUITE_IMPORTS)]).wall)
            say(f"nox: nox -s gatewayauthsession -- {shown} (repeat {repeat + 1}/{opts.repeats})")
            prebuild()
            nox_runs.append(run_timed(nox_argv, _nox_env()))
            _show_run("nox", nox_runs[-1])
            say(f"nox: the same pytest without nox (repeat {repeat + 1}/{opts.repeats})")
            prebuild()
            direct_runs.append(run_timed(direct_argv))
            _show_run("pytest", direct_runs[-1])
    return nox_runs, direct_runs, bare, imports


def bench_nox(opts: Options) -> Section:
    section = Section("Warm `nox -s gatewayauthsession`: time outside pytest")
    nox = opts.nox_command()
    if nox is None:
        section.lines.append("Not measured: nox not found (pass `--nox-python`, or put `nox` on PATH).")
        section.goals.append(Goal(f"warm nox outside pytest ≤ {GOAL_NOX_OVERHEAD_S} s", "not measured", None))
        section.failed = True
        return section
    shown = " ".join(["-q", *(["-k", repr(opts.nox_k)] if opts.nox_k else [])])
    nox_runs, direct_runs, bare, imports = _nox_runs(opts, nox, shown)
    failed = sum(r.returncode != 0 or r.pytest_seconds is None for r in (*nox_runs, *direct_runs))
    if failed:
        section.failed = True
    usable_nox = [r for r in nox_runs if r.pytest_seconds is not None]
    usable_direct = [r for r in direct_runs if r.pytest_seconds is not None]
    if not usable_nox or not usable_direct:
        section.lines.append("Not measured: no run printed pytest's summary line (see the terminal output).")
        section.goals.append(Goal(f"warm nox outside pytest ≤ {GOAL_NOX_OVERHEAD_S} s", "not measured", None))
        return section
    nox_wall = Stats.of([r.wall for r in usable_nox])
    nox_pytest = Stats.of([r.pytest_seconds or 0.0 for r in usable_nox])
    outside = Stats.of([r.wall - (r.pytest_seconds or 0.0) for r in usable_nox])
    direct_wall = Stats.of([r.wall for r in usable_direct])
    direct_outside = Stats.of([r.wall - (r.pytest_seconds or 0.0) for r in usable_direct])
    pairs = [(n, d) for n, d in zip(nox_runs, direct_runs, strict=True) if n in usable_nox and d in usable_direct]
    nox_only = Stats.of([n.wall - d.wall for n, d in pairs]) if pairs else None
    bare_s, imports_s = Stats.of(bare), Stats.of(imports)
    met = outside.p50 <= GOAL_NOX_OVERHEAD_S
    section.goals.append(
        Goal(
            f"warm `nox -s gatewayauthsession` outside pytest ≤ {GOAL_NOX_OVERHEAD_S} s",
            secs(outside.p50),
            met if not failed else None,
        )
    )
    selected = f"`-k {opts.nox_k}`" if opts.nox_k else "the whole suite"
    section.lines += [
        f"Goal: ≤ {GOAL_NOX_OVERHEAD_S} s outside pytest — {verdict(met)} ({secs(outside.p50)})"
        + (" — measured with failing runs" if failed else "")
        + ".",
        "",
        f"`nox -s gatewayauthsession -- {shown}` on its existing (warm) virtualenv, {selected}, "
        f'{opts.repeats} repeat(s) after one uncounted warm-up run; "pytest\'s own" is the `in X.XXs` of '
        "pytest's summary line in the same run. Interleaved with the same pytest command run directly, "
        "to split what is outside pytest's own clock into nox's part and the pytest process's "
        "start-up (interpreter, plugins, xdist workers before the session starts).",
        "",
        *table(
            ["measure", "p50", f"min {EN_DASH} max"],
            [
                ["`nox -s gatewayauthsession` wall", secs(nox_wall.p50), span(nox_wall, secs)],
                ["pytest's own time in that run", secs(nox_pytest.p50), span(nox_pytest, secs)],
                [
                    f"**outside pytest** (nox wall {MINUS} pytest's own)",
                    f"**{secs(outside.p50)}**",
                    span(outside, secs),
                ],
                ["same pytest run directly: wall", secs(direct_wall.p50), span(direct_wall, secs)],
                [
                    "&nbsp;&nbsp;↳ of which outside pytest's own clock",
                    secs(direct_outside.p50),
                    span(direct_outside, secs),
                ],
                [
                    f"nox's own share (nox wall {MINUS} direct wall, per repeat)",
                    secs(nox_only.p50) if nox_only else "n/a",
                    span(nox_only, secs) if nox_only else "",
                ],
                ["fresh interpreter: `python -c pass`", secs(bare_s.p50), span(bare_s, secs)],
                ["fresh interpreter: importing the suite's dependencies", secs(imports_s.p50), span(imports_s, secs)],
            ],
        ),
        "",
        f"The imports are {', '.join(f'`{m}`' for m in SUITE_IMPORTS)}: what every pytest process (the "
        "controller and each xdist worker) loads"
        + (
            "; with `PYTHONDONTWRITEBYTECODE` set and no precompiled bytecode in the virtualenv, every process "
            "compiles them again."
            if os.environ.get("PYTHONDONTWRITEBYTECODE") and _venv_bytecode() == "no"
            else "."
        ),
        "",
        f"pytest: {_summaries([*nox_runs, *direct_runs])}{_failed(failed)}",
    ]
    return section


# --------------------------------------------------------------------------- main


@dataclass
class Options:
    iterations: int
    repeats: int
    warmup: int
    redis_ops: int
    only: tuple[str, ...]
    quick: bool
    nox_k: str
    nox_python: str | None
    output: Path

    def nox_command(self) -> list[str] | None:
        if self.nox_python:
            return [self.nox_python, "-m", "nox"]
        found = shutil.which("nox")
        return [found] if found else None


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="scripts/bench.py", description="Benchmark galaxy integration and write BENCHMARKS.md."
    )
    parser.add_argument("--iterations", type=int, help="stacks per loop (default 30; --quick: 8)")
    parser.add_argument("--repeats", type=int, help="runs of each suite / nox / build variant (default 3; --quick: 1)")
    parser.add_argument("--warmup", type=int, help="uncounted iterations before each stack loop (default 2)")
    parser.add_argument("--redis-ops", type=int, help="calls of each Redis operation (default 200; --quick: 50)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of: {','.join(SECTIONS)}")
    parser.add_argument("--quick", action="store_true", help="small sizes, for trying the bench out")
    parser.add_argument(
        "--nox-k",
        default=DEFAULT_NOX_SELECTION,
        help=f"-k expression for the nox-overhead runs ('' = whole suite; default {DEFAULT_NOX_SELECTION})",
    )
    parser.add_argument("--nox-python", help="the Python that runs nox (python -m nox); default: nox on PATH")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md", help="default: BENCHMARKS.md")
    args = parser.parse_args(argv)
    only = tuple(s.strip() for s in args.only.split(",") if s.strip())
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown or not only:
        parser.error(f"--only takes sections of {', '.join(SECTIONS)}; got {', '.join(unknown) or 'none'}")

    def pick(value: int | None, full: int, quick: int) -> int:
        chosen = value if value is not None else (quick if args.quick else full)
        if chosen < 1:
            parser.error("sizes must be ≥ 1")
        return chosen

    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    if warmup < 0:
        parser.error("--warmup must be ≥ 0")
    return Options(
        iterations=pick(args.iterations, 30, 8),
        repeats=pick(args.repeats, 3, 1),
        warmup=warmup,
        redis_ops=pick(args.redis_ops, 200, 50),
        only=tuple(s for s in SECTIONS if s in only),
        quick=args.quick,
        nox_k=args.nox_k,
        nox_python=args.nox_python,
        output=args.output,
    )


def header(opts: Options, binaries: str, load_before: str, duration: float) -> list[str]:
    go_version = _run_text(["go", "env", "GOVERSION"])
    argv = " ".join(sys.argv[1:])
    return [
        "# Benchmarks",
        "",
        "Written by `nox -s bench` (`scripts/bench.py`); every figure below was measured in the run "
        "described here. Re-run to refresh; see [How to reproduce](#how-to-reproduce).",
        "",
        *table(
            ["", ""],
            [
                ["date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")],
                ["git commit", _git_commit()],
                ["CPUs (nproc)", str(_nproc())],
                ["CPU model", _cpu_model()],
                ["memory", _memory()],
                ["OS", f"{platform.system()} {platform.release()}"],
                ["Go", go_version],
                ["Python", f"{platform.python_implementation()} {platform.python_version()}"],
                ["PYTHONDONTWRITEBYTECODE", os.environ.get("PYTHONDONTWRITEBYTECODE") or "unset"],
                ["precompiled bytecode in the bench virtualenv", _venv_bytecode()],
                ["binaries", binaries],
                ["load average (1/5/15 min) before → after", f"{load_before} → {_loadavg()}"],
                [
                    "options",
                    (f"`{argv}`" if argv else "defaults")
                    + f" (iterations {opts.iterations}, warm-up {opts.warmup}, repeats {opts.repeats}, "
                    f"Redis ops {opts.redis_ops})",
                ],
                ["sections", ", ".join(opts.only)],
                ["bench duration", secs(duration)],
            ],
        ),
        "",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    opts = parse_args(argv)
    os.chdir(ROOT)
    import logging

    # werkzeug logs each stub request to stderr when nothing else handles its logger (pytest does, in the suite)
    logging.getLogger("werkzeug").addHandler(logging.NullHandler())
    load_before = _loadavg()
    say(f"sections: {', '.join(opts.only)}; iterations {opts.iterations}, repeats {opts.repeats}")

    binaries = "not built"
    sections: list[Section] = []
    runners: dict[str, Callable[[RealRedisServer], Section]] = {
        "build": lambda _r: bench_build(opts),
        "stack": lambda _r: bench_stack(opts),
        "peers": lambda _r: bench_peers(opts),
        "login": lambda r: bench_login(opts, r),
        "redis": lambda r: bench_redis(opts, r),
        "suite": lambda _r: bench_suite(opts),
        "faults": lambda _r: bench_faults(opts),
        "nox": lambda _r: bench_nox(opts),
    }
    needs_real = {"login", "redis"} & set(opts.only)
    with contextlib.ExitStack() as resources:
        real = resources.enter_context(RealRedisServer.provide()) if needs_real else RealRedisServer()
        if needs_real and real.addr is None:
            say(f"redis: real Redis not measured: {real.reason}")
        if set(opts.only) & {"stack", "peers", "login", "faults"}:
            say("building (or finding) the binaries")
            try:
                binaries = ", ".join(f"`{b.path.parent.name}`" for b in _binaries().values())
            except Exception as exc:  # the sections that need them report it
                binaries = f"build failed ({type(exc).__name__})"
        for name in opts.only:
            try:
                sections.append(runners[name](real))
            except Exception as exc:
                say(f"{name}: failed: {exc!r}")
                failed = Section(f"{name}: not measured", failed=True)
                failed.lines += ["Not measured: the section raised:", "", "```", traceback.format_exc().rstrip(), "```"]
                sections.append(failed)

    duration = time.perf_counter() - _started
    out = header(opts, binaries, load_before, duration)
    goals = [g for s in sections for g in s.goals]
    if goals:
        out += ["## Goals", ""]
        out += table(
            ["goal", "measured (p50)", "verdict"],
            [
                [g.goal, g.measured, "not judged" if g.met is None else ("met" if g.met else "**not met**")]
                for g in goals
            ],
        )
        out.append("")
    for section in sections:
        out += [f"## {section.title}", "", *section.lines, ""]
    out += [
        "## How to reproduce",
        "",
        "`nox -s bench` (opt-in, not run by `nox` or CI). Options after `--`: `--iterations N` (stacks per loop, "
        "default 30), `--repeats R` (suite / nox / build runs, default 3), `--warmup W`, `--redis-ops N`, "
        f"`--only {','.join(SECTIONS)}`, `--nox-k EXPR` (`''` for the whole suite), `--quick`; "
        "e.g. `nox -s bench -- --only stack,build --iterations 50`. A real Redis comes from "
        "`INTEGRATION_REAL_REDIS_ADDR`, else a `redis-server` on PATH is started on a free loopback port; "
        'without either the real-Redis figures say "not measured".',
        "",
    ]
    opts.output.write_text("\n".join(out))
    say(f"wrote {opts.output} in {duration:.1f}s")
    return 1 if any(s.failed for s in sections) else 0


if __name__ == "__main__":
    sys.exit(main())
