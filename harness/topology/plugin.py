"""pytest turns a declared topology into a suite: loaded for every test tree by
:mod:`harness.suites.plugin`.

A suite's ``conftest.py`` holds its declaration as ``TOPOLOGY`` (importing it
from ``<suite>/topology.py``); from that alone the suite's tests get:

- its services built once before any worker starts (``--build-mode``,
  ``--service-ref NAME=REF`` for skew), and the fault proxy;
- the ``stack`` fixture (:mod:`harness.topology.fixtures`, loaded only where tests
  run): a fresh stack per test, with the settings of its ``stack`` marks, the
  Redis the run asks for (``--redis-backend``), fault links on the edges it names,
  its evidence for the failure timeline and bundle, the leaked-secret and
  data-race checks, ``--keep-stack-on-failure``;
- ``--real NAME``: the suite against the real service that stands in for its
  stub ``NAME`` (``Topology.stand_ins``); a scenario that needs the stub
  itself (its programmable faults, its journal) says so with
  ``@pytest.mark.needs_stub(NAME, reason)`` and is skipped then, with its reason;
- failure bundles under ``reports/failures/`` whose ``rerun.sh`` runs the test
  again through the suite's own nox session (a registered suite's), its recorded
  durations (``<suite>/durations.json``) for shards and order, and ``-n auto`` at
  two workers per CPU (its scenarios mostly wait).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import ModuleType

import pytest

from harness.builds.binary import BuildError, is_cached
from harness.builds.tools import ToolBuildError, go_tool
from harness.forensics.failure_report import use_failure_bundles
from harness.suites.registry import suites
from harness.topology.declaration import Script, Topology

__all__ = ["rerun_prefix", "suite_dir", "suite_workers", "topologies", "topology_of"]

_TOPOLOGIES = pytest.StashKey[dict[Path, Topology]]()
_DECLARED = pytest.StashKey[dict[Path, Topology]]()
_CONFIGURED = pytest.StashKey[bool]()


def topologies(config: pytest.Config) -> dict[Path, Topology]:
    """The topologies of this run's suites, by their directory: each as declared,
    with the stubs ``--real`` names replaced by their real services."""
    if _TOPOLOGIES not in config.stash:
        real = real_stubs(config)
        config.stash[_TOPOLOGIES] = {
            d: t.with_real(*(name for name in real if name in t.stand_ins)) for d, t in _declared(config).items()
        }
    return config.stash[_TOPOLOGIES]


def _declared(config: pytest.Config) -> dict[Path, Topology]:
    return config.stash.setdefault(_DECLARED, {})


def real_stubs(config: pytest.Config) -> list[str]:
    """The stubs ``--real`` names: each suite of the run runs the real service in their place."""
    return list(dict.fromkeys(config.getoption("--real", None) or []))


def topology_of(config: pytest.Config, path: Path) -> Topology:
    """The topology of the suite ``path`` (a test file) belongs to: its nearest directory's."""
    found = [d for d in topologies(config) if d in path.parents or d == path]
    if not found:
        raise pytest.UsageError(f"{path} is in no suite that declares a TOPOLOGY in its conftest.py")
    return topologies(config)[max(found, key=lambda d: len(d.parts))]


def suite_dir(config: pytest.Config, path: Path) -> Path | None:
    """The directory of the suite ``path`` belongs to, if any."""
    found = [d for d in topologies(config) if d in path.parents or d == path]
    return max(found, key=lambda d: len(d.parts)) if found else None


@pytest.hookimpl(tryfirst=True)  # before Hypothesis's, which loads the profile --hypothesis-profile names
def pytest_configure(config: pytest.Config) -> None:
    from harness.suites.options import redis_backend_kind, runs_tests
    from harness.suites.preflight import check_run

    if topologies(config):
        check_run(config, real_redis_used=redis_backend_kind(config) == "real")  # before any build or process
    if topologies(config) and (runs_tests(config) or config.getoption("hypothesis_profile", None)):
        import harness.suites.hypothesis_profiles  # noqa: F401 - registers the profiles
    config.addinivalue_line(
        "markers",
        "stack(**settings): settings of this test's stack, by documented variable (links=...: edges through "
        "the fault proxy)",
    )
    config.addinivalue_line("markers", "smoke: a scenario of the real-Redis smoke subset (nox -s real_redis)")
    config.addinivalue_line(
        "markers",
        "outside_mutation(reason): not run against mutants (it needs what a mutant's copy of the workspace "
        "lacks, such as the repository's history)",
    )
    config.addinivalue_line(
        "markers",
        "needs_stub(name, reason): the scenario needs stub NAME itself (its programmable faults, its journal): "
        "skipped, with its reason, when --real NAME runs the real service in its place",
    )
    config.addinivalue_line(
        "markers",
        "redis_faults: the scenario kills, freezes or restarts its Redis; "
        "with --redis-backend=real it gets a redis-server of its own",
    )
    config.stash[_CONFIGURED] = True
    if _declared(config):
        _check_real(config)
        _suites_found(config)


