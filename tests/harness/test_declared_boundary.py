"""A boundary suite is a declaration: ``frontback/`` declares two services built from
fake_service.py (mode relay: front calls back, and both call Redis, for each request) in
at most 40 lines besides its scenarios, and gets from that alone, each shown here on a
scratch copy run as its user would run it: a fault link on every edge (the scenarios'
own included), a timeline and a failure bundle with the Redis commands, a stack kept on
failure, a service built from a git ref, shards over its recorded durations and an exact
rerun of a failed test."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import pytest
from scratch_suite import pytest_argv, run_pytest

from harness.builds.refs import describe, resolve
from harness.paths import PROJECT_ROOT

SUITE = Path(__file__).with_name("frontback")
PLUMBING = ["__init__.py", "conftest.py", "topology.py"]
"""Everything of the suite that is not a scenario or the scenarios' client (``scenario.py``)."""
EDGES = ["test->front", "front->back", "front->redis", "back->redis"]
BROKEN = "frontback/test_broken.py::test_front_counts_only_what_back_counted"
BROKEN_SCENARIO = """
from frontback.scenario import call
from harness.topology.stack import Stack


def test_front_counts_only_what_back_counted(stack: Stack) -> None:
    call(stack)
    status, body = call(stack)
    assert body["hits"] == 0, "fails on purpose: front counts every request it serves"
"""


def _suite_copy(root: Path) -> Path:
    """A scratch copy of the suite, with a scenario that fails on purpose; returns its root."""
    shutil.copytree(SUITE, root / "frontback", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "frontback" / "test_broken.py").write_text(BROKEN_SCENARIO)
    return root


