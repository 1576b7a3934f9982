"""pytest integration of the harness: build-mode option and diagnostics.

Load with ``-p harness.pytest_plugin`` (or ``pytest_plugins`` in a conftest).
Anything a test registers with :func:`attach_diagnostics` — service logs,
stub request logs — is added to the report of that test when it fails, in
the terminal and in the JUnit XML (``junit_logging = "system-err"``).
Processes registered with :func:`watch_processes` are asked for a goroutine
dump when the test hits its pytest-timeout deadline.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from harness.binary import MODES, BuildMode
from harness.paths import PROJECT_ROOT
from harness.process import ServiceProcess
from harness.redis_server import REAL_REDIS_ENV, real_redis_addr, stop_fakeredis_host
from harness.refs import BASE_ENV, RefError, base_ref, contains, describe, exists_at, resolve
from harness.sweep import reap_run, start_run, sweep

__all__ = [
    "attach_diagnostics",
    "build_mode",
    "coverage_dir",
    "failed",
    "redis_backend_kind",
    "service_refs",
    "watch_processes",
]

_SOURCES = pytest.StashKey[list[tuple[str, Callable[[], str]]]]()
_PROCESSES = pytest.StashKey[list[ServiceProcess]]()
_REFS = pytest.StashKey[dict[str, str]]()
_RUN = pytest.StashKey[str]()
_FAILED = pytest.StashKey[bool]()


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
        "--redis-backend",
        choices=("fake", "real"),
        default="fake",
        help="fake: an in-memory fakeredis server per stack (default); "
        f"real: the Redis at ${REAL_REDIS_ENV}, isolated by key prefix",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "since(change): the scenario checks behaviour added by change (a commit, or a path of the repository "
        "that the change added): under --service-ref it is skipped when a service is built from a commit "
        "without it",
    )
    config.addinivalue_line(
        "markers",
        "waits: the test waits on purpose (a lifetime, a TTL, a deadline): it is handed out before "
        "the others, so that its waiting overlaps their work",
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
    refs = service_refs(config)
    if not refs:
        return []
    return ["services built from commits (the others from the working tree):"] + [
        f"  {name}: {describe(PROJECT_ROOT, sha)}" for name, sha in sorted(refs.items())
    ]


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


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _skip_newer_than_refs(config, items)
    _waits_first(items)


def _waits_first(items: list[pytest.Item]) -> None:
    """The tests marked ``waits`` first, each group in the order it had (a
    random one under pytest-randomly). Every xdist worker sorts the same
    way, and with ``--dist load --maxschedchunk 1`` each worker takes the
    next test as it frees up: the waiting tests start at once, side by side,
    instead of holding a worker at the end of the run."""
    items.sort(key=lambda item: item.get_closest_marker("waits") is None)


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
    """Add ``source()`` as a section named ``name`` to ``node``'s report if it fails."""
    node.stash.setdefault(_SOURCES, []).append((name, source))


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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, Any]:
    report = yield
    if report.failed and _timed_out(call):
        for proc in item.stash.get(_PROCESSES, []):
            proc.dump_goroutines()
    # The terminal shows the sections of the failing report; JUnit XML takes
    # a test's captured output from its teardown report, so a failed test
    # gets them there too (read after teardown, so the logs are complete).
    if report.failed:
        item.stash[_FAILED] = True
    if report.failed or (report.when == "teardown" and item.stash.get(_FAILED, False)):
        for name, source in item.stash.get(_SOURCES, []):
            try:
                text = source()
            except Exception as exc:  # a broken source must not hide the failure
                text = f"<could not collect: {exc!r}>"
            # "Captured stderr" sections are what JUnit XML records as system-err.
            report.sections.append((f"Captured stderr {report.when}: {name}", text or "(empty)"))
    return report
