"""The ``peers`` section: ``ServiceProcess`` against mirakuru's ``HTTPExecutor`` and a 100 ms poll
loop, starting and stopping one gateway binary."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from pathlib import Path

from benchlib.common import Options, say
from benchlib.report import TIMES, Goal, Section, Stats, ms, table
from benchlib.runs import service_binaries

GOAL_PEER_RATIO = 10.0  # mirakuru's defaults / ServiceProcess, to start and to stop


def _gateway_env(workdir: Path, http_port: int) -> dict[str, str]:
    """The gateway's environment, alike for every starter: a JWKS and
    dependencies it need not reach to serve /healthz."""
    from contracts.tokens import KeySet

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
    from harness.processes.service import ServiceProcess

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
    from harness.processes.ports import PortHold

    section = Section("Peers: starting and stopping one service")
    binary = str(service_binaries()["gateway"].path)
    total = opts.warmup + opts.iterations
    samples: dict[str, tuple[list[float], list[float]]] = {
        name: ([], []) for name in ("ServiceProcess", "mirakuru HTTPExecutor", "100 ms poll loop")
    }
    say(f"peers: {total} iterations ({opts.warmup} warm-up) of each starter, interleaved")
    for i in range(total):
        for name in samples:
            with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp, PortHold() as hold:
                port = hold.port
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
