"""The boundary suite's xdist controller only hands tests out and reports: while the tests
run it must not have imported what only running a test needs (the stack, gRPC,
Hypothesis, fakeredis, the HTTP stubs' werkzeug), or every run pays for it at start
and again at exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from harness.paths import PROJECT_ROOT

HEAVY = (
    "gatewayauthsession.stack",
    "gatewayauthsession.fixtures",
    "harness.topology.stack",
    "harness.topology.fixtures",
    "grpc",
    "hypothesis",
    "werkzeug",
    "fakeredis",
)

# Written once every test has run, before the terminal summary: there Hypothesis's own
# plugin imports hypothesis to report what its tests found.
PROBE = """
import json, os, sys
import pytest

@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    role = "worker" if hasattr(session.config, "workerinput") else "controller"
    with open(os.path.join(os.environ["PROBE_DIR"], role + "-" + str(os.getpid()) + ".json"), "w") as f:
        json.dump(sorted(sys.modules), f)
"""


def test_the_xdist_controller_imports_nothing_a_test_needs(tmp_path: Path) -> None:
    (tmp_path / "import_probe.py").write_text(textwrap.dedent(PROBE))
    env = {**os.environ, "PROBE_DIR": str(tmp_path), "PYTHONPATH": f"{tmp_path}{os.pathsep}{PROJECT_ROOT}"}
    test = "gatewayauthsession/test_login.py::test_login_then_me_describes_the_session"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "import_probe", "-n", "1", "-q", test],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 passed" in done.stdout, done.stdout[-2000:]
    controller = [json.loads(p.read_text()) for p in tmp_path.glob("controller-*.json")]
    workers = [json.loads(p.read_text()) for p in tmp_path.glob("worker-*.json")]
    assert len(controller) == 1, f"one controller expected, found {len(controller)}"
    assert workers, "the worker wrote no module list: the probe did not run there"

    def heavy(modules: list[str]) -> list[str]:
        return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))

    assert heavy(controller[0]) == [], "the controller imported what only tests need"
    assert "gatewayauthsession.stack" in workers[0], "the worker never imported the stack: is the probe blind?"
