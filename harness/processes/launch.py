"""How a service process is launched and watched at the OS level: a
parent-death signal, so it cannot outlive the thread that started it; its
exit status read without reaping it; whether all its threads are stopped.

The parent-death signal fires when the *thread* that started the process
exits, so start services from a long-lived thread (pytest's main thread).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

__all__ = ["all_threads_stopped", "exit_status", "with_parent_death_signal"]

_PR_SET_PDEATHSIG = 1
_SETPRIV = shutil.which("setpriv")


def _child_setup() -> None:  # runs in the child between fork and exec
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def with_parent_death_signal(argv: list[str]) -> tuple[list[str], Callable[[], None] | None]:
    """The command line and child hook that give the process a parent-death
    signal. util-linux's ``setpriv`` sets it and execs the binary (same pid),
    which lets Python spawn without a ``preexec_fn`` and so use vfork: several
    milliseconds less per process. Without setpriv, a ``preexec_fn`` calls prctl(2)."""
    if _SETPRIV:
        return [_SETPRIV, "--pdeathsig", "KILL", "--", *argv], None
    return argv, _child_setup


def exit_status(proc: subprocess.Popen[bytes]) -> int | None:
    """The exit code once ``proc`` has exited (negative: the signal that ended
    it), without reaping it: it stays a zombie until waited for, so its pid (and
    process-group id) cannot be reused before its group is killed."""
    if proc.returncode is not None:
        return proc.returncode
    info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    if info is None:
        return None
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def all_threads_stopped(pid: int) -> bool:
    """Whether every thread of process ``pid`` is stopped (state T, or t when traced);
    a process that is gone has nothing left running."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except FileNotFoundError:
        return True
    for task in tasks:
        try:
            stat = (task / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended
        state = stat.rsplit(")", 1)[1].split()[0]  # after the command name, which may hold spaces
        if state not in ("T", "t", "Z", "X"):
            return False
    return True
