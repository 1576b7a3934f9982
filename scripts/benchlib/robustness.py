"""The ``robustness`` section: the bounded robustness run (``nox -s robustness``) as CI makes it,
timed whole, with the throughput it reached against its floor and what the checker took."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchlib.common import Options, say
from benchlib.report import Goal, Section, secs, table
from benchlib.runs import child_env, prebuild, run_timed, show_run

__all__ = ["bench_robustness"]

SEED = 1
"""The seed of every measured run: the same faults at the same times in each."""


def _round_row(r: dict[str, Any]) -> list[str]:
    faults = ", ".join(f"{kind} {n}" for kind, n in r["faults"].items()) or "none"
    return [
        f"{r['profile']} ({r['schedule']})",
        str(r["clients"]),
        str(r["total_operations"]),
        f"{r['traffic_seconds']:.1f} s",
        f"{r['ops_per_second']:.0f}",
        secs(r["check_seconds"]),
        secs(r["linearizability_seconds"] or 0.0),
        str(r["sessions"]),
        faults,
        "passed" if r["passed"] else "**failed**",
    ]


def bench_robustness(opts: Options) -> Section:
    """The bounded run, ``opts.repeats`` times from one seed, each in a fresh report directory."""
    section = Section("Robustness run (`nox -s robustness`)")
    prebuild()
    from harness.robustness.runner import DEFAULTS

    runs = []
    for n in range(opts.repeats):
        with tempfile.TemporaryDirectory(prefix="bench-robustness-") as out:
            say(f"robustness: run {n + 1} of {opts.repeats} (seed {SEED})")
            argv = [sys.executable, "-m", "harness.robustness", "--seed", str(SEED), "--out", out, "--floor", "0"]
            run = run_timed(argv, env=child_env())
            show_run("robustness", run)
            summaries = list(Path(out).glob("*/summary.json"))
            summary = json.loads(summaries[0].read_text()) if summaries else None
            runs.append((run, summary))
    floor = float(DEFAULTS["floor"])
    measured = [(run, s) for run, s in runs if s is not None]
    if not measured:
        section.failed = True
        section.lines.append("Not measured: no run wrote its summary (see the bench's output).")
        return section
    rates = sorted(s["ops_per_second"] for _, s in measured)
    slowest = rates[0]
    failed = [run for run, s in runs if s is None or run.returncode != 0]
    section.goals.append(
        Goal(
            f"robustness run ≥ {floor:g} operations/s (its floor; `-n` = {DEFAULTS['clients']:g} clients, 2 cores)",
            f"{slowest:.0f} ops/s (slowest of {len(rates)})",
            None if failed else slowest >= floor,
        )
    )
    section.lines += [
        f"`python -m harness.robustness --seed {SEED}` (what `nox -s robustness` runs, its venv already synced), "
        f"{opts.repeats} time(s), the binaries and the history checker already built: for each profile of the "
        f"suite's workload a round of {DEFAULTS['seconds']:g} s on a fresh stack with every edge through the fault "
        f"proxy, {DEFAULTS['clients']:g} client threads calling it over HTTP and gRPC while the nemesis applies the "
        "seed's plan, then the history settled and judged. A run below the floor "
        f"({floor:g} operations a second over the rounds' traffic) fails, like etcd's robustness QPS floor. "
        "Throughput counts every operation a client made, answered or not; a client pauses 50 ms after a call that "
        "got no answer it could rely on, so an outage does not fill the history with calls refused at once. "
        "The throughput depends on what else the two cores run: the header gives the load average around the run.",
        "",
        *table(
            ["run", "whole run (wall)", "ops/s", "operations", "check (all rounds)", "verdict"],
            [
                [
                    str(n),
                    secs(run.wall),
                    f"{s['ops_per_second']:.0f}" if s else "—",
                    str(sum(r["total_operations"] for r in s["rounds"])) if s else "—",
                    secs(sum(r["check_seconds"] for r in s["rounds"])) if s else "—",
                    "passed" if run.returncode == 0 else f"**exit {run.returncode}**",
                ]
                for n, (run, s) in enumerate(runs, 1)
            ],
        ),
        "",
        "The rounds of the last run (check: the whole verdict, histcheck and the invariants; porcupine: "
        "histcheck's own time over every session):",
        "",
        *table(
            [
                "round",
                "clients",
                "operations",
                "traffic",
                "ops/s",
                "check",
                "porcupine",
                "sessions",
                "faults injected",
                "verdict",
            ],
            [_round_row(r) for r in measured[-1][1]["rounds"]],
        ),
    ]
    if failed:
        section.failed = True
        section.lines += ["", f"**{len(failed)} run(s) failed**; the output of the last:", "", "```"]
        section.lines += [*failed[-1].output.splitlines()[-20:], "```"]
    return section
