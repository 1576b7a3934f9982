"""Mutation testing of a Go workspace against an external test command.

    python -m harness.mutation --catalogue SUITE/mutants.toml [--only ID,ID] [--rules PREFIX,...]
        [--document PATH] [--list] [--budget SECONDS] [--threshold PERCENT] [--no-baseline] [--first-only]
        [--killers FILE] [--seed-killers FILE] [--first-args ARGS] [--work DIR]
        [--command NAME=COMMAND ...] [--with NAME] -- TEST COMMAND ...

The mutants are a curated catalogue, not generated: each names a file of
the workspace, an exact source fragment, its replacement and the id of the
contract rule the change breaks (:mod:`harness.mutation.catalogue`; the
rule index: :mod:`harness.gates.rules`), so a survivor reads as "the suite
would not notice this rule broken", with the rule's text beside it. The Go mutation tools generate their mutants from
operators instead, and test them with ``go test``: go-gremlins/gremlins
(v0.6.0 on the Go module proxy) runs a module's own tests only;
go-mutesting (``--exec`` runs a script per mutant) and gtramontina/ooze (a
``go test`` harness) are not on the proxy. None takes a list of named
mutants, and a suite of processes over a copy of a workspace is no Go test.
Hence this small runner.

For each mutant, one after the other (the test command is parallel
itself), it:

1. copies the workspace (``GALAXY_ROOT``, else ``./galaxy``) into the
   run's work directory (``<tmp>/galaxy-mutation-<uid>``, locked, the same
   path for every mutant: the Go build cache keys a package on its
   directory, so every package the mutant leaves alone is reused) and
   applies the mutant: the fragment must occur exactly once in the file, or
   the mutant is a catalogue error (the catalogue must not rot silently);
2. checks that the mutated module still builds (``go build ./...``) and
   the mutated package vets (``go vet``, its tests compiled too): a mutant
   that does not compile is a catalogue error too, never a kill;
3. runs the test command with ``GALAXY_ROOT`` pointing at the copy. The
   harness's builds are keyed on the content of the sources, so the copy
   gets binaries of its own while an unmutated copy reuses the cache. The
   tests that killed the mutant in earlier runs (``--killers``), then the
   scenarios that name its rule (``@pytest.mark.rule``), run alone first
   (:mod:`harness.mutation.plugin` deselects the rest and keeps that
   order, ``--first-args`` are added); a mutant that names no rule tries
   the killers of the other mutants of its file. Only if they pass does the whole command run,
   and a test that fails in it counts once it fails again alone (a
   timing-sensitive test may fail on a loaded machine without the mutant;
   then the whole command runs once more);
4. classifies it: *killed* (the command failed with a code of
   ``--kill-codes``, or failed reporting failed tests), *survived* (it passed), *timeout* (it outran the
   budget; counted as detected, as mutation tools do), *invalid* (a
   catalogue error, or the command failed in another way).

Every test process of a mutant runs in a process group of its own and is
killed with it on timeout; what a killed run leaves behind is swept
(:func:`harness.processes.sweep.sweep`), and the copy is removed.

A mutant that only a command of its own can see names it: ``killed_by =
"robustness"`` in the catalogue tests it with the command given as
``--command robustness=...`` (a concurrency mutant, which only many clients at
once under a nemesis expose) instead of the test command after ``--``; such a
command exits 1 when it finds the mutant. ``--with NAME`` tests every mutant
selected with one command (``default``: the one after ``--``), to show what the
other command makes of it: ``--only ID --with default`` shows the suite letting
a concurrency mutant through.

The report: a table on the terminal, ``reports/mutation.md`` (the score,
overall and by the document that states each mutant's rule, and each
survivor with the rule it breaks and the rule's text) and
``reports/mutation.xml`` (JUnit: one test case per mutant, classed by its
rule's document, a survivor a failure, an invalid mutant an error).
``--first-only`` is a quick pass: a mutant the tests run first let through
is reported survived without the whole command (so the score is a lower
bound, and each survivor is a mutant its rule's own scenarios miss); a
first run that ends another way than passed or failed is invalid.
``--rules`` and ``--document`` run the mutants of some rules only: those
whose rule id starts with one of the prefixes, or whose rule the document
states (a path, or its end: ``tokens.md``). The exit code is 0 when
the score (detected / (detected + survived)) reaches the threshold, 1 when
it does not, 2 on a catalogue error and 3 when the unmutated workspace
already fails the test command (the baseline, run first unless
``--no-baseline`` or a selection: ``--only``, ``--rules``, ``--document``).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.gates.rules import ConfigError, Rule
from harness.mutation.catalogue import CatalogueError, Mutant, _compile, apply, load_catalogue
from harness.mutation.coverage import project_rules
from harness.mutation.plugin import FAILED_ENV, ONLY_ENV, RULE_PREFIX
from harness.mutation.report import (
    Outcome,
    Status,
    _load_killers,
    _save_killers,
    _summary,
    document_of,
    junit_report,
    markdown_report,
    score,
    terminal_table,
)
from harness.paths import CACHE_DIR, PROJECT_ROOT, REPORTS_DIR, galaxy_root
from harness.processes.sweep import current_run_id, sweep

__all__ = ["DEFAULT", "Command", "command_for", "main", "run_mutant", "work_dir"]

DEFAULT_BUDGET_S = 600.0
DEFAULT_THRESHOLD = 95.0
_COPY_IGNORE = shutil.ignore_patterns(".git", ".cache")


@dataclass
class _Run:
    code: int | None  # None: timed out
    failed: list[str]
    seconds: float


DEFAULT = "default"
"""The name of the test command given after ``--``."""


@dataclass(frozen=True)
class Command:
    argv: list[str]
    first_args: list[str]  # added to a run of the recorded killers alone
    kill_codes: frozenset[int]
    name: str = DEFAULT  # a command of its own (--command NAME=...) runs whole, never its killers alone
    first_only: bool = False  # a mutant the tests run first let through is not tested further

    def killed(self, run: _Run) -> bool:
        """A test failed: an exit code that says so, or any failure exit with failed tests reported (pytest-xdist
        stopping at the first failure exits 2, interrupted)."""
        return run.code is not None and (run.code in self.kill_codes or (run.code != 0 and bool(run.failed)))


def _run(command: Command, root: Path, work: Path, deadline: float, only: Sequence[str] = ()) -> _Run:
    """Run the test command once against workspace ``root``, in a process
    group of its own that is killed at ``deadline``."""
    failed_file = work / "failed.txt"
    failed_file.unlink(missing_ok=True)
    env = {
        **os.environ,
        "GALAXY_ROOT": str(root),
        FAILED_ENV: str(failed_file),
        "PYTEST_PLUGINS": ",".join(filter(None, [os.environ.get("PYTEST_PLUGINS"), "harness.mutation.plugin"])),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
    }
    argv = list(command.argv)
    if only:
        only_file = work / "only.txt"
        only_file.write_text("".join(f"{nodeid}\n" for nodeid in only))
        env[ONLY_ENV] = str(only_file)
        argv += command.first_args
    else:
        env.pop(ONLY_ENV, None)
    started = time.monotonic()
    proc = subprocess.Popen(
        argv, env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        out, _ = proc.communicate(timeout=max(1.0, deadline - started))
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        code = None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever the command left in its group
        sweep(keep=current_run_id())
    (work / "output.txt").write_bytes(out or b"")
    failed = failed_file.read_text().splitlines() if failed_file.exists() else []
    return _Run(code, failed, time.monotonic() - started)


def _tail(work: Path, lines: int = 8) -> str:
    path = work / "output.txt"
    text = path.read_text(errors="replace") if path.exists() else ""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def run_mutant(
    mutant: Mutant, source: Path, *, work: Path, command: Command, budget_s: float, killers: Sequence[str] = ()
) -> Outcome:
    """Copy ``source`` into ``work``, apply ``mutant``, compile it and run
    the command (the recorded ``killers`` alone first); the copy is removed
    after. ``work`` is the same directory for every mutant of a run, so the
    Go build cache, whose keys hold a package's directory, reuses every
    package the mutant leaves alone."""
    started = time.monotonic()
    root = work / source.name
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(source, root, ignore=_COPY_IGNORE, symlinks=True)
    try:
        try:
            apply(mutant, root)
            why = _compile(root, mutant.file)
        except CatalogueError as exc:
            why = str(exc)
        else:
            why = why and f"does not compile: {why}"
        if why:
            status: Status = "invalid"
            detail, found = why, list[str]()
        else:
            test = _test if command.name == DEFAULT else _test_named
            status, detail, found = test(root, work, command, budget_s, killers)
        return Outcome(mutant, status, time.monotonic() - started, detail, found)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _first(
    root: Path, work: Path, command: Command, deadline: float, killers: Sequence[str]
) -> tuple[tuple[Status, str, list[str]] | None, int | None]:
    """The verdict of ``killers`` run alone, or None when they pass; and the run's exit code."""
    first = _run(command, root, work, deadline, only=killers)
    if command.killed(first):
        found = first.failed or list(killers)
        return ("killed", f"by {', '.join(found)} (run first)", found), first.code
    if first.code is None:
        return ("timeout", "the tests run first outran the budget", []), None
    return None, first.code


