"""The scaffold (harness/suites/scaffold.py) writes a suite from the services' documented
variables and the registered suites' declarations: for gateway and authsession, the
declaration gatewayauthsession keeps by hand; a TODO only where a person must choose;
registered in pyproject.toml. Written into a scratch copy of the project, the suite
runs and passes, its scenario reaching every service."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from gatewayauthsession.topology import TOPOLOGY as GATEWAYAUTHSESSION
from harness.paths import CACHE_DIR, PROJECT_ROOT
from harness.suites.scaffold import ScaffoldError, files, plan, register
from harness.topology.declaration import Topology


def _load(source: str) -> Topology:
    namespace: dict[str, object] = {}
    exec(compile(source, "topology.py", "exec"), namespace)  # noqa: S102 - the scaffold's own output
    topology = namespace["TOPOLOGY"]
    assert isinstance(topology, Topology)
    return topology


def test_for_gateway_and_authsession_it_writes_the_declaration_kept_by_hand() -> None:
    written = _load(files(plan("scaffolded", ["gateway", "authsession"]))["scaffolded/topology.py"])
    kept = GATEWAYAUTHSESSION
    assert written.stubs == kept.stubs
    assert written.materials == kept.materials
    for service in kept.services:
        ours = written.service(service.name)
        assert (ours.listens, ours.ready_file, ours.docs, ours.probes) == (
            service.listens,
            service.ready_file,
            service.docs,
            service.probes,
        )
        assert dict(ours.env) == dict(service.env), service.name
    assert sorted(e.name for e in written.edges()) == sorted(e.name for e in kept.edges())


@pytest.mark.parametrize(
    ("services", "todos"),
    [
        (["user", "authsession"], []),
        (["user"], ["user: USER_AUTHSESSION_ADDR"]),
        (["gateway"], ["gateway: GATEWAY_AUTHSESSION_ADDR"]),
    ],
    ids=["user-authsession", "user-alone", "gateway-alone"],
)
def test_a_todo_only_where_a_person_must_choose(services: list[str], todos: list[str]) -> None:
    result = plan("scaffolded", services)
    assert result.todos == todos
    source = files(result)["scaffolded/topology.py"]
    assert source.count("# TODO") == len(todos)
    _load(source)  # a valid declaration, TODOs and all


@pytest.mark.parametrize(
    ("name", "services", "problem"),
    [
        ("scaffolded", ["ledger"], r"no command \['ledger'\] in the Go workspace"),
        ("gatewayauthsession", ["gateway"], "exists already"),
        ("two-words", ["gateway"], "an identifier"),
        ("scaffolded", [], "one or more"),
    ],
    ids=["unknown-command", "existing-package", "not-an-identifier", "no-service"],
)
def test_a_suite_that_cannot_be_written_is_refused_saying_why(name: str, services: list[str], problem: str) -> None:
    with pytest.raises(ScaffoldError, match=problem):
        plan(name, services)


def test_registering_adds_the_suite_to_the_registry_testpaths_and_mypy_files(tmp_path: Path) -> None:
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    register("scaffolded", tmp_path)
    doc = tomllib.loads((tmp_path / "pyproject.toml").read_text())
    assert doc["tool"]["galaxy-integration"]["suites"][-1] == "scaffolded"
    assert doc["tool"]["pytest"]["ini_options"]["testpaths"][-1] == "scaffolded"
    assert doc["tool"]["mypy"]["files"][-1] == "scaffolded"
    before = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    assert doc["tool"]["galaxy-integration"]["suites"][:-1] == before["tool"]["galaxy-integration"]["suites"]


def test_the_written_suite_passes_in_a_scratch_copy_of_the_project(tmp_path: Path) -> None:
    """The scaffold run as a user runs it, in a copy of the project's files, then the
    suite it wrote run by pytest there (its nox session and lint: see the README)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
    )
    for relative in filter(None, listed.stdout.decode().split("\0")):
        if not relative.startswith("galaxy/") and (PROJECT_ROOT / relative).is_file():
            (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_ROOT / relative, tmp_path / relative)
    (tmp_path / "galaxy").symlink_to(PROJECT_ROOT / "galaxy")  # the services, as they are
    env = {**os.environ, "GALAXY_CACHE_DIR": str(CACHE_DIR)}  # the binaries built already, by content hash
    env.pop("PYTHONPATH", None)  # the copy's own harness, found from its root
    done = subprocess.run(
        [sys.executable, "-m", "harness.suites.scaffold", "scaffolded", "--services", "user,authsession"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "registered scaffolded in pyproject.toml: ./noxw -s scaffolded runs it" in done.stdout
    assert "TODO" not in done.stdout
    suite = subprocess.run(
        [sys.executable, "-m", "pytest", "scaffolded", "-p", "no:randomly", "-v", f"--basetemp={tmp_path / 'tmp'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert suite.returncode == 0, suite.stdout + suite.stderr
    assert "scaffolded/test_stack.py::test_every_service_of_the_boundary_serves PASSED" in suite.stdout
