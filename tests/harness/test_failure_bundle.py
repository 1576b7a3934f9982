"""A scenario of the boundary suite that fails on purpose, run as a scratch
suite under the harness plugin: its timeline is in the terminal report once
and in the JUnit XML once, its failure bundle holds every listed file, the
bundle's rerun.sh reruns exactly that test and it fails the same way, and a
passing test writes no bundle."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import pytest
from scratch_suite import every_test_id, pytest_argv, run_pytest

from contracts.tracing import trace_id_for
from harness.forensics.bundle import sanitise
from harness.paths import PROJECT_ROOT

FAILING = "test_scenario.py::test_a_wrong_code_is_refused_after_a_restart"
DUMPED = "test_scenario.py_test_a_dump_of_authsession_s_goroutines_is_kept"
PASSING = "test_scenario.py::test_a_login_works"

SCENARIO = """
from gatewayauthsession.scenario import log_in
from gatewayauthsession.stack import Stack


def test_a_wrong_code_is_refused_after_a_restart(stack: Stack) -> None:
    api = stack.api("http")
    log_in(stack, api, "carol@example.com")
    stack.restart("authsession")
    challenge = stack.api("http").start_email_login("dave@example.com")
    stack.api("http").confirm_email_login(challenge.challenge_id, "000000")  # fails: INVALID_CODE


def test_a_dump_of_authsession_s_goroutines_is_kept(stack: Stack) -> None:
    stack.authsession.dump_goroutines()  # what a test at its deadline does
    assert stack.authsession.is_running(), "SIGQUIT ends a Go process"


def test_a_login_works(stack: Stack) -> None:
    log_in(stack, stack.api("grpc"), "erin@example.com")
"""

SUITE_CONFTEST = """
from gatewayauthsession.topology import TOPOLOGY  # this directory is a suite of that topology