def _test(
    root: Path, work: Path, command: Command, budget_s: float, killers: Sequence[str]
) -> tuple[Status, str, list[str]]:
    """The verdict of the test command on the mutated workspace ``root``:
    status, what to say and the tests that failed."""
    deadline = time.monotonic() + budget_s
    verdict, code = _first(root, work, command, deadline, killers) if killers else (None, 0)
    if verdict is not None:
        return verdict
    if not command.first_only:
        return _whole(root, work, command, budget_s, deadline)
    if code not in (0, NO_TESTS_COLLECTED):
        return "invalid", f"the tests run first exited {code}, not a test failure: {_tail(work)}", []
    return "survived", f"{FIRST_ONLY_SURVIVOR}: {', '.join(killers) or 'none'}", []


def _whole(root: Path, work: Path, command: Command, budget_s: float, deadline: float) -> tuple[Status, str, list[str]]:
    """The verdict of the whole test command, a failure confirmed alone."""
    flaky: list[str] = []
    for _ in range(WHOLE_RUNS):
        whole = _run(command, root, work, deadline)
        if whole.code is None:
            return "timeout", f"the test command outran the {budget_s:.0f}s budget", []
        if whole.code == 0:
            return (
                "survived",
                "every test passed" + (f" (failed once, not alone: {', '.join(flaky)})" * bool(flaky)),
                [],
            )
        if not command.killed(whole):
            return "invalid", f"the test command exited {whole.code}, not a test failure: {_tail(work)}", []
        # A failure under the whole parallel run counts once it repeats alone:
        # a timing-sensitive test can fail on a loaded machine without the mutant.
        if not whole.failed or command.killed(_run(command, root, work, deadline, only=whole.failed)):
            return "killed", f"by {', '.join(whole.failed) or 'the test command'}", whole.failed
        flaky += whole.failed
    return "killed", f"by {', '.join(flaky)}, which failed in {WHOLE_RUNS} whole runs but not alone", flaky


