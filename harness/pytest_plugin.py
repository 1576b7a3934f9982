"""pytest integration of the harness: build-mode option and diagnostics.

Load with ``-p harness.pytest_plugin`` (or ``pytest_plugins`` in a conftest).
When a test fails, what it registered is gathered: :func:`attach_evidence`
sources (the hops of its requests, files) become one timeline
(:mod:`harness.timeline`), shown once in its report — in the terminal and in
the JUnit XML (``junit_logging = "system-err"``) — with the path of its
failure bundle (:mod:`harness.bundle`), written once the test's teardown is
over: the timeline as a page, every process log of the test, what
:func:`attach_diagnostics` sources give, the seeds and a command that runs
the test again. The JUnit XML names the bundle in the ``failure_bundle``
property of the test. Bundles are written where :func:`use_failure_bundles`
(or ``--failure-bundles``) says, and a run first clears those of the run
before; without a bundle directory the raw diagnostics go to the report.
Processes registered with :func:`watch_processes` are asked for a goroutine
dump when the test hits its pytest-timeout deadline.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import uuid
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from harness import shards
from harness.binary import MODES, BuildMode, go_version
from harness.bundle import Evidence, bundle_dir, clear_bundles, write_bundle
from harness.paths import PROJECT_ROOT
from harness.process import ServiceProcess
from harness.redis_server import REAL_REDIS_ENV, real_redis_addr, stop_fakeredis_host
from harness.refs import BASE_ENV, RefError, base_ref, contains, describe, exists_at, resolve
from harness.sweep import reap_run, start_run, sweep
from harness.timeline import Timeline, render_text

__all__ = [
    "attach_diagnostics",
    "attach_evidence",
    "build_mode",
    "coverage_dir",
    "failed",
    "redis_backend_kind",
    "service_refs",
    "use_failure_bundles",
    "watch_processes",
]

_SOURCES = pytest.StashKey[list[tuple[str, Callable[[], str]]]]()
_PROCESSES = pytest.StashKey[list[ServiceProcess]]()
_REFS = pytest.StashKey[dict[str, str]]()
_SHARD = pytest.StashKey[tuple[int, int]]()
_RUN = pytest.StashKey[str]()
_DURATIONS = pytest.StashKey[dict[str, float]]()
_PLAN = pytest.StashKey[shards.Plan]()
_FAILED = pytest.StashKey[bool]()
_EVIDENCE = pytest.StashKey[list[Callable[[bool], Evidence]]]()
_FAILED_AT = pytest.StashKey[float | None]()
_FAILURE = pytest.StashKey[str]()
_BUNDLES = pytest.StashKey[tuple[Path, list[str] | None]]()
_SECTIONS = pytest.StashKey[list[tuple[str, str]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("shard_durations", "the recorded test durations --shard balances by (a JSON file)", default="")
    group = parser.getgroup("galaxy harness")
    group.addoption(
        "--build-mode",
        choices=MODES,
        default="plain",
        help="build the service binaries plain, with -cover or with -race (default: plain)",
    )
    group.addoption(
        "--coverage-dir",
        type=Path,
        default=None,
        help="with --build-mode=cover: where each service process writes its coverage counters (GOCOVERDIR)",
    )
    group.addoption(
        "--service-ref",
        action="append",
        default=[],
        metavar="NAME=REF",
        help="build service NAME from git commit REF instead of the working tree (BASE: the base commit, "
        f"${BASE_ENV} or the merge-base with main); repeatable. Scenarios marked since(...) for a change "
        "that REF predates are skipped, each with its reason",
    )
    group.addoption(
        "--shard",
        default=None,
        metavar="K/N",
        help="run only shard K of N, balanced by recorded durations (harness/shards.py); "
        "Bazel's TEST_TOTAL_SHARDS / TEST_SHARD_INDEX ask for one too",
    )
    group.addoption(
        "--durations-file",
        type=Path,
        default=None,
        help="the recorded durations the shards are balanced by (default: the shard_durations ini value)",
    )
    group.addoption(
        "--record-durations",
        action="store_true",
        help="write each test's duration (setup + call + teardown) to the durations file",
    )
    group.addoption(
        "--failure-bundles",
        type=Path,
        default=None,
        metavar="DIR",
        help="write each failing test's bundle (timeline, logs, seeds, rerun.sh) under DIR, "
        "cleared as the run starts (default: where the suite's conftest says, if anywhere)",
    )
    group.addoption(
        "--rerun-command",
        default=None,
        metavar="CMD",
        help="the command a bundle's rerun.sh runs, before the test id and the seeds "
        "(default: where the suite's conftest says, else this python -m pytest)",
    )
    group.addoption(
        "--redis-backend",
        choices=("fake", "real"),
        default="fake",
        help="fake: an in-memory fakeredis server per stack (default); "
        f"real: the Redis at ${REAL_REDIS_ENV}, isolated by key prefix",
    )


def pytest_configure(config: pytest.Config) -> None:
    _configure_shard(config)
    config.addinivalue_line(
        "markers",
        "since(change): the scenario checks behaviour added by change (a commit, or a path of the repository "
        "that the change added): under --service-ref it is skipped when a service is built from a commit "
        "without it",
    )
    config.addinivalue_line(
        "markers",
        "waits: the test waits on purpose (a lifetime, a TTL, a deadline): it is handed out before "
        "the others, so that its waiting overlaps their work (as is a test recorded as long)",
    )
    if config.getoption("--coverage-dir") is not None and build_mode(config) != "cover":
        raise pytest.UsageError("--coverage-dir needs --build-mode=cover")
    if config.getoption("--redis-backend") == "real" and real_redis_addr() is None:
        raise pytest.UsageError(f"--redis-backend=real needs {REAL_REDIS_ENV}=host:port of a running Redis")
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist)
        run_id = start_run()  # workers inherit the run id through the environment
        config.stash[_RUN] = run_id
        killed = sweep(keep=run_id)
        if killed:
            print(f"harness: killed {len(killed)} leftover service process(es) of dead runs: {killed}")


def service_refs(config: pytest.Config) -> dict[str, str]:
    """``--service-ref`` as service -> full commit id (BASE resolved); empty
    when every service is built from the working tree."""
    cached: dict[str, str] | None = config.stash.get(_REFS, None)
    if cached is not None:
        return cached
    refs: dict[str, str] = {}
    for given in config.getoption("--service-ref"):
        name, sep, ref = given.partition("=")
        if not sep or not name or not ref:
            raise pytest.UsageError(f"--service-ref {given!r}: want NAME=REF")
        try:
            refs[name] = base_ref(PROJECT_ROOT) if ref == "BASE" else resolve(PROJECT_ROOT, ref)
        except RefError as exc:
            raise pytest.UsageError(f"--service-ref {given}: {exc}") from None
    config.stash[_REFS] = refs
    return refs


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [
        f"services built by {go_version()}" + (f" (GOTOOLCHAIN={t})" if (t := os.environ.get("GOTOOLCHAIN")) else "")
    ]
    refs = service_refs(config)
    if not refs:
        return lines
    return (
        lines
        + ["services built from commits (the others from the working tree):"]
        + [f"  {name}: {describe(PROJECT_ROOT, sha)}" for name, sha in sorted(refs.items())]
    )


def _has_change(sha: str, change: str) -> bool:
    try:
        return contains(PROJECT_ROOT, sha, resolve(PROJECT_ROOT, change))
    except RefError:
        return exists_at(PROJECT_ROOT, sha, change)


def _skip_newer_than_refs(config: pytest.Config, items: list[pytest.Item]) -> None:
    refs = service_refs(config)
    if not refs:
        return
    for item in items:
        for marker in item.iter_markers("since"):
            (change,) = marker.args
            for name, sha in sorted(refs.items()):
                if not _has_change(sha, change):
                    reason = (
                        f"checks behaviour added by {change}, which {name} at {describe(PROJECT_ROOT, sha)} predates"
                    )
                    item.add_marker(pytest.mark.skip(reason=reason))
                    break


def _durations_file(config: pytest.Config) -> Path | None:
    given: Path | None = config.getoption("--durations-file")
    if given is not None:
        return given
    ini = str(config.getini("shard_durations") or "")
    return config.rootpath / ini if ini else None


def _recorded_durations(config: pytest.Config) -> dict[str, float]:
    """The durations file's contents, read once per run (the shard plan and the order both use them)."""
    if (durations := config.stash.get(_DURATIONS, None)) is None:
        durations = config.stash[_DURATIONS] = shards.load_durations(_durations_file(config))
    return durations


