"""Every command line ``nox -s up`` prints works as printed: each curl, grpcurl and
redis-cli line is run in a shell, in a folder of its own, with only its placeholders
(CHALLENGE, CODE, ACCESS_TOKEN) filled in from what the lines before it answered.
redis-cli comes with Debian's redis-server (``.ci/install-packages``); without it the
test skips, saying so, except under ``CI=true``, where it fails."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gatewayauthsession.test_explore import _gateway_http, _read_until, _spawn, _stop_and_check
from harness.builds.tools import go_tool


def _shell(line: str, cwd: Path) -> str:
    done = subprocess.run(["bash", "-c", line], cwd=cwd, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, f"{line}\nexit {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout


def test_each_line_up_prints_works_as_printed(tmp_path: Path) -> None:
    if shutil.which("redis-cli") is None:  # as the headless-browser test does: a skip that says why, never in CI
        reason = "no redis-cli on PATH to run the printed line with (.ci/install-packages installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    go_tool("grpcurl")  # built before the stack's wait starts
    proc = _spawn("-m", "harness.topology.explore", "gatewayauthsession", "--set", "code_ttl=1m")
    out = _read_until(proc, r"Ctrl-C stops it")
    lines = [line.strip() for line in out.splitlines() if re.match(r"\s+(curl|\S*grpcurl|redis-cli) ", line)]
    http = _gateway_http(out)
    mailed = r'mail: POST /v1/messages .*"code": "(\d{6})".*"to": "you@example.com"'
    try:
        ready, start, confirm, me, grpc_start, grpc_me, health, scan = lines
        challenge = json.loads(_shell(start, tmp_path))["challenge_id"]
        out += _read_until(proc, mailed)
        code = re.findall(mailed, out)[-1]
        pair = json.loads(_shell(confirm.replace("CHALLENGE", challenge).replace("CODE", code), tmp_path))
        token = pair["access_token"]
        assert json.loads(_shell(me.replace("ACCESS_TOKEN", token), tmp_path))["email"] == "you@example.com"
        assert json.loads(_shell(ready, tmp_path)) == {"status": "ok"}

        assert json.loads(_shell(grpc_start, tmp_path))["challenge_id"]
        assert json.loads(_shell(grpc_me.replace("ACCESS_TOKEN", token), tmp_path))["email"] == "you@example.com"
        assert json.loads(_shell(health, tmp_path)) == {"status": "SERVING"}
        prefix = re.search(r"key prefix '([^']*)'", out)
        assert prefix, out
        assert _shell(scan, tmp_path).split() == [f"{prefix[1]}session:{pair['session_id']}"]
    finally:
        _stop_and_check(proc, http)