def _test_named(
    root: Path, work: Path, command: Command, budget_s: float, killers: Sequence[str] = ()
) -> tuple[Status, str, list[str]]:
    """The verdict of a command of its own: run whole, once (it has no tests to run alone);
    it exits 1 when it finds the mutant."""
    run = _run(command, root, work, time.monotonic() + budget_s)
    if run.code is None:
        return "timeout", f"the {command.name} command outran the {budget_s:.0f}s budget", []
    if run.code == 0:
        return "survived", f"the {command.name} command passed", []
    if not command.killed(run):
        return "invalid", f"the {command.name} command exited {run.code}, not a finding: {_tail(work)}", []
    return "killed", f"by the {command.name} command: {_tail(work, 3)}", []


@contextlib.contextmanager
def work_dir(parent: Path | None = None) -> Iterator[Path]:
    """The run's work directory, ``<tmp>/galaxy-mutation-<uid>``, held under an
    exclusive lock (one run at a time uses it) and removed at the end."""
    path = (parent or Path(tempfile.gettempdir())) / f"galaxy-mutation-{os.getuid()}"
    path.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CatalogueError(f"another mutation run holds {path}") from None
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)


NO_TESTS_COLLECTED = 5
"""pytest's exit code when no test was selected: under ``--first-only``, no scenario names the rule."""

