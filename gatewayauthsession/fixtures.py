"""The suite's fixtures: built binaries once per run, a fresh stack per test, and
the gateway's API over each transport.

A plugin of its own, registered by ``conftest.py`` only in the processes that run
tests (each xdist worker, or a run without workers): an xdist controller, which
only hands tests out and reports, never imports the stack, gRPC or Hypothesis,
and so starts and exits sooner.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.gatewayv1 import GatewayApi
from contracts.tracing import Trace, trace_id_for
from gatewayauthsession.conftest import SERVICES
from gatewayauthsession.explore import hold
from gatewayauthsession.forensics import Recorder
from gatewayauthsession.stack import TRANSPORTS, Stack, StackSettings, Transport, start_stack
from harness.builds.binary import Binary, build
from harness.faults.toxiproxy import ToxiproxyServer
from harness.forensics.failure_report import attach_evidence, failed, watch_processes
from harness.redis.backends import RealRedis, RedisBackend, RedisServerProcess, real_redis_addr, redis_server_binary
from harness.suites.plugin import build_mode, coverage_dir, redis_backend_kind, service_refs


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