pytest_plugins = ["gatewayauthsession.conftest"]  # the suite's own hooks and fixtures
"""

BUNDLE_FILES = [
    "timeline.html",
    "timeline.txt",
    "timeline.json",
    "failure.txt",
    "logs/gateway.log",
    "logs/authsession.log",
    "logs/authsession.1.log",
    "journals/mail.txt",
    "journals/user.txt",
    "redis/commands.txt",
    "redis/keyspace.json",
    "binaries.json",
    "fault-proxy-links.txt",
    "seed.txt",
    "rerun.sh",
    "bundle.json",
]


@dataclass
class Run:
    root: Path
    done: subprocess.CompletedProcess[str]
    junit: ElementTree.Element
    bundles: Path

    @property
    def bundle(self) -> Path:
        return self.bundles / "test_scenario.py_test_a_wrong_code_is_refused_after_a_restart"


JUNIT = ("-o", "junit_logging=system-err", "-o", "junit_family=xunit2")


def _pytest_prefix(root: Path, bundles: Path) -> list[str]:
    """The command line of the scratch run, as its rerun command too (with a bundle directory of its own)."""
    return pytest_argv(root, *JUNIT, f"--failure-bundles={bundles}")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("forensics")
    (root / "conftest.py").write_text(SUITE_CONFTEST)
    (root / "test_scenario.py").write_text(SCENARIO)
    bundles = root / "failures"
    stale = bundles / "test_scenario.py_test_from_an_earlier_run"
    stale.mkdir(parents=True)
    (stale / "bundle.json").write_text("{}")
    rerun = shlex.join(_pytest_prefix(root, root / "rerun-failures"))
    done = run_pytest(
        root,
        *JUNIT,
        f"--junitxml={root / 'junit.xml'}", f"--failure-bundles={bundles}", f"--rerun-command={rerun}",
        "-p", "randomly", str(root),
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    return Run(root, done, ElementTree.parse(root / "junit.xml").getroot(), bundles)  # noqa: S314 - our own report


def _case(run: Run, name: str) -> ElementTree.Element:
    [case] = [c for c in run.junit.iter("testcase") if c.get("name") == name]
    return case


def test_the_timeline_is_in_the_terminal_report_once_without_the_raw_logs(run: Run) -> None:
    out = run.done.stdout
    assert "2 failed, 1 passed" in out, out
    assert out.count("Captured stderr call: timeline") == 2, "one for each failing test"
    assert out.count(" hops in ") == 2, out
    [failing] = [line for line in out.splitlines() if line.startswith(">>") and "/v1/auth/email/confirm" in line]
    assert re.search(r"test -> gateway\s+POST /v1/auth/email/confirm\s+400\b", failing), failing
    assert "<- failing step" in failing
    assert "gateway -> authsession      gRPC ConfirmEmailLogin" in out
    assert f"failure bundle (written after teardown): {run.bundle}" in out
    assert '"msg":"http request"' not in out, "a raw service log line reached the terminal"
    assert "folded:" in out
    assert "grpc-go debug lines" in out


def test_the_timeline_is_in_the_junit_xml_once_and_the_bundle_a_property(run: Run) -> None:
    case = _case(run, "test_a_wrong_code_is_refused_after_a_restart")
    text = "".join(e.text or "" for e in case.iter("system-err")) + "".join(
        e.text or "" for e in case.iter("system-out")
    )
    assert text.count(" hops in ") == 1, text
    assert text.count("<- failing step") == 1, text
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props == {"failure_bundle": str(run.bundle)}
    assert not list(_case(run, "test_a_login_works").iter("property"))


def test_the_bundle_holds_every_listed_file_and_a_passing_test_writes_none(run: Run) -> None:
    bundles = sorted(p.name for p in run.bundles.iterdir())
    assert bundles == sorted([run.bundle.name, DUMPED]), "one bundle for each of this run's failures, none else"
    missing = [name for name in BUNDLE_FILES if not (run.bundle / name).is_file()]
    assert not missing, f"missing from {run.bundle}: {missing}"
    index = json.loads((run.bundle / "bundle.json").read_text())
    assert index["nodeid"] == FAILING
    assert set(BUNDLE_FILES) <= set(index["files"])
    page = (run.bundle / "timeline.html").read_text()
    assert "POST /v1/auth/email/confirm" in page
    assert 'class="hop failing"' in page
    binaries = json.loads((run.bundle / "binaries.json").read_text())
    assert set(binaries) == {"authsession", "gateway"}
    assert all(len(b["sha256"]) == 64 for b in binaries.values())
    keyspace = json.loads((run.bundle / "redis" / "keyspace.json").read_text())
    [session] = keyspace["sessions"].values()
    assert session["fields"]["email"] == "carol@example.com"
    assert all(key.startswith(keyspace["prefix"] + "session:") for key in keyspace["sessions"])
    commands = (run.bundle / "redis" / "commands.txt").read_text()
    assert " authsession  HSET galaxy:challenge:" in commands, commands
    assert "client :" not in commands, "a command of an unknown client"
    seed = (run.bundle / "seed.txt").read_text()
    assert "pytest-randomly seed: " in seed


def test_a_goroutine_dump_is_kept_apart(run: Run) -> None:
    dump = (run.bundles / DUMPED / "goroutines" / "authsession.txt").read_text()
    assert dump.startswith("SIGQUIT: quit"), dump[:200]
    assert "goroutine " in dump
    assert not (run.bundles / DUMPED / "goroutines" / "gateway.txt").exists()
    assert not (run.bundle / "goroutines").exists()


def test_one_request_s_trace_id_is_in_both_service_logs_and_the_mail_journal(run: Run) -> None:
    trace_id = trace_id_for(FAILING)
    for name in ("logs/gateway.log", "logs/authsession.log", "logs/authsession.1.log", "journals/mail.txt"):
        assert trace_id in (run.bundle / name).read_text(), f"{name} lacks the test's trace {trace_id}"


def test_the_rerun_command_reruns_exactly_the_failed_test_and_it_fails_the_same_way(run: Run) -> None:
    script = run.bundle / "rerun.sh"
    command = json.loads((run.bundle / "bundle.json").read_text())["rerun"]
    assert FAILING in command
    assert "--randomly-seed=" in command
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run([str(script)], capture_output=True, text=True, env=env, timeout=180, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"^=* 1 failed in ", done.stdout, re.MULTILINE), done.stdout
    assert "INVALID_CODE: the code does not match" in done.stdout
    seed = (run.bundle / "seed.txt").read_text().split(": ", 1)[1].strip()
    assert f"Using --randomly-seed={seed}" in done.stdout


SELECTED = """
import pytest
from hypothesis import settings