FIRST_ONLY_SURVIVOR = "passed the tests run first (--first-only: the whole command not run)"
"""What a survivor of a ``--first-only`` run says: the score is then a lower bound."""

WHOLE_RUNS = 2
"""How many times the whole command runs when its failures do not repeat alone."""

NEIGHBOUR_KILLERS = 8
"""How many killers of the other mutants of its file a mutant with none of its own tries first."""


def _neighbours(mutant: Mutant, mutants: Sequence[Mutant], killers: dict[str, list[str]]) -> list[str]:
    """The recorded killers of the other mutants of ``mutant``'s file: a test that
    sees one change of a file is the likeliest to see another."""
    found: list[str] = []
    for other in mutants:
        if other.file == mutant.file and other.id != mutant.id:
            found += [t for t in killers.get(other.id, []) if t not in found]
    return found[:NEIGHBOUR_KILLERS]


def _first_tests(mutant: Mutant, mutants: Sequence[Mutant], killers: dict[str, list[str]]) -> list[str]:
    """What runs alone before the whole command, in this order: the tests that killed the mutant
    before, then the scenarios that name its rule (they verify what it breaks); a mutant that names
    no rule tries the killers of the other mutants of its file instead."""
    recorded = killers.get(mutant.id, [])
    if not mutant.rule:
        return recorded or _neighbours(mutant, mutants, killers)
    return [*recorded, f"{RULE_PREFIX}{mutant.rule}"]


def command_for(mutant: Mutant, commands: Mapping[str, Command], forced: str | None = None) -> Command:
    """The command that tests ``mutant``: ``forced`` if given, else the one it is ``killed_by``, else the default."""
    name = forced or mutant.killed_by or DEFAULT
    if name not in commands:
        given = ", ".join(sorted(commands))
        raise CatalogueError(f"mutant {mutant.id} is tested by command {name!r}, which was not given (given: {given})")
    return commands[name]


