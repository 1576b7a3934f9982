"""Benchmarks of galaxy integration; ``nox -s bench`` runs this and writes BENCHMARKS.md.

    python scripts/bench.py                       # everything, default sizes
    python scripts/bench.py --quick               # fewer iterations and repeats
    python scripts/bench.py --only stack,build    # some sections only
    python scripts/bench.py --iterations 50 --repeats 5

Sections (``--only``):

* ``build`` — ``harness.builds.binary.build`` into a fresh cache directory (cold), then again (cached);
* ``stack`` — ``start_stack`` to ready, whole and per component (fakeredis server, stubs, keys,
  both processes), and the teardown;
* ``peers`` — ``ServiceProcess`` against mirakuru's ``HTTPExecutor`` and a 100 ms poll loop, one binary;
* ``login`` — a login flow (start + confirm + me) over a fresh stack, on fakeredis and on a real Redis;
* ``redis`` — per-operation latency of fakeredis and a real redis-server, and the smoke suite on each;
* ``suite`` — the boundary suite's wall time against its floor (longest test, CPU work / cores);
* ``faults`` — a stack with every link through the fault proxy against a plain one, and the suite's
  wall time with and without the fault scenarios;
* ``nox`` — a warm ``nox -s gatewayauthsession`` against the pytest time inside it;
* ``forensics`` — a suite-like scenario with the Redis command record on and off, and what a failing
  test's timeline and bundle cost;
* ``robustness`` — the bounded robustness run (``nox -s robustness``) from one seed: its wall time, the
  throughput against its floor, the faults injected and what the checker took.

Every figure is measured in the run that writes it; what cannot be measured (no redis-server, a
failing build) is written as "not measured" with the reason.

This file holds the command line, the report's header and ``main``. The sections live in
``scripts/benchlib/``, a module each: ``build``, ``stack`` (and ``login``), ``peers``,
``redis_backends`` (``redis``, and the real Redis that ``login`` uses too), ``suite`` (and
``faults``), ``nox_overhead``, ``forensics``, ``robustness``; beside them what they share:
``common`` (paths, progress, the options), ``report`` (statistics, Markdown, ``Section``, and
merging a run of some sections into the report of an earlier run), ``machine`` (facts of the
machine) and ``runs`` (timed child runs, the binaries).

A run of some sections (``--only``) into an existing report keeps the other sections as that
report had them, and its header says from which run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from benchlib.build import bench_build
from benchlib.common import ROOT, Options, elapsed, say
from benchlib.forensics import bench_forensics
from benchlib.machine import bytecode_home, cpu_model, git_commit, loadavg, memory, nproc, run_text, venv_bytecode
from benchlib.nox_overhead import DEFAULT_NOX_SELECTION, bench_nox
from benchlib.peers import bench_peers
from benchlib.redis_backends import RealRedisServer, bench_redis
from benchlib.report import Section, keep_earlier, secs, table
from benchlib.robustness import bench_robustness
from benchlib.runs import service_binaries
from benchlib.stack import bench_login, bench_stack
from benchlib.suite import bench_faults, bench_suite

SECTIONS = ("build", "stack", "peers", "login", "redis", "suite", "faults", "nox", "forensics", "robustness")


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
    go_version = run_text(["go", "env", "GOVERSION"])
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
                ["git commit", git_commit()],
                ["CPUs (nproc)", str(nproc())],
                ["CPU model", cpu_model()],
                ["memory", memory()],
                ["OS", f"{platform.system()} {platform.release()}"],
                ["Go", go_version],
                ["Python", f"{platform.python_implementation()} {platform.python_version()}"],
                ["bytecode", bytecode_home()],
                ["dependencies' bytecode already compiled", venv_bytecode()],
                ["binaries", binaries],
                ["load average (1/5/15 min) before → after", f"{load_before} → {loadavg()}"],
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
    load_before = loadavg()
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
        "forensics": lambda _r: bench_forensics(opts),
        "robustness": lambda _r: bench_robustness(opts),
    }
    needs_real = {"login", "redis"} & set(opts.only)
    with contextlib.ExitStack() as resources:
        real = resources.enter_context(RealRedisServer.provide()) if needs_real else RealRedisServer()
        if needs_real and real.addr is None:
            say(f"redis: real Redis not measured: {real.reason}")
        if set(opts.only) & {"stack", "peers", "login", "faults", "forensics", "robustness"}:
            say("building (or finding) the binaries")
            try:
                binaries = ", ".join(f"`{b.path.parent.name}`" for b in service_binaries().values())
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

    duration = elapsed()
    out = header(opts, binaries, load_before, duration)
    goal_rows = [
        [g.goal, g.measured, "not judged" if g.met is None else ("met" if g.met else "**not met**")]
        for s in sections
        for g in s.goals
    ]
    blocks = [(section.title, [*section.lines, ""]) for section in sections]
    if set(opts.only) != set(SECTIONS) and opts.output.is_file():
        # A run of some sections keeps the others' figures as the file had them, saying so.
        out, goal_rows, blocks = keep_earlier(opts.output.read_text(), out, goal_rows, blocks)
    if goal_rows:
        out += ["## Goals", "", *table(["goal", "measured (p50)", "verdict"], goal_rows), ""]
    for title, lines in blocks:
        out += [f"## {title}", "", *lines]
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
