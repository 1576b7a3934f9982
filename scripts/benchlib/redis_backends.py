"""The ``redis`` section: per-operation latency of fakeredis and a real redis-server, and the smoke
suite on each; and the real Redis the run uses (``RealRedisServer``), for this section and ``login``."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from benchlib.common import Options, say
from benchlib.report import EN_DASH, Section, Stats, ms, ratio, secs, span, table
from benchlib.runs import Run, child_env, failed_note, prebuild, pytest_argv, run_timed, show_run, summaries

if TYPE_CHECKING:  # imported at run time only once sys.path holds the project root
    import redis

    from harness.redis.backends import RedisBackend


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
        from harness.redis.backends import REAL_REDIS_ENV, real_redis_addr

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
    from harness.redis.backends import FakeRedisServer, RealRedis

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
            show_run(backend, run)
            runs[backend].append(run)
    rows = []
    for backend, label in (("fake", "fakeredis (`--redis-backend=fake`)"), ("real", "real (`--redis-backend=real`)")):
        s = Stats.of([r.wall for r in runs[backend]])
        failed = sum(r.returncode != 0 for r in runs[backend])
        rows.append([label, secs(s.p50), span(s, secs), str(s.n), summaries(runs[backend]) + failed_note(failed)])
    fake_p50 = Stats.of([r.wall for r in runs["fake"]]).p50
    real_p50 = Stats.of([r.wall for r in runs["real"]]).p50
    rows.append(["fake / real (medians)", ratio(fake_p50, real_p50), "", "", ""])
    section.lines += table(["backend", "wall p50", f"min {EN_DASH} max", "runs", "pytest"], rows)
    section.failed = any(r.returncode != 0 for rs in runs.values() for r in rs)
    return section
