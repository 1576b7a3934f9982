"""The ``suite`` and ``faults`` sections: the boundary suite's wall time against its floor, and what
the fault layer costs (a proxied stack, and the suite with and without the fault scenarios)."""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

from benchlib.common import Options, say
from benchlib.machine import nproc, xdist_auto_workers
from benchlib.report import EN_DASH, TIMES, Goal, Section, Stats, ms, ratio, secs, span, table, verdict
from benchlib.runs import Run, failed_note, prebuild, pytest_argv, run_timed, service_binaries, show_run, summaries

GOAL_FLOOR_RATIO = 1.3  # suite wall / its floor
GOAL_FAULT_GROWTH = 4 / 3  # the fault scenarios may add at most a third to the suite's wall time


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
                show_run(f"-n {workers}", run)
                runs[workers].append(run)
                if workers == "auto" and junit.exists():
                    longest.append(_longest_test(junit))
    one = Stats.of([r.wall for r in runs["1"]])
    auto = Stats.of([r.wall for r in runs["auto"]])
    failed = sum(r.returncode != 0 for rs in runs.values() for r in rs)
    cores = nproc()
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
    workers = xdist_auto_workers()
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
                ["`-n 1` / `-n auto`", f"{one.p50 / auto.p50:.2f}{TIMES}", failed_note(failed).strip(" —")],
            ],
        ),
    ]
    section.failed = bool(failed)
    return section


# --------------------------------------------------------------------------- faults


def bench_faults(opts: Options) -> Section:
    """What the fault layer costs: a stack whose every edge goes through the
    fault proxy against a plain one (interleaved), and the suite with and
    without the fault scenarios."""
    from gatewayauthsession.stack import start_stack
    from harness.faults.toxiproxy import ToxiproxyServer

    section = Section("Faults: a proxied stack, and the fault scenarios in the suite")
    binaries = service_binaries()
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
                for into, links, server in (
                    (plain, (), None),
                    (proxied, "all", proxy),
                ):
                    with tempfile.TemporaryDirectory(prefix="bench-faults-stack-") as stack_dir:
                        started = time.perf_counter()
                        stack = start_stack(Path(stack_dir), binaries, proxy=server, links=links)
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
            show_run(kind, run)
            runs[kind].append(run)
    with_, without = Stats.of([r.wall for r in runs["with"]]), Stats.of([r.wall for r in runs["without"]])
    failed = sum(r.returncode != 0 for rs in runs.values() for r in rs)
    growth = with_.p50 / without.p50
    met = growth <= GOAL_FAULT_GROWTH
    section.goals.append(
        Goal(
            f"fault scenarios add ≤ a third to the suite's wall time (`-n auto` = {xdist_auto_workers()} workers, "
            f"{nproc()} CPUs)",
            f"{growth:.2f}{TIMES}",
            met if not failed else None,
        )
    )
    section.lines += [
        f'A stack with every edge through the fault proxy (`links="all"`) against a plain '
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
                ["without the fault scenarios", secs(without.p50), span(without, secs), summaries(runs["without"])],
                ["with them", secs(with_.p50), span(with_, secs), summaries(runs["with"])],
                ["**growth** (median / median)", f"**{growth:.2f}{TIMES}**", "", failed_note(failed).strip(" —")],
            ],
        ),
    ]
    section.failed = bool(failed)
    return section
