"""Failure forensics of the harness's pytest plugin, registered with
:mod:`harness.suites.plugin` (its ``pytest_plugins``).

When a test fails, what it registered is gathered: :func:`attach_evidence`
sources (the hops of its requests, files) become one timeline
(:mod:`harness.forensics.timeline`), shown once in its report — in the terminal and in
the JUnit XML (``junit_logging = "system-err"``) — with the path of its
failure bundle (:mod:`harness.forensics.bundle`), written once the test's teardown is
over: the timeline as a page, every process log of the test, what
:func:`attach_diagnostics` sources give, the seeds and a command that runs
the test again. The JUnit XML names the bundle in the ``failure_bundle``
property of the test. Bundles are written where :func:`use_failure_bundles`
(or ``--failure-bundles``) says, and a run first clears those of the tests
its arguments hold (every one, or those named: a rerun keeps the others');
without a bundle directory the raw diagnostics go to the report.
Processes registered with :func:`watch_processes` are asked for a goroutine
dump when the test hits its pytest-timeout deadline.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from harness.forensics.bundle import Evidence, bundle_dir, clear_bundles, write_bundle
from harness.forensics.timeline import Timeline, render_text
from harness.processes.service import ServiceProcess
from harness.redis.backends import REAL_REDIS_ENV, real_redis_addr
from harness.suites.options import build_mode, redis_backend_kind

__all__ = [
    "attach_diagnostics",
    "attach_evidence",
    "failed",
    "own_options",
    "use_failure_bundles",
    "watch_processes",
]

_SOURCES = pytest.StashKey[list[tuple[str, Callable[[], str]]]]()
_PROCESSES = pytest.StashKey[list[ServiceProcess]]()
_FAILED = pytest.StashKey[bool]()
_EVIDENCE = pytest.StashKey[list[Callable[[bool], Evidence]]]()
_FAILED_AT = pytest.StashKey[float | None]()
_FAILURE = pytest.StashKey[str]()
Rerun = list[str] | Callable[[str], "list[str] | None"] | None
"""The command before a test id that runs it again: one for every test, or one per test id (None: the default)."""
_BUNDLES = pytest.StashKey[tuple[Path, Rerun]]()
_SECTIONS = pytest.StashKey[list[tuple[str, str]]]()


def use_failure_bundles(config: pytest.Config, root: Path, rerun: Rerun = None) -> None:
    """Write failing tests' bundles under ``root``; ``rerun`` is the command
    before the test id that runs one of this suite's tests again, or a function
    of the test id giving it (default: this interpreter's ``python -m pytest``).
    ``--failure-bundles`` and ``--rerun-command`` win over both."""
    given_root: Path | None = config.getoption("--failure-bundles")
    given_rerun: str | None = config.getoption("--rerun-command")
    config.stash[_BUNDLES] = (
        (given_root or root).resolve(),
        shlex.split(given_rerun) if given_rerun is not None else rerun,
    )


def _bundles(config: pytest.Config) -> tuple[Path, Rerun] | None:
    """Where bundles go and the rerun command: as the suite said, else as ``--failure-bundles`` says."""
    if _BUNDLES not in config.stash:
        given: Path | None = config.getoption("--failure-bundles")
        if given is None:
            return None
        use_failure_bundles(config, given)
    return config.stash[_BUNDLES]


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if not hasattr(config, "workerinput") and (bundles := _bundles(config)) is not None:
        clear_bundles(bundles[0], under=_named(config))  # a rerun keeps the other tests' bundles


def _named(config: pytest.Config) -> list[str] | None:
    """The tests, files and folders the run's arguments name, relative to the rootdir; None when they hold every
    test (no argument, the testpaths, or the rootdir itself)."""
    if config.args_source is not pytest.Config.ArgsSource.ARGS:
        return None
    named = []
    for arg in config.args:
        path, sep, rest = arg.partition("::")
        relative = Path(os.path.relpath((config.invocation_params.dir / path).resolve(), config.rootpath)).as_posix()
        if relative == ".":
            return None
        named.append(relative + sep + rest)
    return named


def attach_diagnostics(node: pytest.Item, name: str, source: Callable[[], str]) -> None:
    """If ``node`` fails, put ``source()`` in its failure bundle as ``<name>.txt``
    (without a bundle directory: as a section of its report)."""
    node.stash.setdefault(_SOURCES, []).append((name, source))


def attach_evidence(node: pytest.Item, source: Callable[[bool], Evidence]) -> None:
    """If ``node`` fails, call ``source(for_bundle)`` for the hops of its timeline
    and files for its bundle: once as it fails (``False``: the timeline of its
    report, which needs no files), and once its teardown is over (``True``: the
    bundle, with whatever the teardown added)."""
    node.stash.setdefault(_EVIDENCE, []).append(source)


def watch_processes(node: pytest.Item, *processes: ServiceProcess) -> None:
    """If ``node`` hits its deadline (pytest-timeout), ask each of ``processes``
    still running for a goroutine dump (SIGQUIT) before the logs are attached."""
    node.stash.setdefault(_PROCESSES, []).extend(processes)


def failed(node: pytest.Item) -> bool:
    """Whether ``node`` has failed so far (in its setup or call)."""
    return node.stash.get(_FAILED, False)


def _timed_out(call: pytest.CallInfo[Any]) -> bool:
    return (
        call.excinfo is not None
        and "Timeout" in str(call.excinfo.value)
        and "pytest-timeout" in str(call.excinfo.value)
    )


def _collect(item: pytest.Item, *, for_bundle: bool) -> tuple[Evidence, list[str]]:
    """Every evidence source's findings merged, and what could not be collected."""
    evidence = Evidence()
    broken: list[str] = []
    for source in item.stash.get(_EVIDENCE, []):
        try:
            evidence.add(source(for_bundle))
        except Exception as exc:  # a broken source must not hide the failure
            broken.append(f"could not collect evidence: {exc!r}")
    return evidence, broken


def _timeline(item: pytest.Item, evidence: Evidence) -> Timeline:
    return Timeline.merge(
        evidence.hops,
        chatter=evidence.chatter,
        failed_at=item.stash.get(_FAILED_AT, None),
        trace_id=evidence.trace_id,
        title=item.nodeid,
    )


def _seeds(config: pytest.Config) -> dict[str, Any]:
    seeds: dict[str, Any] = {}
    if config.pluginmanager.has_plugin("randomly"):
        seeds["pytest-randomly seed"] = config.getoption("randomly_seed", None)
    hypothesis_seed = config.getoption("hypothesis_seed", None)
    if hypothesis_seed is not None:
        seeds["hypothesis seed"] = hypothesis_seed
    return seeds


_PATH_OPTIONS = ("-c", "--config-file", "--rootdir", "--confcutdir")
_OPTIONS = ("-p", "-o", "--override-ini", *_PATH_OPTIONS)


def own_options(config: pytest.Config) -> list[str]:
    """The options of this pytest run that make it the run it is, not which tests it runs:
    the plugins it loads or blocks (``-p``; a rerun loads pytest-randomly itself, with the
    seed), its configuration file, rootdir and ini overrides; paths made absolute."""
    args = list(config.invocation_params.args)
    found: list[str] = []
    for i, arg in enumerate(args):
        name, value = arg, None
        if "=" in arg and arg.startswith("--"):
            name, _, value = arg.partition("=")
        elif arg[:2] in ("-p", "-c", "-o") and len(arg) > 2:
            name, value = arg[:2], arg[2:]
        elif arg in _OPTIONS and i + 1 < len(args):
            value = args[i + 1]
        if name not in _OPTIONS or value is None or (name == "-p" and value == "randomly"):
            continue
        if name in _PATH_OPTIONS:
            value = str((config.invocation_params.dir / value).resolve())
        found += [name, value]
    return found


def rerun_argv(config: pytest.Config, nodeid: str) -> list[str]:
    """The command that runs ``nodeid`` alone again, with this run's seeds, Hypothesis profile,
    marker expression and build options (by default: this interpreter's pytest with this
    run's own plugins and configuration, :func:`own_options`)."""
    bundles = _bundles(config)
    rerun = bundles[1] if bundles else None
    prefix = (rerun(nodeid) if callable(rerun) else rerun) or [sys.executable, "-m", "pytest", *own_options(config)]
    argv = [*prefix, nodeid]
    if config.pluginmanager.has_plugin("xdist"):
        argv += ["-n", "0"]
    seeds = _seeds(config)
    if (seed := seeds.get("pytest-randomly seed")) is not None:
        argv += ["-p", "randomly", f"--randomly-seed={seed}"]
    if (hypothesis_seed := seeds.get("hypothesis seed")) is not None:
        argv.append(f"--hypothesis-seed={hypothesis_seed}")
    if (profile := config.getoption("hypothesis_profile", None)) is not None:
        argv.append(f"--hypothesis-profile={profile}")
    if markexpr := config.option.markexpr:  # the test matched it; a suite may collect some tests only under it
        argv += ["-m", markexpr]
    if (mode := build_mode(config)) != "plain":
        argv.append(f"--build-mode={mode}")
    if (backend := redis_backend_kind(config)) != "fake":
        argv.append(f"--redis-backend={backend}")
        argv[:0] = ["env", f"{REAL_REDIS_ENV}={real_redis_addr()}"]
    argv += [f"--service-ref={ref}" for ref in config.getoption("--service-ref")]
    return argv


def _raw(item: pytest.Item) -> dict[str, str]:
    raw: dict[str, str] = {}
    for name, source in item.stash.get(_SOURCES, []):
        try:
            raw[name] = source() or "(empty)"
        except Exception as exc:  # a broken source must not hide the failure
            raw[name] = f"<could not collect: {exc!r}>"
    return raw


def _report_sections(item: pytest.Item, when: str) -> list[tuple[str, str]]:
    """The sections a failing report gets, once: the timeline and where the
    bundle goes, or (without a bundle directory) the raw diagnostics."""
    bundles = _bundles(item.config)
    sections: list[tuple[str, str]] = []
    if item.stash.get(_EVIDENCE, None):
        evidence, broken = _collect(item, for_bundle=False)
        text = render_text(_timeline(item, evidence))
        if bundles is not None:
            where = bundle_dir(bundles[0], item.nodeid)
            text += f"\nfailure bundle (written after teardown): {where}\n  timeline: {where / 'timeline.html'}"
            text += f"\n  rerun: {shlex.join(rerun_argv(item.config, item.nodeid))}"
        sections.append((f"Captured stderr {when}: timeline", "\n".join([text, *broken])))
    if bundles is None:
        sections += [(f"Captured stderr {when}: {name}", text) for name, text in _raw(item).items()]
    return sections


def _write_bundle(item: pytest.Item) -> Path | None:
    bundles = _bundles(item.config)
    if bundles is None:
        return None
    evidence, broken = _collect(item, for_bundle=True)
    for name, text in _raw(item).items():
        evidence.files[f"{name.replace(' ', '-')}.txt"] = text
    funcargs = getattr(item, "funcargs", None)  # a pytest.Function's fixtures
    tmp = funcargs.get("tmp_path") if isinstance(funcargs, dict) else None
    where = bundle_dir(bundles[0], item.nodeid)
    write_bundle(
        where,
        nodeid=item.nodeid,
        timeline=_timeline(item, evidence),
        evidence=evidence,
        log_dirs=[tmp] if isinstance(tmp, Path) else [],
        seeds=_seeds(item.config),
        rerun=rerun_argv(item.config, item.nodeid),
        rerun_cwd=item.config.rootpath,  # test ids are relative to it
        failure="\n".join([item.stash.get(_FAILURE, ""), *broken]),
    )
    return where


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, Any]:
    report = yield
    if report.failed and _timed_out(call):
        for proc in item.stash.get(_PROCESSES, []):
            proc.dump_goroutines()
    # The first failing report of a test gets the timeline: the terminal shows
    # that report's sections. JUnit XML records a test's captured output from
    # its teardown report (from the failing call's only when passing tests'
    # output is not logged), so the teardown report gets them too, under a name
    # without "teardown", which the terminal leaves out. The bundle is written
    # after the teardown, when every log is complete.
    if report.failed and not item.stash.get(_FAILED, False):
        item.stash[_FAILED] = True
        item.stash[_FAILED_AT] = call.stop
        item.stash[_FAILURE] = f"failed in {report.when}:\n{report.longreprtext}"
        item.stash[_SECTIONS] = _report_sections(item, report.when)
        report.sections += item.stash[_SECTIONS]
        if (bundles := _bundles(item.config)) is not None:
            where = str(bundle_dir(bundles[0], item.nodeid))
            item.user_properties.append(("failure_bundle", where))
            report.user_properties.append(("failure_bundle", where))
    if report.when == "teardown" and item.stash.get(_FAILED, False):
        first_in_teardown = item.stash[_FAILURE].startswith("failed in teardown")
        if report.failed and not first_in_teardown:
            item.stash[_FAILURE] += f"\n\nthen failed in teardown:\n{report.longreprtext}"
        # (A failing teardown's report shows every section in the terminal: it gets no copy.)
        if not first_in_teardown and not report.failed and item.config.getini("junit_log_passing_tests"):
            for name, text in item.stash.get(_SECTIONS, []):
                report.sections.append((f"Captured stderr: {name.split(': ', 1)[-1]}", text))
        try:
            _write_bundle(item)
        except Exception as exc:  # the report stands without its bundle
            report.sections.append(("Captured stderr teardown: failure bundle", f"not written: {exc!r}"))
    return report
