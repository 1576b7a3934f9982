"""The fixtures a declared topology gives its suite: ``stack`` (a fresh stack
per test), ``binaries`` (the builds its stacks run), ``other_versions`` (each
service's other version, for rolling upgrades), ``fault_proxy`` and
``redis_backend``. Registered by :mod:`harness.topology.plugin` only in the
processes that run tests (each xdist worker, or a run without workers): an
xdist controller, which only hands tests out and reports, never imports them.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.builds.binary import Binary
from harness.builds.refs import base_ref
from harness.faults.toxiproxy import ToxiproxyServer
from harness.forensics.failure_report import attach_evidence, failed, watch_processes
from harness.forensics.traces import trace_id_for
from harness.paths import PROJECT_ROOT
from harness.redis.backends import RealRedis, RedisBackend, RedisServerProcess, real_redis_addr, redis_server_binary
from harness.suites.options import build_mode, coverage_dir, redis_backend_kind, service_refs
from harness.topology.declaration import Topology
from harness.topology.explore import hold
from harness.topology.plugin import topology_of
from harness.topology.programs import binary_for
from harness.topology.recorder import Recorder
from harness.topology.settings import Settings, SettingsError
from harness.topology.stack import Stack, start_stack

__all__ = ["binaries", "fault_proxy", "other_versions", "redis_backend", "stack", "stack_marks", "topology"]

_BUILT: dict[tuple[str, str, str | None], Binary] = {}


def _binaries(config: pytest.Config, topology: Topology) -> dict[str, Binary]:
    mode = build_mode(config)
    refs = service_refs(config)
    found = {}
    for service in topology.services:
        key = (service.name, mode, refs.get(service.name))
        if key not in _BUILT:
            _BUILT[key] = binary_for(service, mode, refs.get(service.name))
        found[service.name] = _BUILT[key]
    return found


@pytest.fixture
def topology(request: pytest.FixtureRequest) -> Topology:
    """The declared topology of the suite this test belongs to."""
    return topology_of(request.config, request.node.path)


@pytest.fixture
def binaries(request: pytest.FixtureRequest, topology: Topology) -> dict[str, Binary]:
    """The builds this test's stacks run, by service (content-hash cache, built once per run)."""
    return _binaries(request.config, topology)


@pytest.fixture
def other_versions(request: pytest.FixtureRequest, topology: Topology) -> dict[str, Binary]:
    """Each service's other version, by service: built from BASE (``GALAXY_SKEW_BASE``, else the merge-base
    with main) where the run builds it from the working tree, and from the working tree where a skew run
    builds it from a commit (``--service-ref``). Each is built once per run (content-hash and commit caches)."""
    mode = build_mode(request.config)
    refs = service_refs(request.config)
    base = base_ref(PROJECT_ROOT)
    found = {}
    for service in topology.services:
        ref = None if service.name in refs else base
        key = (service.name, mode, ref)
        if key not in _BUILT:
            _BUILT[key] = binary_for(service, mode, ref)
        found[service.name] = _BUILT[key]
    return found


def stack_marks(node: pytest.Item) -> dict[str, Any]:
    """Every ``stack`` mark on the test, its class and module; the closest one wins a setting they both give."""
    given: dict[str, Any] = {}
    for marker in node.iter_markers("stack"):
        for name, value in marker.kwargs.items():
            given.setdefault(name, value)
    return given


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
    request: pytest.FixtureRequest,
    topology: Topology,
    binaries: dict[str, Binary],
    tmp_path: Path,
    redis_backend: RedisBackend | None,
) -> Iterator[Stack]:
    """A fresh, isolated stack of the suite's topology: its own Redis, stubs,
    materials and processes, with the settings of the test's ``stack`` marks (a
    setting not given is not sent: the service's own default applies); the edges
    its ``links`` name go through this worker's fault proxy. Its trace id derives
    from the test's node id (the suite's clients send it on)."""
    given = stack_marks(request.node)
    links = given.pop("links", ())
    try:
        settings = Settings(topology, given)
    except SettingsError as exc:
        raise pytest.UsageError(f"{request.node.nodeid}: {exc}") from None
    s = start_stack(
        topology,
        tmp_path,
        binaries,
        settings,
        redis=redis_backend,
        coverdir=lambda service: coverage_dir(request.config, service),
        proxy=request.getfixturevalue("fault_proxy") if links else None,
        links=links,
    )
    s.trace_id = trace_id_for(request.node.nodeid)
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
        pytest.fail(f"{len(leaked)} secret(s) (login codes, tokens) appear in a service log: {leaked}", pytrace=False)


def _keep(request: pytest.FixtureRequest, stack: Stack) -> None:
    """Hold a failed test's stack for a person to explore, until Ctrl-C."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(f"\n{request.node.nodeid} failed; its stack is kept:\n", file=sys.stderr)
        why = hold(stack, sys.stderr)
    if why == "SIGINT":  # Ctrl-C: the person is done; end the run as Ctrl-C would
        stack.stop()
        raise KeyboardInterrupt
