"""Concurrent histories under a nemesis, checked: the robustness run.

    python -m harness.robustness [--suite NAME] [--seed N] [--schedule NAME] [--clients N]
        [--seconds S] [--profiles A,B] [--redis fake|owned] [--deep] [--floor OPS]

For a registered suite with a workload (``<suite>/robustness.py``,
:mod:`harness.robustness.workload`), each of its profiles is one **round**: a
fresh stack of the suite's declared topology with every edge through the
fault proxy, ``--clients`` threads calling it at random for ``--seconds``
while the nemesis (:mod:`harness.robustness.nemesis`) applies the faults the
seed and the schedule plan, then every fault healed, what the clients left
half done settled, the evidence read, and the history judged
(:mod:`harness.robustness.check`).

Each round writes ``reports/robustness/<suite>/<profile>.jsonl`` (its seed and
plan in the header), the services' logs beside it and, when it fails, the
page with each minimal story (``<profile>-check/index.html``); the run writes
``summary.json`` and ``summary.md``. A failure prints the story and the
command that replays the run: the same seed gives the same faults at the same
times and the same random choices to each client.

A run whose throughput (operations a second over the rounds' traffic) falls
below ``--floor`` fails too, like etcd's robustness QPS floor: a run too slow
to make the races it is meant to find proves little.

Exit codes: 0 every history passed; 1 one broke the model or an invariant;
2 the run could not be made (no workload, a stack that did not start, a client
that raised); 3 below the throughput floor; 4 a check timed out.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import logging
import os
import random
import shlex
import shutil
import threading
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.faults.toxiproxy import ToxiproxyServer
from harness.paths import PROJECT_ROOT, REPORTS_DIR
from harness.processes.sweep import reap_run, start_run, sweep
from harness.redis.backends import RedisBackend, RedisServerProcess, redis_server_binary
from harness.robustness.check import Verdict, check
from harness.robustness.history import Recorder
from harness.robustness.nemesis import NEMESIS_CLIENT, SCHEDULES, Nemesis, Targets, heal_everything, plan
from harness.robustness.workload import Profile, Round, Workload
from harness.suites.registry import Suite, suites
from harness.topology.declaration import Topology
from harness.topology.programs import binary_for
from harness.topology.settings import Settings
from harness.topology.stack import start_stack

__all__ = ["DEEP", "DEFAULTS", "Options", "RoundResult", "load_workload", "main", "run", "run_round"]

EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_SLOW, EXIT_UNKNOWN = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class Options:
    """What a run is asked for (the command line)."""

    suite: str
    seed: int
    schedule: str = "random"
    clients: int = 8
    seconds: float = 20.0
    profiles: tuple[str, ...] = ()  # () : every profile of the workload
    redis: str = "fake"
    floor: float = 0.0
    settle: float = 15.0  # how long the clients may take to settle what they left half done
    out: Path = REPORTS_DIR / "robustness"
    deep: bool = False

    def replay(self) -> str:
        """The command that runs this again, with the same seed."""
        args = ["./noxw", "-s", "robustness", "--", "--suite", self.suite, "--seed", str(self.seed)]
        args += ["--schedule", self.schedule, "--clients", str(self.clients), "--seconds", f"{self.seconds:g}"]
        if self.profiles:
            args += ["--profiles", ",".join(self.profiles)]
        if self.redis != "fake":
            args += ["--redis", self.redis]
        return shlex.join(args)


CHECK_TIMEOUT_S = 30.0
"""How long porcupine may take over one session before its verdict is unknown (a run that gets one fails)."""

DEFAULTS = {"clients": 8, "seconds": 20.0, "floor": 20.0}
"""The bounded run (every ``nox``): about a minute on two cores, the build cached, both rounds and checks
included. Its floor is below what two cores shared with much else make, which still finds every planted
concurrency mutant (BENCHMARKS.md), and above what a starved or stuck run makes."""
DEEP = {"clients": 12, "seconds": 90.0, "floor": 20.0}
"""The deep run (``--deep``): every schedule under every profile, longer and with more clients."""


@dataclass
class RoundResult:
    """One round: its profile, schedule and seed, what was done and what the checker said."""

    suite: str
    profile: str
    schedule: str
    seed: int
    clients: int
    history: Path
    traffic_seconds: float = 0.0
    operations: dict[str, dict[str, int]] = field(default_factory=dict)  # op -> status -> count
    faults: dict[str, int] = field(default_factory=dict)  # kind -> count
    fault_log: list[dict[str, Any]] = field(default_factory=list)  # each fault as applied
    nemesis_errors: list[str] = field(default_factory=list)
    check_seconds: float = 0.0
    verdict: Verdict | None = None
    error: str | None = None

    @property
    def total(self) -> int:
        return sum(sum(by_status.values()) for by_status in self.operations.values())

    @property
    def ops_per_second(self) -> float:
        return self.total / self.traffic_seconds if self.traffic_seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        verdict = self.verdict
        return {
            "suite": self.suite,
            "profile": self.profile,
            "schedule": self.schedule,
            "seed": self.seed,
            "clients": self.clients,
            "history": str(self.history),
            "traffic_seconds": round(self.traffic_seconds, 3),
            "operations": self.operations,
            "total_operations": self.total,
            "ops_per_second": round(self.ops_per_second, 1),
            "faults": self.faults,
            "nemesis_errors": self.nemesis_errors,
            "check_seconds": round(self.check_seconds, 3),
            "linearizability_seconds": round(verdict.linearizability.seconds, 3) if verdict else None,
            "sessions": len(verdict.linearizability.partitions) if verdict else None,
            "passed": verdict.passed if verdict else False,
            "violations": [v.describe() for v in verdict.violations] if verdict else [],
            "failing_sessions": [p.key for p in verdict.linearizability.failing] if verdict else [],
            "page": str(verdict.page) if verdict and verdict.page else None,
            "error": self.error,
        }


def load_workload(suite: Suite) -> Workload:
    """The suite's ``WORKLOAD`` (``<suite>/robustness.py``)."""
    module = importlib.import_module(f"{suite.name}.robustness")
    workload: Workload = module.WORKLOAD
    return workload