def pytest_plugin_registered(plugin: object, plugin_name: str, manager: pytest.PytestPluginManager) -> None:
    """A conftest that holds a ``TOPOLOGY`` makes its directory a suite of that topology."""
    if not isinstance(plugin, ModuleType) or not isinstance(getattr(plugin, "TOPOLOGY", None), Topology):
        return
    config = manager.get_plugin("pytestconfig")
    path = getattr(plugin, "__file__", None)
    if not isinstance(config, pytest.Config) or path is None:
        return
    _declared(config)[Path(path).resolve().parent] = plugin.TOPOLOGY
    if _TOPOLOGIES in config.stash:  # made before this suite was found: made again
        del config.stash[_TOPOLOGIES]
    if config.stash.get(_CONFIGURED, False):  # a conftest found while collecting
        _suites_found(config)


def _check_real(config: pytest.Config) -> None:
    """``--real`` names a stub some suite of the run has a real service for."""
    offered = {name for t in _declared(config).values() for name in t.stand_ins}
    unknown = [name for name in real_stubs(config) if name not in offered]
    if unknown:
        raise pytest.UsageError(
            f"--real {' '.join(unknown)}: no suite of this run has a real service to stand in for that stub; "
            f"they have: {', '.join(sorted(offered)) or 'none'}"
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip, with its reason, each scenario that needs a stub the run replaced by its real service."""
    real = set(real_stubs(config))
    for item in items:
        for marker in item.iter_markers("needs_stub"):
            name, reason = marker.args
            if name in real:
                item.add_marker(
                    pytest.mark.skip(reason=f"needs the {name} stub (--real {name} runs the real service): {reason}")
                )
                break


def _suites_found(config: pytest.Config) -> None:
    """What a run with suites in it needs, once configured: failure bundles, and the
    ``stack`` fixture where tests run (never in an xdist controller)."""
    from harness.suites.options import runs_tests

    use_failure_bundles(config, config.rootpath / "reports" / "failures", rerun=lambda n: rerun_prefix(config, n))
    if config.getoption("--keep-stack-on-failure") and config.getoption("numprocesses", None):
        raise pytest.UsageError("--keep-stack-on-failure needs -n 0: an xdist worker cannot hold the terminal")
    if runs_tests(config) and not config.pluginmanager.has_plugin("harness.topology.fixtures"):
        config.pluginmanager.import_plugin("harness.topology.fixtures")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("galaxy harness")
    group.addoption(
        "--keep-stack-on-failure",
        action="store_true",
        help="keep a failed test's stack running and print its endpoints until Ctrl-C (needs -n 0)",
    )
    group.addoption(
        "--real",
        action="append",
        default=[],
        metavar="STUB",
        help="run the suites with stub STUB replaced by the real service their topology names for it "
        "(--real user: the user service); repeatable",
    )


def rerun_prefix(config: pytest.Config, nodeid: str) -> list[str] | None:
    """How a registered suite's test runs again: through the suite's own nox session."""
    directory = suite_dir(config, config.rootpath / nodeid.split("::", 1)[0])
    for suite in suites():
        if directory == suite.path.resolve():
            return ["./noxw", "-s", suite.name, "--"]
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Build (or find in the cache) every declared service once, before any test or
    worker needs it, and the fault proxy; a failed build ends the run with the
    compiler's output. A run that only collects (``--collect-only``, as ``nox -s rules``
    does) starts no service and builds nothing."""
    config = session.config
    if hasattr(config, "workerinput") or config.option.collectonly or not topologies(config):
        return
    from harness.suites.options import build_mode, service_refs
    from harness.topology.programs import binary_for

    mode = build_mode(config)
    refs = service_refs(config)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    done: set[str] = set()
    for topology in topologies(config).values():
        for service in topology.services:
            if service.command in done:
                continue
            done.add(service.command)
            started = time.perf_counter()
            ref = refs.get(service.name)
            fresh = not isinstance(service.program, Script) and not is_cached(service.command, mode)
            if reporter is not None and (ref or fresh):
                reporter.write_line(f"building {service.name} ({mode}{', at ' + ref[:12] if ref else ''}) ...")
            try:
                binary = binary_for(service, mode, ref)
            except (BuildError, FileNotFoundError, ValueError) as exc:  # ValueError: no such command
                pytest.exit(f"cannot build {service.name}: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
            if reporter is not None and not binary.cached:
                took = time.perf_counter() - started
                reporter.write_line(f"built {service.name} ({mode}) in {took:.1f}s: {binary.path}")
    try:
        go_tool("toxiproxy-server")  # the fault proxy, built once before the workers start
    except ToolBuildError as exc:
        pytest.exit(f"cannot build the fault proxy: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto`` for a suite: two workers per CPU. Its scenarios spend most of
    their time waiting (deadlines, expiries, the retry window, faults) with the CPU
    idle, so one worker per core leaves the cores idle (BENCHMARKS.md measures
    both). PYTEST_XDIST_AUTO_NUM_WORKERS still wins; other test trees keep xdist's own."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS") or not topologies(config):
        return None
    return suite_workers()


def suite_workers() -> int:
    """``-n auto``'s workers for a suite: two per CPU."""
    return 2 * len(os.sched_getaffinity(0))
