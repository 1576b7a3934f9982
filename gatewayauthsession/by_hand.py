"""A second process of one of a stack's services, started by hand beside the stack from the stack's own
build and environment, changed as a scenario says: the process conventions' scenarios (configuration
problems, listeners, signals) see only the binary, its environment and what it writes."""

from __future__ import annotations

import functools
import subprocess
import time
from collections.abc import Sequence
from typing import Any

from gatewayauthsession.stack import Stack
from harness.processes.service import ServiceProcess

__all__ = ["by_hand", "env_changed", "run_to_exit"]


def env_changed(stack: Stack, service: str, changes: dict[str, str | None]) -> dict[str, str]:
    """The environment the stack runs ``service`` with, but for its ready file and
    listeners (port 0 on loopback, as each test sets them), changed by ``changes``
    (a value of None leaves the variable out)."""
    declared = stack.topology.service(service)
    env = {k: v for k, v in stack.process(service).env.items() if k != declared.ready_file}
    env.update(dict.fromkeys(declared.listens.values(), "127.0.0.1:0"))
    for var, value in changes.items():
        if value is None:
            env.pop(var, None)
        else:
            env[var] = value
    return env


def by_hand(
    stack: Stack,
    service: str,
    changes: dict[str, str | None] | None = None,
    *,
    through: Sequence[str] = (),
    **options: Any,
) -> ServiceProcess:
    """A second ``service`` process of the stack's build and environment (:func:`env_changed`),
    not started; the stack stops it with itself. ``through`` is a command the binary's own
    command line is appended to, which ends by executing it (same process)."""
    declared = stack.topology.service(service)
    workdir = stack.workdir / "by-hand"
    workdir.mkdir(exist_ok=True)
    options.setdefault("ready_env", declared.ready_file)
    proc = ServiceProcess(
        f"{service}-{len(list(workdir.glob('*.log')))}",
        [*through, *stack.process(service).argv],
        env=env_changed(stack, service, changes or {}),
        workdir=workdir,
        listen_env=declared.listens,
        ready_timeout=10,
        **options,
    )
    stack.on_close.append(functools.partial(_stop, proc))
    return proc


def _stop(proc: ServiceProcess) -> None:
    proc.stop()


def run_to_exit(
    stack: Stack, service: str, changes: dict[str, str | None], *, pass_fds: tuple[int, ...] = ()
) -> tuple[subprocess.CompletedProcess[str], float]:
    """``service`` run with the changed environment until it exits by itself (within
    10 s), its streams apart: what it did, and how many seconds it took."""
    declared = stack.topology.service(service)
    never_ready = stack.workdir / f"{service}-never-ready.json"
    env = env_changed(stack, service, changes) | {declared.ready_file: str(never_ready)}
    started = time.monotonic()
    proc = subprocess.run(
        stack.process(service).argv,
        env=env,
        pass_fds=pass_fds,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert not never_ready.exists(), "a binary that did not serve wrote its ready file"
    return proc, time.monotonic() - started
