"""The ``nox`` section: a warm ``nox -s gatewayauthsession`` against the pytest time inside it."""

from __future__ import annotations

import os
import sys
import tempfile

from benchlib.common import Options, say
from benchlib.machine import venv_bytecode
from benchlib.report import EN_DASH, MINUS, Goal, Section, Stats, secs, span, table, verdict
from benchlib.runs import Run, child_env, failed_note, prebuild, pytest_argv, run_timed, show_run, summaries

GOAL_NOX_OVERHEAD_S = 1.0
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
        direct_argv = pytest_argv("-o", "junit_suite_name=gatewayauthsession", "gatewayauthsession", "-n", "auto")
        direct_argv += ["-q", *selection, junit]
        say(f"nox: warm-up run of nox -s gatewayauthsession -- {shown} (makes the venv warm; not counted)")
        warm = run_timed(nox_argv, _nox_env())
        show_run("nox warm-up", warm)
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
            show_run("nox", nox_runs[-1])
            say(f"nox: the same pytest without nox (repeat {repeat + 1}/{opts.repeats})")
            prebuild()
            direct_runs.append(run_timed(direct_argv))
            show_run("pytest", direct_runs[-1])
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
        f"The imports are {', '.join(f'`{m}`' for m in SUITE_IMPORTS)}: what each process that runs tests "
        "(an xdist worker, or a run without workers) loads; the xdist controller, which only hands tests out, "
        "imports neither the stack nor gRPC (the fixtures are registered where tests run), and Hypothesis only "
        "for its plugin's end-of-run summary"
        + (
            "; with `PYTHONDONTWRITEBYTECODE` set and no precompiled bytecode in the virtualenv, every process "
            "compiles them again."
            if os.environ.get("PYTHONDONTWRITEBYTECODE") and venv_bytecode() == "no"
            else "."
        ),
        "",
        f"pytest: {summaries([*nox_runs, *direct_runs])}{failed_note(failed)}",
    ]
    return section
