"""Tag every service process with the run that started it, and sweep the
leftovers of runs that died.

A run id is ``<owner pid>-<random>``: the pid of the process that owns the
run (the pytest controller). Services inherit the tag through their
environment (:data:`HARNESS_TAG_ENV`). A process whose tag
names an owner that no longer exists is a leftover; :func:`sweep` kills it
with its process group. Parent-death signals make leftovers rare; the sweep
is the backstop for what they cannot catch (a reparented grandchild, a
process started from a thread that has since exited).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
from collections.abc import Iterator

import psutil

__all__ = ["HARNESS_TAG_ENV", "current_run_id", "owner_alive", "reap_run", "run_processes", "start_run", "sweep"]

HARNESS_TAG_ENV = "GALAXY_HARNESS_RUN"
"""Environment variable tagging every process the harness starts (with its run id)."""


def start_run() -> str:
    """Make this process the owner of a new run and export its id, so the
    processes it starts (xdist workers, services) inherit it. A run started
    inside another (a nested pytest) gets an id of its own, so it never
    reaps the outer run's processes."""
    run_id = f"{os.getpid()}-{secrets.token_hex(4)}"
    os.environ[HARNESS_TAG_ENV] = run_id
    return run_id


def current_run_id() -> str:
    """This run's id: inherited from the run's owner, or a new run owned here."""
    return os.environ.get(HARNESS_TAG_ENV) or start_run()


def owner_alive(run_id: str) -> bool:
    pid_text = run_id.split("-", 1)[0]
    if not pid_text.isdigit():
        return False
    try:
        return psutil.Process(int(pid_text)).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _tagged() -> Iterator[tuple[psutil.Process, str]]:
    for proc in psutil.process_iter(["pid"]):
        try:
            tag = proc.environ().get(HARNESS_TAG_ENV)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess, OSError):
            continue
        if tag and proc.pid != os.getpid():
            yield proc, tag


def run_processes(owner_pid: int) -> list[psutil.Process]:
    """The live (not zombie) processes tagged by a run that process
    ``owner_pid`` owns (:func:`start_run` names a run after its owner)."""
    found = []
    for proc, tag in _tagged():
        with contextlib.suppress(psutil.Error):
            if tag.startswith(f"{owner_pid}-") and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def _kill(proc: psutil.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        pgid = os.getpgid(proc.pid)
        if pgid != os.getpgrp():  # never our own group
            os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(proc.pid, signal.SIGKILL)


def sweep(keep: str | None = None) -> list[int]:
    """Kill every tagged process whose run's owner is gone (never the run
    ``keep``); return their pids. Run at the start of a run."""
    killed = []
    for proc, tag in _tagged():
        if tag != keep and not owner_alive(tag):
            _kill(proc)
            killed.append(proc.pid)
    return killed


def reap_run(run_id: str) -> list[int]:
    """Kill every process still tagged with ``run_id`` but the caller; return
    their pids. Run by the run's owner at its very end: whatever is left then
    (a service's child orphaned when a killed xdist worker took the service
    down) is a leak."""
    killed = []
    for proc, tag in _tagged():
        if tag == run_id:
            _kill(proc)
            killed.append(proc.pid)
    return killed