def _run_all(
    mutants: Sequence[Mutant],
    source: Path,
    *,
    work: Path,
    commands: Mapping[str, Command],
    budget_s: float,
    killers_file: Path,
    seed_file: Path | None = None,
    forced: str | None = None,
) -> list[Outcome]:
    """Every mutant, one after the other, each with its command, recording each one's
    killers as it goes; the killers of ``seed_file`` (committed with a catalogue) stand
    in where ``killers_file`` has none yet."""
    killers = (_load_killers(seed_file) if seed_file else {}) | _load_killers(killers_file)
    outcomes: list[Outcome] = []
    for n, mutant in enumerate(mutants, 1):
        command = command_for(mutant, commands, forced)
        named = "" if command.name == DEFAULT else f", the {command.name} command"
        print(f"mutation: [{n}/{len(mutants)}] {mutant.id} ({mutant.file}{named}) ...", end=" ", flush=True)
        first = _first_tests(mutant, mutants, killers)
        outcome = run_mutant(mutant, source, work=work, command=command, budget_s=budget_s, killers=first)
        print(f"{outcome.status} in {outcome.seconds:.0f}s {outcome.detail}", flush=True)
        outcomes.append(outcome)
        if outcome.killers and outcome.killers != killers.get(mutant.id):
            killers[mutant.id] = outcome.killers
            _save_killers(killers_file, killers)
    return outcomes


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness.mutation", description=__doc__.split("\n\n")[0])
    p.add_argument("--catalogue", type=Path, required=True, help="TOML file of [[mutant]] entries")
    p.add_argument("--only", default="", help="comma-separated mutant ids to run")
    p.add_argument("--rules", default="", help="comma-separated rule id prefixes: run the mutants of those rules")
    p.add_argument("--document", default="", help="run the mutants of the rules this document states (or its end)")
    p.add_argument("--rules-root", type=Path, default=PROJECT_ROOT, help="the project whose rule index names the rules")
    p.add_argument("--list", action="store_true", help="list the catalogue and exit")
    p.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S, help="seconds of testing per mutant")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help="least score, in percent")
    p.add_argument("--killers", type=Path, default=CACHE_DIR / "mutation" / "killers.json")
    p.add_argument("--seed-killers", type=Path, default=None, help="killers to start from where --killers has none")
    p.add_argument("--first-args", default="", help="arguments added to a run of the recorded killers alone")
    p.add_argument("--kill-codes", default="1", help="exit codes of the command that mean a test failed")
    p.add_argument("--no-baseline", action="store_true", help="skip the unmutated run of the command")
    p.add_argument(
        "--first-only",
        action="store_true",
        help="run only the tests run first (recorded killers, the scenarios naming the rule): a quick pass whose "
        "survivors are the mutants the rule's own scenarios let through (the score is a lower bound)",
    )
    p.add_argument("--work", type=Path, default=None, help="where the workspace copy goes (default: the temp dir)")
    p.add_argument(
        "--command",
        dest="commands",
        action="append",
        default=[],
        metavar="NAME=COMMAND",
        help="a command of its own, for the mutants killed_by NAME (it exits 1 when it finds the mutant)",
    )
    p.add_argument("--with", dest="forced", default=None, help=f"test every mutant with this command ({DEFAULT}: --)")
    p.add_argument("--report", type=Path, default=REPORTS_DIR / "mutation.md")
    p.add_argument("--junit", type=Path, default=REPORTS_DIR / "mutation.xml")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- then the test command")
    return p


def _select(args: argparse.Namespace, rules: dict[str, Rule]) -> list[Mutant]:
    """The catalogue's mutants that ``--only``, ``--rules`` and ``--document`` select (all without them)."""
    mutants = load_catalogue(args.catalogue).mutants
    if args.only:
        wanted = [i.strip() for i in args.only.split(",") if i.strip()]
        unknown = sorted(set(wanted) - {m.id for m in mutants})
        if unknown:
            raise CatalogueError(f"no such mutant: {', '.join(unknown)}")
        mutants = [m for m in mutants if m.id in wanted]
    if args.rules:
        prefixes = tuple(p.strip() for p in args.rules.split(",") if p.strip())
        mutants = [m for m in mutants if m.rule.startswith(prefixes)]
    if args.document:
        mutants = [m for m in mutants if _states(document_of(m, rules), args.document)]
    if not mutants:
        raise CatalogueError("no mutant of the catalogue is selected")
    return mutants


def _states(document: str, wanted: str) -> bool:
    """Whether ``wanted`` names ``document``: its path, or the path's end."""
    return document == wanted or document.endswith("/" + wanted.lstrip("/"))


def _rules(root: Path) -> dict[str, Rule]:
    """The rule index of the project at ``root`` by id; empty when it declares none or cannot be read."""
    try:
        return project_rules(root)
    except (ConfigError, OSError) as exc:
        print(f"mutation: no rule index ({exc}): the report names rules without their text", file=sys.stderr)
        return {}