def _round_seed(seed: int, profile: str, schedule: str) -> str:
    return f"{seed}:{profile}:{schedule}"


def _redis_backend(kind: str, workdir: Path, topology: Topology) -> RedisBackend | None:
    if kind == "fake" or topology.redis is None:
        return None  # start_stack makes an isolated fakeredis server
    return RedisServerProcess(workdir, key_prefix=topology.redis.prefix)


def run_round(
    options: Options, suite: Suite, workload: Workload, profile: Profile, *, schedule: str, proxy: ToxiproxyServer
) -> RoundResult:
    """Raise a stack under ``profile``, run the clients and the nemesis, settle, and judge the history."""
    topology = suite.topology()
    out = options.out / suite.name
    name = f"{profile.name}-{schedule}" if options.deep else profile.name
    history = out / f"{name}.jsonl"
    workdir = out / f"{name}-stack"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    result = RoundResult(suite.name, profile.name, schedule, options.seed, options.clients, history)
    settings = Settings(topology, dict(profile.settings))
    binaries = {s.name: binary_for(s) for s in topology.services}
    redis = _redis_backend(options.redis, workdir, topology)
    stack = start_stack(topology, workdir, binaries, settings, redis=redis, proxy=proxy, links="all")
    salt = _round_seed(options.seed, profile.name, schedule)
    faults = plan(hash_seed(salt), schedule, Targets.of(stack), options.seconds)
    meta = {
        "system": topology.name,
        "suite": suite.name,
        "profile": profile.name,
        "schedule": schedule,
        "clients": options.clients,
        "seconds": options.seconds,
        "settings": dict(profile.settings),
        "plan": [f.to_json() for f in faults],
        "replay": options.replay(),
    }
    nemesis = Nemesis(stack, faults)
    try:
        with Recorder(history, seed=options.seed, params=workload.params(settings), meta=meta) as recorder:
            nemesis.recorder = recorder
            game = workload.begin(stack, recorder, hash_seed(salt))
            try:
                result.traffic_seconds, errors = _traffic(options, game, salt, nemesis, result)
                for note in heal_everything(stack):
                    result.nemesis_errors.append(f"left after the plan: {note}")
                errors += _settle(options, game, salt)
                recorder.evidence("faults", result.fault_log)
                for key, value in game.evidence().items():
                    recorder.evidence(key, value)
            finally:
                game.close()
            ops = [o for o in recorder.history.operations() if o.client != NEMESIS_CLIENT]
    finally:
        stack.stop()
        nemesis.close()  # after the stack: the processes it restarted are tied to its thread
    by_op: dict[str, Counter[str]] = {}
    for o in ops:
        by_op.setdefault(o.op, Counter())[o.status] += 1
    result.operations = {op: dict(sorted(c.items())) for op, c in sorted(by_op.items())}
    if errors:
        result.error = "a client raised:\n" + "\n".join(errors)
        return result
    started = time.monotonic()
    result.verdict = check(history, out_dir=history.with_name(f"{name}-check"), timeout=CHECK_TIMEOUT_S)
    result.check_seconds = time.monotonic() - started
    return result