@pytest.mark.smoke
def test_fails_under_the_run_s_profile_and_marker() -> None:
    assert settings().max_examples == 15, f"profile {settings.get_current_profile_name()} ran"
"""


def test_the_rerun_command_keeps_the_run_s_marker_expression_and_hypothesis_profile(tmp_path: Path) -> None:
    """A run that selects by marker and names a Hypothesis profile (as ``nox -s real_redis``,
    ``deep`` and ``schemathesis`` do) is rerun with both: some tests are collected only under
    their marker, and a profile is what a Hypothesis test ran with."""
    (tmp_path / "conftest.py").write_text(SUITE_CONFTEST)
    (tmp_path / "test_selected.py").write_text(SELECTED)
    bundles = tmp_path / "failures"
    rerun = shlex.join(pytest_argv(tmp_path, f"--failure-bundles={tmp_path / 'rerun-failures'}"))
    done = run_pytest(
        tmp_path, f"--failure-bundles={bundles}", f"--rerun-command={rerun}",
        "-m", "smoke or not smoke", "--hypothesis-profile=galaxy-deep", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    (bundle,) = bundles.iterdir()
    command = json.loads((bundle / "bundle.json").read_text())["rerun"]
    assert "--hypothesis-profile=galaxy-deep" in command
    assert "-m 'smoke or not smoke'" in command
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    script = str(bundle / "rerun.sh")
    again = subprocess.run([script], capture_output=True, text=True, env=env, timeout=180, check=False)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "profile galaxy-deep ran" in again.stdout, again.stdout


def test_every_test_of_the_suites_has_a_bundle_folder_of_its_own_named_in_full() -> None:
    ids = every_test_id()
    names = {sanitise(nodeid): nodeid for nodeid in ids}
    assert len(names) == len(ids), "two tests would share a failure bundle"
    cut = [nodeid for name, nodeid in names.items() if len(name) >= 200]
    assert not cut, "a bundle folder named by a cut id (its start and end around a hash)"


TWO_FAILURES = """
import pytest


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_fails(transport: str) -> None:
    assert transport == "neither", "failing on purpose"
"""


def test_a_rerun_keeps_the_bundles_of_the_tests_it_does_not_rerun(tmp_path: Path) -> None:
    (tmp_path / "test_two.py").write_text(TWO_FAILURES)
    bundles = tmp_path / "failures"
    prefix = pytest_argv(tmp_path, f"--failure-bundles={bundles}")
    done = run_pytest(tmp_path, f"--failure-bundles={bundles}", f"--rerun-command={shlex.join(prefix)}", str(tmp_path))
    assert done.returncode == 1, done.stdout + done.stderr
    http, grpc = bundles / "test_two.py_test_fails_http", bundles / "test_two.py_test_fails_grpc"
    assert sorted(bundles.iterdir()) == sorted([http, grpc]), "one folder each, told apart by name"
    before = (grpc / "bundle.json").stat().st_mtime_ns

    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    again = subprocess.run([str(http / "rerun.sh")], capture_output=True, text=True, env=env, timeout=180, check=False)
    assert again.returncode == 1, again.stdout + again.stderr
    assert re.search(r"^=* 1 failed in ", again.stdout, re.MULTILINE), again.stdout
    assert (grpc / "bundle.json").stat().st_mtime_ns == before, "the bundle of the test not rerun is kept as it was"
    assert json.loads((http / "bundle.json").read_text())["nodeid"] == "test_two.py::test_fails[http]"