def _configure_shard(config: pytest.Config) -> None:
    """The shard this run is (``--shard`` or Bazel's variables), stashed;
    under Bazel, also its JUnit file and the note that sharding is honoured."""
    try:
        given = config.getoption("--shard")
        shard = shards.parse_shard(given) if given else shards.bazel_shard()
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    if shard is None:
        return
    config.stash[_SHARD] = shard
    if not given:  # Bazel's protocol
        if status := os.environ.get("TEST_SHARD_STATUS_FILE"):
            Path(status).touch()
        if (xml := os.environ.get("XML_OUTPUT_FILE")) and not config.option.xmlpath:
            config.option.xmlpath = xml


def _select_shard(config: pytest.Config, items: list[pytest.Item]) -> None:
    shard = config.stash.get(_SHARD, None)
    if shard is None:
        return
    k, n = shard
    the_plan = shards.plan([item.nodeid for item in items], n, _recorded_durations(config))
    mine = set(the_plan.shards[k - 1])
    config.stash[_PLAN] = the_plan
    deselected = [item for item in items if item.nodeid not in mine]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item.nodeid in mine]


def pytest_report_collectionfinish(config: pytest.Config) -> list[str]:
    the_plan = config.stash.get(_PLAN, None)
    if the_plan is None:
        return []
    k, n = config.stash[_SHARD]
    return [
        f"shard {k}/{n}: {len(the_plan.shards[k - 1])} tests, about {the_plan.loads[k - 1]:.1f}s of "
        f"{sum(the_plan.loads):.1f}s recorded (busiest shard / mean: {the_plan.imbalance:.2f})"
    ]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _select_shard(config, items)
    _skip_newer_than_refs(config, items)
    _long_first(config, items)


