"""Fixtures of the boundary suite: built binaries once per run, a fresh stack
per test, and the gateway's API over each transport."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from contracts.gatewayv1 import GatewayApi
from contracts.tracing import Trace, trace_id_for
from gatewayauthsession.explore import hold
from gatewayauthsession.forensics import Recorder
from gatewayauthsession.stack import Stack, StackSettings, Transport, start_stack
from harness.binary import Binary, BuildError, build, is_cached
from harness.failure_report import attach_evidence, failed, use_failure_bundles, watch_processes
from harness.pytest_plugin import build_mode, coverage_dir, redis_backend_kind, service_refs
from harness.redis_server import RealRedis, RedisBackend, RedisServerProcess, real_redis_addr, redis_server_binary
from harness.tools import ToolBuildError, go_tool
from harness.toxiproxy import ToxiproxyServer

TRANSPORTS: tuple[Transport, ...] = ("http", "grpc")

# Budgets of the Hypothesis scenarios (test_model.py, test_generated_inputs.py).
# "galaxy" keeps the suite fast; "galaxy-deep" is the opt-in long run, ``nox -s deep``.
# No example database: a failure is replayed from the blob and seed it prints.
settings.register_profile(
    "galaxy", max_examples=15, stateful_step_count=20, deadline=None, database=None, print_blob=True
)
settings.register_profile(
    "galaxy-deep", max_examples=300, stateful_step_count=50, deadline=None, database=None, print_blob=True
)
# Budgets of the schemathesis tests (openapi/, nox -s schemathesis): examples per
# operation and generation phase, and steps per stateful scenario. Each
# operation's examples share one stack, as the model's do.
for _profile, _examples, _steps in (("schemathesis", 30, 10), ("schemathesis-deep", 300, 20)):
    settings.register_profile(
        _profile,
        max_examples=_examples,
        stateful_step_count=_steps,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
settings.load_profile("galaxy")  # --hypothesis-profile, handled after this module is imported, overrides it


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
    worker needs them; a failed build ends the run with the compiler's output."""
    if hasattr(session.config, "workerinput"):
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


def pytest_configure(config: pytest.Config) -> None:
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


@pytest.fixture(scope="session")
def binaries(pytestconfig: pytest.Config) -> dict[str, Binary]:
    """The service binaries, built once for all workers (content-hash cache)."""
    mode = build_mode(pytestconfig)
    refs = service_refs(pytestconfig)
    return {name: build(name, mode, ref=refs.get(name)) for name in SERVICES}


def _settings(request: pytest.FixtureRequest) -> StackSettings:
    # Every stack mark on the test, its class and module; the closest one wins
    # a setting they both give.
    overrides: dict[str, Any] = {}
    for marker in request.node.iter_markers("stack"):
        for name, value in marker.kwargs.items():
            overrides.setdefault(name, value)
    unknown = set(overrides) - StackSettings.names()
    if unknown:
        raise pytest.UsageError(f"unknown stack settings {sorted(unknown)}; known: {sorted(StackSettings.names())}")
    return StackSettings(**overrides)


@pytest.fixture
def redis_backend(request: pytest.FixtureRequest, tmp_path: Path) -> RedisBackend | None:
    """None (each stack starts its own fakeredis) unless the run asked for
    ``--redis-backend=real``: then the Redis at INTEGRATION_REAL_REDIS_ADDR,
    isolated by a key prefix of this test's own, or, for a ``redis_faults``
    scenario, a redis-server of the test's own that it may break."""
    if redis_backend_kind(request.config) == "fake":
        return None
    if request.node.get_closest_marker("redis_faults"):
        if redis_server_binary() is None:
            pytest.fail("a redis_faults scenario with --redis-backend=real needs redis-server on PATH", pytrace=False)
        return RedisServerProcess(tmp_path)
    addr = real_redis_addr()
    assert addr is not None  # checked when the run started
    return RealRedis(addr)


@pytest.fixture(scope="session")
def fault_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToxiproxyServer]:
    """The fault proxy of this worker (toxiproxy), started on first use and
    shared by its stacks; each stack adds and removes its own links."""
    with ToxiproxyServer(tmp_path_factory.mktemp("toxiproxy")) as server:
        yield server


@pytest.fixture
def stack(
    request: pytest.FixtureRequest, binaries: dict[str, Binary], tmp_path: Path, redis_backend: RedisBackend | None
) -> Iterator[Stack]:
    """A fresh, isolated stack: its own Redis, stubs, keys and processes;
    the links its settings name go through this worker's fault proxy. Its
    clients' calls join the test's own trace, whose id derives from the
    test's node id (``contracts/tracing.md``)."""
    settings = _settings(request)
    s = start_stack(
        tmp_path,
        binaries,
        settings,
        redis=redis_backend,
        coverdir=lambda service: coverage_dir(request.config, service),
        proxy=request.getfixturevalue("fault_proxy") if settings.links else None,
        trace=Trace(trace_id_for(request.node.nodeid)),
    )
    recorder = Recorder(s)
    attach_evidence(request.node, recorder.evidence)
    watch_processes(request.node, *s.processes)
    broke = False
    try:
        yield s
        s.check_stubs()
    except BaseException:
        broke = True
        raise
    finally:
        try:
            if broke or failed(request.node):
                recorder.snapshot()  # what goes with the stack, for the failure bundle
            if request.config.getoption("--keep-stack-on-failure") and failed(request.node):
                _keep(request, s)
        finally:
            s.stop()
    if races := s.data_races():
        pytest.fail(f"the race detector reported {len(races)} data race(s): {races}", pytrace=False)
    if leaked := s.leaked_secrets():
        pytest.fail(f"{len(leaked)} login code(s) or token(s) appear in a service log: {leaked}", pytrace=False)


def _keep(request: pytest.FixtureRequest, stack: Stack) -> None:
    """Hold a failed test's stack for a person to explore, until Ctrl-C."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(f"\n{request.node.nodeid} failed; its stack is kept:\n", file=sys.stderr)
        why = hold(stack, sys.stderr)
    if why == "SIGINT":  # Ctrl-C: the person is done; end the run as Ctrl-C would
        stack.stop()
        raise KeyboardInterrupt


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> Transport:
    """HTTP, then gRPC."""
    value: Transport = request.param
    return value


@pytest.fixture
def api(stack: Stack, transport: Transport) -> GatewayApi:
    """The gateway's public API over HTTP, then over gRPC."""
    return stack.api(transport)