def _output(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


def test_the_suite_is_its_declaration_in_at_most_40_lines() -> None:
    lines = {name: len((SUITE / name).read_text().splitlines()) for name in PLUMBING}
    assert sum(lines.values()) <= 40, lines
    suite = sorted(p.name for p in SUITE.glob("*.py"))
    assert suite == sorted([*PLUMBING, "scenario.py", "test_frontback.py"]), "nothing else makes it a suite"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The suite's scenarios, run once with their durations recorded."""
    root = _suite_copy(tmp_path_factory.mktemp("recorded"))
    done = run_pytest(root, "-v", "--record-durations", "frontback/test_frontback.py")
    return root, done


def test_every_edge_of_the_declaration_takes_a_fault_link(
    recorded: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    _, done = recorded
    assert done.returncode == 0, _output(done)
    for edge in EDGES:  # each case breaks its edge, sees the call fail naming it, heals it and sees it work
        assert f"test_a_link_down_fails_the_call_naming_it_and_back_up_it_works[{edge}] PASSED" in done.stdout


def test_shards_split_the_suite_by_its_recorded_durations(
    recorded: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    root, done = recorded
    assert done.returncode == 0, _output(done)
    durations = json.loads((root / "frontback" / "durations.json").read_text())
    everything = re.findall(r"^(frontback/\S+::\S+) PASSED", done.stdout, re.MULTILINE)
    assert len(everything) == 5, done.stdout
    assert sorted(durations) == sorted(everything), "the run recorded each test of the suite in its own file"
    recorded_s = sum(durations.values())
    shards = []
    for k in (1, 2):
        listing = run_pytest(root, "--collect-only", "-q", f"--shard={k}/2", "frontback/test_frontback.py")
        assert listing.returncode == 0, _output(listing)
        said = re.search(rf"shard {k}/2: \d+ tests, about [\d.]+s of ([\d.]+)s recorded", listing.stdout)
        assert said, listing.stdout
        # the listing prints one decimal of a sum it adds in its own order: equal up to that rounding
        assert abs(float(said[1]) - recorded_s) <= 0.05 + 1e-9, (said[0], recorded_s)
        shards.append([line for line in listing.stdout.splitlines() if "::" in line])
    assert sorted(shards[0] + shards[1]) == sorted(everything), "each test in exactly one shard"
    assert all(shards), shards


@dataclass
class Failed:
    root: Path
    done: subprocess.CompletedProcess[str]

    @property
    def bundle(self) -> Path:
        return self.root / "reports" / "failures" / BROKEN.replace("/", "_").replace("::", "_")


@pytest.fixture(scope="module")
def failed(tmp_path_factory: pytest.TempPathFactory) -> Failed:
    root = _suite_copy(tmp_path_factory.mktemp("failed"))
    return Failed(root, run_pytest(root, BROKEN))


def test_a_failure_s_timeline_has_every_hop_of_its_requests(failed: Failed) -> None:
    assert failed.done.returncode == 1, _output(failed.done)
    out = failed.done.stdout
    own = out.split("(this test's)", 1)[1].split("no trace:", 1)[0]
    for hop in (
        r"test -> front\s+GET /\s+200",
        r"front -> back\s+GET /\s+200",
        r"front -> redis\s+INCRBY",
        r"back -> redis\s+INCRBY",
    ):
        assert re.search(hop, own), f"{hop} not in the test's trace:\n{own}"
    assert re.search(r">> .*test -> front\s+GET /.*<- failing step", own), own


def test_a_failure_s_bundle_holds_the_redis_commands_and_the_timeline(failed: Failed) -> None:
    commands = (failed.bundle / "redis" / "commands.txt").read_text()
    assert re.search(r" front\s+INCRBY galaxy:front:hits 1 ", commands), commands
    assert re.search(r" back\s+INCRBY galaxy:back:hits 1 ", commands), commands
    assert "client :" not in commands, "a command put down to no process"
    timeline = (failed.bundle / "timeline.txt").read_text()
    assert "front -> back" in timeline
    assert "back -> redis" in timeline
    binaries = json.loads((failed.bundle / "binaries.json").read_text())
    assert {name: Path(b["path"]).name for name, b in binaries.items()} == {
        "front": "fake_service.py",
        "back": "fake_service.py",
    }
    for log in ("logs/front.log", "logs/back.log"):
        assert '"msg": "http request"' in (failed.bundle / log).read_text()


def test_a_failure_s_rerun_sh_reruns_exactly_it_and_it_fails_the_same_way(failed: Failed) -> None:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    again = subprocess.run(
        [str(failed.bundle / "rerun.sh")], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert again.returncode == 1, _output(again)
    assert re.search(r"^=+ 1 failed in ", again.stdout, re.MULTILINE), again.stdout
    assert "fails on purpose: front counts every request it serves" in again.stdout
    assert f"FAILED {BROKEN}" in again.stdout


def test_keep_stack_on_failure_holds_a_live_stack_and_prints_its_endpoints(tmp_path: Path) -> None:
    root = _suite_copy(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    argv = pytest_argv(root, "-p", "no:randomly", "--keep-stack-on-failure", BROKEN)
    with subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as run:
        assert run.stderr is not None
        printed: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (line := run.stderr.readline()):
            printed.append(line)
            if "Ctrl-C stops it" in line:
                break
        text = "".join(printed)
        try:
            assert "Ctrl-C stops it" in text, text
            front = re.search(r"^front\s+tcp\s+(\S+)$", text, re.MULTILINE)
            assert front, text
            assert re.search(r"^back\s+tcp\s+\S+$", text, re.MULTILINE), text
            assert re.search(r"^redis\s+redis://\S+", text, re.MULTILINE), text
            with urllib.request.urlopen(f"http://{front[1]}/", timeout=5) as answer:
                assert json.load(answer)["hits"] == 3, "the failed test's stack, as it left it"
        finally:
            run.send_signal(signal.SIGINT)
            out, _ = run.communicate(timeout=60)
    assert run.returncode == 2, out  # interrupted, as Ctrl-C ends a run
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://{front[1]}/", timeout=2)


def test_a_service_built_from_a_git_ref_runs_beside_the_working_tree_s(tmp_path: Path) -> None:
    root = _suite_copy(tmp_path)
    head = resolve(PROJECT_ROOT, "HEAD")
    junit = root / "junit.xml"
    done = run_pytest(
        root, "--service-ref=back=HEAD", f"--junitxml={junit}",
        "frontback/test_frontback.py::test_a_request_goes_through_front_back_and_redis",
    )  # fmt: skip
    assert done.returncode == 0, _output(done)
    assert f"back: {describe(PROJECT_ROOT, head)}" in done.stdout, "the header names the commit back is built from"
    [prop] = [p for p in ElementTree.parse(junit).getroot().iter("property") if p.get("name") == "sources"]  # noqa: S314
    sources = json.loads(prop.get("value") or "{}")
    assert sources["front"] == str(PROJECT_ROOT / "tests" / "harness" / "fake_service.py")
    assert f"/refs/{head}/" in sources["back"], sources
    assert sources["back"].endswith("/tests/harness/fake_service.py"), sources