class _DurationRecorder:
    """``--record-durations``: each test's setup + call + teardown time,
    merged into the durations file as the run ends (in the controller, which
    gets every worker's reports)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.recorded: dict[str, float] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.recorded[report.nodeid] = self.recorded.get(report.nodeid, 0.0) + report.duration

    def pytest_sessionfinish(self) -> None:
        merged = {**shards.load_durations(self.path), **{k: round(v, 3) for k, v in self.recorded.items()}}
        self.path.write_text(json.dumps(dict(sorted(merged.items())), indent=1) + "\n")


def use_failure_bundles(config: pytest.Config, root: Path, rerun: list[str] | None = None) -> None:
    """Write failing tests' bundles under ``root``; ``rerun`` is the command
    before the test id that runs one of this suite's tests again (default:
    this interpreter's ``python -m pytest``). ``--failure-bundles`` and
    ``--rerun-command`` win over both. Call it from a suite's ``pytest_configure``."""
    given_root: Path | None = config.getoption("--failure-bundles")
    given_rerun: str | None = config.getoption("--rerun-command")
    config.stash[_BUNDLES] = (
        (given_root or root).resolve(),
        shlex.split(given_rerun) if given_rerun is not None else rerun,
    )


def _bundles(config: pytest.Config) -> tuple[Path, list[str] | None] | None:
    if (found := config.stash.get(_BUNDLES, None)) is not None:
        return found
    given: Path | None = config.getoption("--failure-bundles")
    if given is None:
        return None
    rerun: str | None = config.getoption("--rerun-command")
    config.stash[_BUNDLES] = (given.resolve(), shlex.split(rerun) if rerun is not None else None)
    return config.stash[_BUNDLES]


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if not hasattr(config, "workerinput") and (bundles := _bundles(config)) is not None:
        clear_bundles(bundles[0])  # one run's bundles only
    if config.getoption("--record-durations") and not hasattr(config, "workerinput"):
        path = _durations_file(config)
        if path is None:
            raise pytest.UsageError("--record-durations needs --durations-file or the shard_durations ini value")
        config.pluginmanager.register(_DurationRecorder(path), "galaxy-duration-recorder")


LONG_TEST_S = 1.0
"""A test recorded as taking this long or longer is handed out first."""


def _long_first(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests that hold a worker longest first: those marked ``waits``
    and those whose recorded duration (the durations file) is a second or
    more, longest first; then the rest in the order they had (a random one
    under pytest-randomly). Every xdist worker sorts the same way, and with
    ``--dist load --maxschedchunk 1`` each worker takes the next test as it
    frees up: the long tests start at once, side by side, instead of holding
    a worker at the end of the run."""
    durations = _recorded_durations(config)

    def key(item: pytest.Item) -> tuple[int, float]:
        seconds = durations.get(item.nodeid, 0.0)
        if item.get_closest_marker("waits") is not None or seconds >= LONG_TEST_S:
            return (0, -seconds)
        return (1, 0.0)

    items.sort(key=key)


def pytest_unconfigure(config: pytest.Config) -> None:
    stop_fakeredis_host()
    # Only the run this process started: a run that ended before starting its
    # own (a usage error) must not reap the run it is nested in.
    if (run_id := config.stash.get(_RUN, None)) is not None:
        leaked = reap_run(run_id)
        if leaked:
            print(f"harness: killed {len(leaked)} process(es) this run left behind: {leaked}")


def coverage_dir(config: pytest.Config, service: str) -> Path | None:
    """A fresh GOCOVERDIR for one ``service`` process, or None when not measuring coverage."""
    root: Path | None = config.getoption("--coverage-dir")
    if root is None or build_mode(config) != "cover":
        return None
    return root.resolve() / f"{service}-{uuid.uuid4().hex[:12]}"


def redis_backend_kind(config: pytest.Config) -> str:
    kind: str = config.getoption("--redis-backend")
    return kind


def build_mode(config: pytest.Config) -> BuildMode:
    mode: BuildMode = config.getoption("--build-mode")
    return mode


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


def rerun_argv(config: pytest.Config, nodeid: str) -> list[str]:
    """The command that runs ``nodeid`` alone again, with this run's seeds and build options."""
    bundles = _bundles(config)
    prefix = (bundles[1] if bundles else None) or [sys.executable, "-m", "pytest"]
    argv = [*prefix, nodeid]
    if config.pluginmanager.has_plugin("xdist"):
        argv += ["-n", "0"]
    if (seed := _seeds(config).get("pytest-randomly seed")) is not None:
        argv += ["-p", "randomly", f"--randomly-seed={seed}"]
    if (hypothesis_seed := config.getoption("hypothesis_seed", None)) is not None:
        argv.append(f"--hypothesis-seed={hypothesis_seed}")
    if build_mode(config) != "plain":
        argv.append(f"--build-mode={build_mode(config)}")
    if redis_backend_kind(config) != "fake":
        argv.append(f"--redis-backend={redis_backend_kind(config)}")
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