def hash_seed(text: str) -> int:
    """A 48-bit seed derived from ``text`` (stable across processes, unlike ``hash``)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:6], "big")


def _traffic(
    options: Options, game: Round, salt: str, nemesis: Nemesis, result: RoundResult
) -> tuple[float, list[str]]:
    """The clients and the nemesis side by side for ``options.seconds``; returns the traffic's length."""
    errors: list[str] = []
    started = time.monotonic()
    stop_at = started + options.seconds

    def client(i: int) -> None:
        rng = random.Random(f"{salt}:client{i}")
        try:
            while time.monotonic() < stop_at:
                game.step(i, rng)
        except Exception:
            errors.append(f"client {i}: {traceback.format_exc()}")

    threads = [
        threading.Thread(target=client, args=(i,), name=f"client-{i}", daemon=True) for i in range(options.clients)
    ]
    nemesis.start(started)
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=options.seconds + 60.0)
    nemesis.stop()
    ended = time.monotonic()
    stuck = [t.name for t in threads if t.is_alive()]
    if stuck:
        errors.append(f"clients still calling a minute after the traffic ended: {', '.join(stuck)}")
    result.faults = nemesis.counts()
    result.nemesis_errors += nemesis.errors
    result.fault_log = [entry.to_json() for entry in nemesis.log]
    return ended - started, errors