def _baseline(source: Path, work: Path, commands: Sequence[Command], budget_s: float) -> bool:
    """Whether the unmutated workspace passes every test command the mutants use."""
    for command in commands:
        print(f"mutation: baseline, the unmutated workspace {source} ({command.name} command)", flush=True)
        base = _run(command, source, work, time.monotonic() + budget_s)
        if base.code != 0:
            print(
                f"error: the unmutated workspace fails the {command.name} command ({base.code}): {_tail(work)}",
                file=sys.stderr,
            )
            return False
        print(f"mutation: baseline passed in {base.seconds:.0f}s", flush=True)
    return True


def _commands(args: argparse.Namespace, default_argv: list[str]) -> dict[str, Command]:
    """The default test command (after ``--``) and those given with ``--command``, by name."""
    commands = {}
    if default_argv:
        kill_codes = frozenset(int(c) for c in args.kill_codes.split(",") if c)
        commands[DEFAULT] = Command(default_argv, shlex.split(args.first_args), kill_codes, first_only=args.first_only)
    for spec in args.commands:
        name, sep, text = spec.partition("=")
        if not sep or not name or not text.strip() or name == DEFAULT:
            raise CatalogueError(f"--command takes NAME=COMMAND (NAME not {DEFAULT!r}), not {spec!r}")
        commands[name] = Command(shlex.split(text), [], frozenset({1}), name)
    return commands


def _list(mutants: Sequence[Mutant], rules: Mapping[str, Rule]) -> None:
    for m in mutants:
        by = f" (killed by the {m.killed_by} command)" if m.killed_by else ""
        print(f"{m.id:34} {m.file}{by}\n{'':34} breaks {m.rule or '(no rule)'} ({document_of(m, rules)}): {m.breaks}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command_argv = args.command[1:] if args.command[:1] == ["--"] else args.command
    rules = _rules(args.rules_root)
    try:
        mutants = _select(args, rules)
        if args.list:
            _list(mutants, rules)
            return 0
        if not command_argv:
            raise CatalogueError("no test command (give it after --)")
        commands = _commands(args, command_argv)
        used = list(
            {
                command_for(m, commands, args.forced).name: command_for(m, commands, args.forced) for m in mutants
            }.values()
        )
    except CatalogueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    source = galaxy_root()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))  # unwind: the test run is killed too
    current_run_id()  # tag every process started from here with this run
    started = time.monotonic()
    try:
        with work_dir(args.work) as work:
            partial = bool(args.only or args.rules or args.document)
            if not (args.no_baseline or partial or _baseline(source, work, used, args.budget)):
                return 3
            outcomes = _run_all(
                mutants,
                source,
                work=work,
                commands=commands,
                budget_s=args.budget,
                killers_file=args.killers,
                seed_file=args.seed_killers,
                forced=args.forced,
            )
    except CatalogueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    wall = time.monotonic() - started
    return _report(outcomes, args, wall, rules)


def _report(outcomes: Sequence[Outcome], args: argparse.Namespace, wall: float, rules: dict[str, Rule]) -> int:
    """Print and write the reports; the exit code."""
    print("\n" + terminal_table(outcomes, rules))
    print(f"\nmutation: {_summary(outcomes, args.threshold)}; {wall / 60:.1f} min")
    args.report.parent.mkdir(parents=True, exist_ok=True)
    report = markdown_report(outcomes, args.threshold, str(args.catalogue), wall, rules)
    if args.first_only:  # say so where the score is read
        quick = f"A quick pass (`--first-only`): each survivor {FIRST_ONLY_SURVIVOR}; the score is a lower bound."
        report = report.replace("\n\n**score", f"\n\n{quick}\n\n**score", 1)
    args.report.write_text(report)
    args.junit.parent.mkdir(parents=True, exist_ok=True)
    args.junit.write_bytes(junit_report(outcomes, "mutation", rules))
    print(f"mutation: {args.report} and {args.junit}")
    if any(o.status == "invalid" for o in outcomes):
        print("error: catalogue errors (see 'invalid' above)", file=sys.stderr)
        return 2
    got = score(outcomes)
    return 0 if got is None or got >= args.threshold else 1
