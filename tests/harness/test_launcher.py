"""./noxw: the pinned nox and uv on first use, nothing to install by hand."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "noxw"
PINNED = re.search(r'^NOX_VERSION = "([^"]+)"', LAUNCHER.read_text(), re.M)


def _run(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NOXW_CACHE": str(cache)}
    return subprocess.run(
        [sys.executable, str(LAUNCHER), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_first_run_installs_the_pinned_nox_and_later_runs_reuse_it(tmp_path: Path) -> None:
    assert PINNED is not None
    first = _run(tmp_path, "--version")
    assert first.returncode == 0, first.stderr
    assert (first.stdout + first.stderr).strip().splitlines()[-1] == PINNED[1]  # nox prints it to stderr
    assert "installing nox" in first.stderr
    (env,) = tmp_path.glob("nox-*")
    assert (env / "bin" / "uv").exists(), "uv is installed beside nox"

    second = _run(tmp_path, "--version")
    assert second.returncode == 0, second.stderr
    assert (second.stdout + second.stderr).strip() == PINNED[1]
    assert "installing" not in second.stderr


def test_nox_runs_this_noxfile_from_any_folder(tmp_path: Path) -> None:
    env = {**os.environ, "NOXW_CACHE": str(tmp_path)}
    listed = subprocess.run(
        [str(LAUNCHER), "-l"], cwd=ROOT / "galaxy", env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert listed.returncode == 0, listed.stderr
    assert "gatewayauthsession" in listed.stdout


def test_two_first_runs_at_once_both_work(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda _: _run(tmp_path, "--version"), range(2)))
    assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    assert sum("installing nox" in r.stderr for r in runs) == 1, "the second waits for the first's install"
