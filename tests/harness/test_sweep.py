from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.processes.service import ServiceProcess
from harness.processes.sweep import HARNESS_TAG_ENV, current_run_id, owner_alive, start_run, sweep

FAKE = Path(__file__).with_name("fake_service.py")


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def spawn_tagged(tmp_path: Path, run_id: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, HARNESS_TAG_ENV: run_id, "FAKE_MODE": "ready", "FAKE_READY_FILE": str(tmp_path / "r.json")}
    proc = subprocess.Popen([sys.executable, str(FAKE)], env=env, start_new_session=True, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not (tmp_path / "r.json").exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    return proc


def test_the_run_id_names_a_live_owner() -> None:
    assert owner_alive(current_run_id())
    assert not owner_alive(f"{dead_pid()}-abcd")
    assert not owner_alive("garbage")


def test_sweep_kills_leftovers_of_dead_runs_only(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    orphan = spawn_tagged(tmp_path / "a", f"{dead_pid()}-dead")
    live = spawn_tagged(tmp_path / "b", current_run_id())
    try:
        killed = sweep(keep=None)
        # Killed by this sweep, or by a run started in parallel (another
        # xdist worker's nested pytest): any sweep takes a dead run's leftovers.
        assert orphan.wait(5) < 0, f"a dead run's leftover survived the sweep (killed: {killed})"
        assert live.pid not in killed
        assert live.poll() is None
    finally:
        live.kill()
        live.wait()
        orphan.kill()
        orphan.wait()


def test_services_carry_the_run_tag(tmp_path: Path) -> None:
    proc = ServiceProcess(
        "fake",
        [sys.executable, str(FAKE)],
        env={"FAKE_MODE": "ready", "PATH": os.environ["PATH"]},
        workdir=tmp_path,
        ready_env="FAKE_READY_FILE",
    ).start()
    try:
        assert psutil.Process(proc.pid).environ()[HARNESS_TAG_ENV] == current_run_id()
    finally:
        proc.stop()


def test_a_nested_run_gets_an_id_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HARNESS_TAG_ENV, "1-outer")
    inner = start_run()
    assert inner != "1-outer"
    assert inner.startswith(f"{os.getpid()}-")
    assert current_run_id() == inner
