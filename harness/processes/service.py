"""Run a service binary as a supervised OS process.

The process is started in its own session (process group) with a
parent-death signal, so it cannot outlive the test process. Readiness is the
ready-file handshake: the binary writes ``{"pid": ..., "addresses": {...}}``
once it serves, and :meth:`ServiceProcess.start` polls for that file at
millisecond granularity while watching for an early exit (or :meth:`~ServiceProcess.spawn`
several, then :meth:`~ServiceProcess.wait_ready` for each, to start them side by side). :meth:`stop` is
SIGTERM, a bounded wait, SIGQUIT (a Go goroutine dump lands in the log),
then SIGKILL of the whole group; it is idempotent. Every process carries
this run's tag (:mod:`harness.processes.sweep`).

A binary without the handshake (a third-party tool) is started with a
``ready_probe`` instead: a function that returns its addresses once it
serves, or None while it does not yet.

Faults come from outside, as signals: :meth:`ServiceProcess.pause` and
:meth:`~ServiceProcess.resume` (SIGSTOP/SIGCONT of the group),
:meth:`~ServiceProcess.kill` (SIGKILL) and :meth:`~ServiceProcess.restart`,
which starts a new incarnation on the same addresses (``listen_env`` names
the variable that sets each one) so that peers reconnect without new
configuration. Each incarnation keeps its own log. The ports it is given to
hold (``holds``, :mod:`harness.processes.ports`) stay its own while it is
down between incarnations, and are let go by :meth:`stop`. :meth:`~ServiceProcess.terminate_and_drain`
sends SIGTERM and reports what the process did (:class:`Drain`): how soon a
readiness probe the caller passes answered not-ready, how soon it exited and
with which code. :meth:`~ServiceProcess.readings` reads its file descriptors,
resident memory and threads (:class:`Readings`).

The parent-death signal fires when the *thread* that started the process
exits, so start services from a long-lived thread (pytest's main thread).

Its parts, each a module of :mod:`harness.processes`: ``errors`` (the typed
errors), ``launch`` (the parent-death signal, exit status without reaping),
``logs`` (one log per incarnation), ``signals`` (pause, resume, kill) and ``drain``
(SIGTERM observed, resources read).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from harness.processes.drain import Drain, ProcessDrain, Readings
from harness.processes.errors import (
    ProcessError,
    ProcessExitedEarly,
    ReadinessTimeout,
    data_races,
    describe_returncode,
)
from harness.processes.launch import exit_status, with_parent_death_signal
from harness.processes.logs import ProcessLogs
from harness.processes.ports import PortHold
from harness.processes.signals import ProcessSignals
from harness.processes.sweep import HARNESS_TAG_ENV, current_run_id

__all__ = [
    "Drain",
    "ProcessError",
    "ProcessExitedEarly",
    "ReadinessTimeout",
    "Readings",
    "ReadyProbe",
    "ServiceProcess",
    "data_races",
    "describe_returncode",
]


ReadyProbe = Callable[["ServiceProcess"], "dict[str, str] | None"]
"""Readiness of a binary without the ready-file handshake: its addresses once it serves, else None."""


class ServiceProcess(ProcessLogs, ProcessSignals, ProcessDrain):
    """One supervised service process.

    ``ready_file`` is passed to the binary through ``ready_env`` (for example
    ``ORDERS_READY_FILE``); ``addresses`` holds what it reported. A binary
    without the handshake gets ``ready_probe`` instead. ``listen_env`` maps
    an address name to the variable that sets it (``{"grpc":
    "ORDERS_GRPC_ADDR"}``), for :meth:`restart`. With ``coverdir`` (a
    ``-cover`` build), the process writes its coverage counters there
    (``GOCOVERDIR``) when it exits cleanly. Its standard output goes to its
    log with its standard error, or to the file ``stdout`` when one is given
    (to tell the two streams apart). ``holds`` are the ports it listens on,
    kept from every other process while it is down (:meth:`restart`), until
    :meth:`stop`.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        workdir: Path,
        ready_env: str | None = None,
        ready_probe: ReadyProbe | None = None,
        listen_env: Mapping[str, str] | None = None,
        ready_timeout: float = 15.0,
        stop_timeout: float = 5.0,
        coverdir: Path | None = None,
        stdout: Path | None = None,
        holds: Sequence[PortHold] = (),
    ) -> None:
        if (ready_env is None) == (ready_probe is None):
            raise ValueError(f"{name}: give exactly one of ready_env (the handshake) and ready_probe")
        self.name = name
        self.argv = list(argv)
        self.workdir = workdir
        self.ready_file = workdir / f"{name}.ready.json"
        self.log_path = workdir / f"{name}.log"
        self.stdout_path = stdout
        self.env = {**env, HARNESS_TAG_ENV: current_run_id()}
        if ready_env is not None:
            self.env[ready_env] = str(self.ready_file)
        self.ready_probe = ready_probe
        self.listen_env = dict(listen_env or {})
        self.coverdir = coverdir
        if coverdir is not None:
            self.env["GOCOVERDIR"] = str(coverdir)
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.addresses: dict[str, str] = {}
        self.returncode: int | None = None
        self.startup_seconds: float | None = None
        self.incarnations: list[Path] = []  # logs of earlier incarnations, oldest first
        self.paused = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._stdout: IO[bytes] | None = None
        self._spawned = 0.0
        self._holds = list(holds)

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._proc.pid

    def start(self, *, pass_fds: Sequence[int] = ()) -> Self:
        """Start the process and wait until it reports ready (:meth:`spawn`, then :meth:`wait_ready`)."""
        return self.spawn(pass_fds=pass_fds).wait_ready()

    def spawn(self, *, pass_fds: Sequence[int] = ()) -> Self:
        """Start the process without waiting for it, so that several start side by side;
        :meth:`wait_ready` waits. ``pass_fds`` are file descriptors it inherits under
        the same numbers, such as a listening socket bound here and named to it as
        ``fd://N``; the caller closes its own copies once the process holds them."""
        if self._proc is not None:
            raise RuntimeError(f"{self.name} was already started")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.coverdir is not None:
            self.coverdir.mkdir(parents=True, exist_ok=True)
        self.ready_file.unlink(missing_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        if self.stdout_path is not None:
            self._stdout = open(self.stdout_path, "ab")  # noqa: SIM115 - closed in stop()
        self._spawned = time.perf_counter()
        argv, preexec = with_parent_death_signal(self.argv)
        try:
            self._proc = subprocess.Popen(
                argv,
                env=self.env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=self._stdout or self._log,
                stderr=self._log if self._stdout is not None else subprocess.STDOUT,
                start_new_session=True,
                pass_fds=tuple(pass_fds),
                preexec_fn=preexec,  # noqa: PLW1509 - None, or only prctl(2)
            )
        except BaseException:
            self._close_files()
            raise
        return self

    def wait_ready(self) -> Self:
        """Wait until the spawned process reports ready; one that exits or times out
        first is stopped and the error raised. :attr:`startup_seconds` counts from the spawn."""
        if self._proc is None:
            raise RuntimeError(f"{self.name} was never spawned")
        try:
            self._await_ready()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - self._spawned
        return self

    def _await_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.ready_timeout
        pause = 0.0005
        while True:
            if (code := self._exit_status()) is not None:
                self.returncode = code
                raise ProcessExitedEarly(name=self.name, argv=self.argv, returncode=code, log_tail=self.log_tail())
            if self.ready_probe is not None:
                if (found := self.ready_probe(self)) is not None:
                    self.addresses = dict(found)
                    return
            else:
                with contextlib.suppress(FileNotFoundError):
                    doc = json.loads(self.ready_file.read_text())
                    if doc.get("pid") != self._proc.pid:
                        raise ProcessError(
                            f"{self.name} ready file names pid {doc.get('pid')}, not {self._proc.pid}",
                            name=self.name,
                            argv=self.argv,
                            log_tail=self.log_tail(),
                        )
                    self.addresses = dict(doc["addresses"])
                    return
            if time.monotonic() >= deadline:
                self.dump_goroutines()
                raise ReadinessTimeout(
                    f"{self.name} was not ready within {self.ready_timeout:.1f}s",
                    name=self.name,
                    argv=self.argv,
                    log_tail=self.log_tail(),
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.001)

    def address(self, name: str) -> str:
        try:
            return self.addresses[name]
        except KeyError:
            raise KeyError(f"{self.name} reported no {name!r} address; it has {sorted(self.addresses)}") from None

    def _exit_status(self) -> int | None:
        """The exit code once the process has exited, without reaping it (:func:`.launch.exit_status`)."""
        return None if self._proc is None else exit_status(self._proc)

    def _wait_exit(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for the process to exit, without reaping it."""
        deadline = time.monotonic() + timeout
        while self._exit_status() is None:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.001)
        return True

    def is_running(self) -> bool:
        return self._proc is not None and self._exit_status() is None

    def dump_goroutines(self, wait: float = 1.0) -> None:
        """Ask a live Go process for a goroutine dump (SIGQUIT); it then exits.
        A paused process is resumed, or the signal would wait for ever."""
        if self.is_running():
            assert self._proc is not None
            self._proc.send_signal(signal.SIGQUIT)
            if self.paused:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self._proc.pid, signal.SIGCONT)
                self.paused = False
            self._wait_exit(wait)

    # ------------------------------------------------------------ faults
    # pause(), resume() and kill(): harness.processes.signals.ProcessSignals

    def restart(self, *, env: Mapping[str, str] | None = None, argv: Sequence[str] | None = None) -> Self:
        """Stop the process if it runs, then start a new incarnation on the
        same addresses (through ``listen_env``), with ``env`` merged into its
        environment and ``argv`` replacing its command line if given. The
        earlier incarnation's log is kept (:attr:`incarnations`); its held ports
        stay held in between, so no other process takes one meanwhile."""
        self.halt()
        self.retire_log()
        for address, var in self.listen_env.items():
            if address in self.addresses:
                self.env[var] = self.addresses[address]
        self.env.update(env or {})
        if argv is not None:
            self.argv = list(argv)
        self._proc = None
        self.returncode = None
        self.startup_seconds = None
        return self.start()

    # ------------------------------------------------------------ stop

    def stop(self) -> int | None:
        """Stop the process (SIGTERM → wait → SIGQUIT → SIGKILL) and let its held
        ports go; idempotent. A paused process is resumed so that it can take the signal.

        Returns the exit code (negative: killed by that signal).
        """
        try:
            return self.halt()
        finally:
            for hold in self._holds:
                hold.close()

    def halt(self) -> int | None:
        """End the process as :meth:`stop` does, its ports still held: it is to come
        back (:meth:`restart`). A fault (:meth:`kill`, :meth:`terminate_and_drain`) halts it."""
        proc = self._proc
        if proc is None:
            return None
        if proc.returncode is None:
            if self._exit_status() is None:
                proc.send_signal(signal.SIGTERM)
                if self.paused:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(proc.pid, signal.SIGCONT)
                    self.paused = False
                if not self._wait_exit(self.stop_timeout):
                    self.dump_goroutines()
            # Still unreaped here, so the group id is ours: anything it spawned goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        self.returncode = proc.wait()
        self._close_files()
        return self.returncode

    def _close_files(self) -> None:
        for file in (self._log, self._stdout):
            if file is not None:
                file.close()
        self._log = self._stdout = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = ("paused" if self.paused else "running") if self.is_running() else f"stopped({self.returncode})"
        return f"<ServiceProcess {self.name} {state} {self.addresses}>"
