"""A stack kept for a person: ``nox -s up`` and ``--keep-stack-on-failure``
print working endpoints, hold until Ctrl-C, and leave nothing behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import requests

from harness.paths import PROJECT_ROOT
from harness.processes.sweep import HARNESS_TAG_ENV, run_processes

pytestmark = pytest.mark.outside_mutation("tests the up tool, not the services")


def _spawn(*argv: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != HARNESS_TAG_ENV}  # a run of its own
    return subprocess.Popen(
        [sys.executable, *argv],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _read_until(proc: subprocess.Popen[str], pattern: str, timeout: float = 60) -> str:
    assert proc.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
        if re.search(pattern, seen):
            return seen
    proc.kill()
    raise AssertionError(f"never saw {pattern!r}; output:\n{seen}")


def _stop_and_check(proc: subprocess.Popen[str], http: str) -> str:
    owner = proc.pid
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    rest = proc.communicate(timeout=30)[0]
    deadline = time.monotonic() + 10
    while (left := run_processes(owner)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"left running: {[p.cmdline() for p in left]}"
    try:
        requests.get(http + "/healthz", timeout=2)
    except requests.ConnectionError:
        return rest
    raise AssertionError(f"{http} still answers after Ctrl-C")


def _gateway_http(out: str) -> str:
    """The gateway's HTTP base URL, from the endpoints printed."""
    found = re.search(r"^gateway\s+http\s+(\S+)$", out, re.M)
    assert found, out
    return "http://" + found[1]


def test_up_prints_working_endpoints_mails_codes_and_stops_on_ctrl_c() -> None:
    proc = _spawn("-m", "harness.topology.explore", "gatewayauthsession", "--set", "code_ttl=1m", "--links", "all")
    out = _read_until(proc, r"Ctrl-C stops it")
    http = _gateway_http(out)
    assert "grpcurl -plaintext" in out
    assert "fault-proxy links" in out
    resp = requests.post(http + "/v1/auth/email/start", json={"email": "visitor@example.com"}, timeout=10)
    assert resp.status_code == 200, resp.text
    out += _read_until(proc, r'mail: POST /v1/messages .*"code": "\d{6}".*"to": "visitor@example.com"')
    rest = _stop_and_check(proc, http)
    assert "stopped (SIGINT)" in rest


def test_a_failed_test_keeps_its_stack_until_ctrl_c(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text("from gatewayauthsession.topology import TOPOLOGY  # noqa: F401\n")
    (tmp_path / "test_sample.py").write_text(
        textwrap.dedent(
            """
            def test_fails_on_purpose(stack):
                assert stack.http.request("GET", "/healthz").status_code == 200
                assert False, "failing on purpose"
            """
        )
    )
    proc = _spawn(
        "-m", "pytest", str(tmp_path), "-p", "harness.suites.plugin", "-p", "no:randomly",
        "-n", "0", "--keep-stack-on-failure", "--rootdir", str(tmp_path), "-q",
    )  # fmt: skip
    out = _read_until(proc, r"Ctrl-C stops it")
    assert "test_fails_on_purpose failed; its stack is kept" in out
    http = _gateway_http(out)
    assert requests.get(http + "/readyz", timeout=5).status_code == 200, "the kept stack serves"
    _stop_and_check(proc, http)
    assert proc.returncode != 0
