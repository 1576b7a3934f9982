"""The boundary suite's hooks: the binaries built once before any worker starts,
``-n auto``'s worker count, the suite's options and markers, and its fixtures
(``fixtures.py``) and Hypothesis profiles registered where tests run."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from harness.binary import BuildError, build, is_cached
from harness.failure_report import use_failure_bundles
from harness.pytest_plugin import build_mode, runs_tests, service_refs
from harness.tools import ToolBuildError, go_tool

SERVICES = ("authsession", "gateway")

# The schemathesis tests need the "schemathesis" dependency group and a budget of their own: they are
# collected only when the run selects them (``-m schemathesis``, as ``nox -s schemathesis`` does).
SCHEMATHESIS_TESTS = Path(__file__).parent / "openapi"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path == SCHEMATHESIS_TESTS and "schemathesis" not in (config.option.markexpr or ""):
        return True
    return None


def pytest_sessionstart(session: pytest.Session) -> None:
    """Build (or find in the cache) both binaries once, before any test or
    worker needs them; a failed build ends the run with the compiler's output. A run that only
    collects (``nox -s rules``) starts no service and builds nothing."""
    if hasattr(session.config, "workerinput") or session.config.option.collectonly:
        return
    mode = build_mode(session.config)
    refs = service_refs(session.config)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    for name in SERVICES:
        started = time.perf_counter()
        if reporter is not None and (name in refs or not is_cached(name, mode)):
            reporter.write_line(f"building {name} ({mode}{', at ' + refs[name][:12] if name in refs else ''}) ...")
        try:
            binary = build(name, mode, ref=refs.get(name))
        except BuildError as exc:
            pytest.exit(f"cannot build {name}: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
        if reporter is not None and not binary.cached:
            reporter.write_line(f"built {name} ({mode}) in {time.perf_counter() - started:.1f}s: {binary.path}")
    try:
        go_tool("toxiproxy-server")  # the fault proxy, built once before the workers start
    except ToolBuildError as exc:
        pytest.exit(f"cannot build the fault proxy: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto`` for this suite: two workers per CPU. Its scenarios spend
    most of their time waiting (deadlines, expiries, the retry window, faults)
    with the CPU idle, so one worker per core leaves the cores idle
    (BENCHMARKS.md measures both). PYTEST_XDIST_AUTO_NUM_WORKERS still wins."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    return 2 * len(os.sched_getaffinity(0))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("galaxy harness").addoption(
        "--keep-stack-on-failure",
        action="store_true",
        help="keep a failed test's stack running and print its endpoints until Ctrl-C (needs -n 0)",
    )


RERUN = ["./noxw", "-s", "gatewayauthsession", "--"]
"""How a failure bundle's rerun.sh runs one test of this suite again, from the project's root (the
rootdir; its test id and seeds follow)."""


@pytest.hookimpl(tryfirst=True)  # before Hypothesis's, which loads the profile --hypothesis-profile names
def pytest_configure(config: pytest.Config) -> None:
    if runs_tests(config) or config.getoption("hypothesis_profile", None):
        import gatewayauthsession.hypothesis_profiles  # noqa: F401 - registers the profiles
    if runs_tests(config):
        config.pluginmanager.import_plugin("gatewayauthsession.fixtures")
    use_failure_bundles(config, config.rootpath / "reports" / "failures", rerun=RERUN)
    if config.getoption("--keep-stack-on-failure") and config.getoption("numprocesses", None):
        raise pytest.UsageError("--keep-stack-on-failure needs -n 0: an xdist worker cannot hold the terminal")
    config.addinivalue_line("markers", "stack(**settings): StackSettings for this test's stack")
    config.addinivalue_line("markers", "smoke: a scenario of the real-Redis smoke subset (nox -s real_redis)")
    config.addinivalue_line(
        "markers", "schemathesis: generated from the gateway's OpenAPI document (nox -s schemathesis); only with -m"
    )
    config.addinivalue_line(
        "markers",
        "redis_faults: the scenario kills, freezes or restarts its Redis; "
        "with --redis-backend=real it gets a redis-server of its own",
    )
