"""What a run of the harness's pytest plugin was asked for: its build mode, the
services built from git refs, its Redis backend, where coverage counters go, and
whether this process runs tests. Read by the plugin and by whoever builds or
raises services for a test (:mod:`harness.topology`, failure bundles)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from harness.builds.binary import BuildMode
from harness.builds.refs import RefError, base_ref, resolve
from harness.paths import PROJECT_ROOT

__all__ = ["build_mode", "coverage_dir", "redis_backend_kind", "runs_tests", "service_refs"]

_REFS = pytest.StashKey[dict[str, str]]()


def runs_tests(config: pytest.Config) -> bool:
    """Whether this pytest process runs tests itself: an xdist worker, or a run without
    workers (or one that only collects); not an xdist controller, which hands tests out."""
    if hasattr(config, "workerinput"):
        return True
    # xdist distributes only with workers to hand tests to (-n), whatever --dist says (addopts sets it).
    distributing = config.getoption("dist", "no") != "no" and bool(config.getoption("tx", None))
    return not distributing or bool(config.getoption("collectonly"))


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
