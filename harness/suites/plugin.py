"""pytest integration of the harness: its options (read through :mod:`harness.suites.options`), the sweep of
leftover processes, shards and durations, the run's header.

Load with ``-p harness.suites.plugin`` (or ``pytest_plugins`` in a conftest).
Its ``pytest_plugins`` registers :mod:`harness.suites.timeouts` with it (a test's
deadline holds whatever the test catches, its teardown included) and
:mod:`harness.forensics.failure_report`: the
timeline and failure bundle of a failing test, and what a test attaches to
them (:func:`~harness.forensics.failure_report.attach_evidence`,
:func:`~harness.forensics.failure_report.attach_diagnostics`,
:func:`~harness.forensics.failure_report.watch_processes`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.builds.binary import MODES, go_version
from harness.builds.refs import BASE_ENV, RefError, contains, describe, exists_at, resolve
from harness.paths import PROJECT_ROOT
from harness.processes.sweep import reap_run, start_run, sweep
from harness.redis.backends import REAL_REDIS_ENV, real_redis_addr, stop_fakeredis_host
from harness.suites import shards
from harness.suites.options import build_mode, service_refs

__all__: list[str] = []  # hooks only; what a run was asked for is read through harness.suites.options

pytest_plugins = [
    "harness.forensics.failure_report",
    "harness.suites.timeouts",
    "harness.topology.plugin",
    "harness.gates.rule_coverage",
]

_SHARD = pytest.StashKey[tuple[int, int]]()
_RUN = pytest.StashKey[str]()
_DURATIONS = pytest.StashKey[dict[str, float]]()
_PLAN = pytest.StashKey[shards.Plan]()


def pytest_addoption(parser: pytest.Parser) -> None:
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
        help="run only shard K of N, balanced by recorded durations (harness/suites/shards.py); "
        "Bazel's TEST_TOTAL_SHARDS / TEST_SHARD_INDEX ask for one too",
    )
    group.addoption(
        "--durations-file",
        type=Path,
        default=None,
        help="the recorded durations the shards are balanced by (default: each suite's <suite>/durations.json)",
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
        "those of the tests the run's arguments hold cleared as it starts (default: where the suite's conftest "
        "says, if anywhere)",
    )
    group.addoption(
        "--rerun-command",
        default=None,
        metavar="CMD",
        help="the command a bundle's rerun.sh runs, before the test id and the seeds "
        "(default: a registered suite's nox session, else this python -m pytest with this run's plugins and "
        "configuration)",
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


def _durations_files(config: pytest.Config) -> list[Path]:
    """``--durations-file``, else the durations file of each suite of the run (``<suite>/durations.json``)."""
    from harness.topology.plugin import topologies  # it imports this module's helpers

    given: Path | None = config.getoption("--durations-file")
    if given is not None:
        return [given]
    return [directory / "durations.json" for directory in topologies(config)]


def _durations_file_of(config: pytest.Config, nodeid: str) -> Path | None:
    """Where the duration of test ``nodeid`` is recorded: ``--durations-file``, else its suite's file."""
    from harness.topology.plugin import suite_dir

    given: Path | None = config.getoption("--durations-file")
    if given is not None:
        return given
    directory = suite_dir(config, config.rootpath / nodeid.split("::", 1)[0])
    return directory / "durations.json" if directory is not None else None


def _recorded_durations(config: pytest.Config) -> dict[str, float]:
    """The durations files' contents, read once per run (the shard plan and the order both use them)."""
    if (durations := config.stash.get(_DURATIONS, None)) is None:
        durations = {}
        for path in _durations_files(config):
            durations.update(shards.load_durations(path))
        config.stash[_DURATIONS] = durations
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
    merged into its durations file (``--durations-file``, else its suite's) as
    the run ends (in the controller, which gets every worker's reports)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.recorded: dict[str, float] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.recorded[report.nodeid] = self.recorded.get(report.nodeid, 0.0) + report.duration

    def pytest_sessionfinish(self) -> None:
        by_file: dict[Path, dict[str, float]] = {}
        for nodeid, seconds in self.recorded.items():
            if (path := _durations_file_of(self.config, nodeid)) is not None:
                by_file.setdefault(path, {})[nodeid] = round(seconds, 3)
        for path, recorded in by_file.items():
            merged = {**shards.load_durations(path), **recorded}
            path.write_text(json.dumps(dict(sorted(merged.items())), indent=1) + "\n")


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if config.getoption("--record-durations") and not hasattr(config, "workerinput"):
        from harness.topology.plugin import topologies

        if config.getoption("--durations-file") is None and not topologies(config):
            raise pytest.UsageError("--record-durations needs --durations-file, or a suite (a TOPOLOGY) in the run")
        config.pluginmanager.register(_DurationRecorder(config), "galaxy-duration-recorder")


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