def _settle(options: Options, game: Round, salt: str) -> list[str]:
    """Each client finishes what it left half done, side by side, within ``options.settle`` seconds."""
    errors: list[str] = []
    until = time.monotonic() + options.settle

    def settle(i: int) -> None:
        try:
            game.settle(i, random.Random(f"{salt}:settle{i}"), until)
        except Exception:
            errors.append(f"client {i} settling: {traceback.format_exc()}")

    threads = [threading.Thread(target=settle, args=(i,), daemon=True) for i in range(options.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=options.settle + 30.0)
    return errors


def _describe(r: RoundResult) -> str:
    faults = ", ".join(f"{k} {n}" for k, n in r.faults.items()) or "none"
    ops = ", ".join(f"{op} {sum(s.values())}" for op, s in r.operations.items())
    lines = [
        f"round {r.profile} ({r.schedule}, seed {r.seed}): {r.total} operations by {r.clients} clients in "
        f"{r.traffic_seconds:.1f}s, {r.ops_per_second:.0f} ops/s; checked in {r.check_seconds:.2f}s",
        f"  operations: {ops}",
        f"  faults: {faults}",
    ]
    lines += [f"  nemesis: {e}" for e in r.nemesis_errors]
    if r.error:
        lines.append(f"  ERROR: {r.error}")
    if r.verdict is not None:
        lines += ["  " + line for line in r.verdict.describe().splitlines()]
    return "\n".join(lines)


def _summary_md(options: Options, results: Sequence[RoundResult], ops_s: float, seconds: float) -> str:
    rows = [
        f"| {r.profile} | {r.schedule} | {r.clients} | {r.total} | {r.traffic_seconds:.1f} s | "
        f"{r.ops_per_second:.0f} | {r.check_seconds:.2f} s | "
        f"{', '.join(f'{k} {n}' for k, n in r.faults.items()) or 'none'} | "
        f"{'passed' if r.verdict and r.verdict.passed else 'FAILED'} |"
        for r in results
    ]
    return "\n".join(
        [
            f"# Robustness run: {options.suite}, seed {options.seed}",
            "",
            f"Replay: `{options.replay()}`",
            "",
            "| profile | schedule | clients | operations | traffic | ops/s | check | faults | verdict |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            *rows,
            "",
            f"Throughput {ops_s:.0f} ops/s (floor {options.floor:g}); the whole run took {seconds:.1f} s.",
            "",
        ]
    )


def run(options: Options) -> int:
    """Every round of the suite's workload under ``options``; the exit code (see the module docstring)."""
    started = time.monotonic()
    suite = next((s for s in suites() if s.name == options.suite), None)
    if suite is None or not suite.workload.is_file():
        print(f"error: {options.suite} is no registered suite with a workload ({options.suite}/robustness.py)")
        return EXIT_ERROR
    workload = load_workload(suite)
    profiles = [p for p in workload.profiles if not options.profiles or p.name in options.profiles]
    unknown = set(options.profiles) - {p.name for p in workload.profiles}
    if unknown or not profiles:
        print(f"error: unknown profiles {sorted(unknown)}; {suite.name} has {[p.name for p in workload.profiles]}")
        return EXIT_ERROR
    schedules = [s for s in SCHEDULES if s != "none"] if options.deep else [options.schedule]
    if options.redis == "owned" and redis_server_binary() is None:
        print("error: --redis owned needs redis-server on PATH (or INTEGRATION_REDIS_SERVER)")
        return EXIT_ERROR
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the stubs' request lines
    out = options.out / suite.name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    print(
        f"robustness: {suite.name}, seed {options.seed}, {options.clients} clients, {options.seconds:g}s a round, "
        f"schedule {'every one' if options.deep else options.schedule}, redis {options.redis}",
        flush=True,
    )
    run_id = start_run()
    sweep(keep=run_id)
    results: list[RoundResult] = []
    try:
        with ToxiproxyServer(out / "toxiproxy") as proxy:
            for profile in profiles:
                for schedule in schedules:
                    try:
                        result = run_round(options, suite, workload, profile, schedule=schedule, proxy=proxy)
                    except Exception:
                        result = RoundResult(suite.name, profile.name, schedule, options.seed, options.clients, out)
                        result.error = traceback.format_exc()
                    results.append(result)
                    print(_describe(result), flush=True)
    finally:
        reap_run(run_id)
    traffic = sum(r.traffic_seconds for r in results)
    ops_s = sum(r.total for r in results) / traffic if traffic > 0 else 0.0
    seconds = time.monotonic() - started
    (out / "summary.json").write_text(
        json.dumps(
            {
                "suite": suite.name,
                "seed": options.seed,
                "replay": options.replay(),
                "floor_ops_per_second": options.floor,
                "ops_per_second": round(ops_s, 1),
                "seconds": round(seconds, 1),
                "cpus": len(os.sched_getaffinity(0)),
                "rounds": [r.to_json() for r in results],
            },
            indent=2,
        )
        + "\n"
    )
    (out / "summary.md").write_text(_summary_md(options, results, ops_s, seconds))
    print(
        f"robustness: {ops_s:.0f} ops/s over {traffic:.0f}s of traffic (floor {options.floor:g}); "
        f"{seconds:.0f}s in all; {out.relative_to(PROJECT_ROOT) if out.is_relative_to(PROJECT_ROOT) else out}"
    )
    return _verdict(options, results, ops_s)


def _verdict(options: Options, results: Sequence[RoundResult], ops_s: float) -> int:
    """The run's exit code, said."""
    if any(r.error for r in results):
        return EXIT_ERROR
    failed = [r.verdict for r in results if r.verdict is not None and not r.verdict.passed]
    if any(v.linearizability.failing or v.violations for v in failed):
        print(f"robustness: FAILED; replay it with: {options.replay()}")
        return EXIT_FAILED
    if failed:
        print("robustness: a check timed out before it could judge a session")
        return EXIT_UNKNOWN
    if ops_s < options.floor:
        print(f"robustness: {ops_s:.0f} ops/s is below the floor of {options.floor:g}: too slow to make the races")
        return EXIT_SLOW
    print("robustness: every history passed")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    with_workload = [s.name for s in suites() if s.workload.is_file()]
    p = argparse.ArgumentParser(prog="python -m harness.robustness", description=__doc__.split("\n\n")[0])
    p.add_argument("--suite", default=with_workload[0] if with_workload else None, choices=with_workload)
    p.add_argument("--seed", type=int, default=None, help="replay the run of this seed (default: a new one)")
    p.add_argument("--schedule", default="random", choices=sorted(SCHEDULES))
    p.add_argument("--clients", type=int, default=None, help=f"client threads (default {DEFAULTS['clients']})")
    p.add_argument("--seconds", type=float, default=None, help=f"traffic per round (default {DEFAULTS['seconds']:g})")
    p.add_argument("--profiles", default="", help="comma-separated profiles of the workload (default: all)")
    p.add_argument("--redis", choices=("fake", "owned"), default=None, help="owned: a redis-server of the run's own")
    p.add_argument("--floor", type=float, default=None, help=f"least ops/s (default {DEFAULTS['floor']:g})")
    p.add_argument("--deep", action="store_true", help="every schedule, longer, more clients, owned Redis if any")
    p.add_argument("--out", type=Path, default=REPORTS_DIR / "robustness")
    args = p.parse_args(argv)
    if args.suite is None:
        p.error("no registered suite has a workload (<suite>/robustness.py)")
    base = DEEP if args.deep else DEFAULTS
    redis = args.redis or ("owned" if args.deep and redis_server_binary() else "fake")
    clients = args.clients if args.clients is not None else int(base["clients"])
    if not 1 <= clients <= 64:
        p.error("--clients takes 1 to 64")
    options = Options(
        suite=args.suite,
        seed=args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**31),
        schedule=args.schedule,
        clients=clients,
        seconds=args.seconds if args.seconds is not None else float(base["seconds"]),
        profiles=tuple(x.strip() for x in args.profiles.split(",") if x.strip()),
        redis=redis,
        floor=args.floor if args.floor is not None else float(base["floor"]),
        out=args.out.resolve(),
        deep=args.deep,
    )
    return run(options)
