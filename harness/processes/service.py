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
configuration. Each incarnation keeps its own log.

The parent-death signal fires when the *thread* that started the process
exits, so start services from a long-lived thread (pytest's main thread).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from harness.processes.sweep import HARNESS_TAG_ENV, current_run_id

__all__ = [
    "RACE_MARKER",
    "RACE_SEPARATOR",
    "ProcessError",
    "ProcessExitedEarly",
    "ReadinessTimeout",
    "ReadyProbe",
    "ServiceProcess",
    "data_races",
    "describe_returncode",
]

_PR_SET_PDEATHSIG = 1
_SETPRIV = shutil.which("setpriv")


def _child_setup() -> None:  # runs in the child between fork and exec
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _all_threads_stopped(pid: int) -> bool:
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


def _with_parent_death_signal(argv: list[str]) -> tuple[list[str], Callable[[], None] | None]:
    """The command line and child hook that give the process a parent-death
    signal. util-linux's ``setpriv`` sets it and execs the binary (same pid),
    which lets Python spawn without a ``preexec_fn`` and so use vfork: several
    milliseconds less per process. Without setpriv, a ``preexec_fn`` calls prctl(2)."""
    if _SETPRIV:
        return [_SETPRIV, "--pdeathsig", "KILL", "--", *argv], None
    return argv, _child_setup


class ProcessError(RuntimeError):
    """A service process misbehaved; carries its command line and log tail."""

    def __init__(self, message: str, *, name: str, argv: Sequence[str], log_tail: str) -> None:
        super().__init__(f"{message}\n  command: {' '.join(argv)}\n  log tail:\n{_indent(log_tail)}")
        self.name = name
        self.argv = list(argv)
        self.log_tail = log_tail


class ProcessExitedEarly(ProcessError):
    """The process exited before it was ready."""

    def __init__(self, *, name: str, argv: Sequence[str], returncode: int, log_tail: str) -> None:
        super().__init__(
            f"{name} exited before it was ready: {describe_returncode(returncode)}",
            name=name,
            argv=argv,
            log_tail=log_tail,
        )
        self.returncode = returncode


class ReadinessTimeout(ProcessError):
    """The process did not write its ready file in time."""


RACE_SEPARATOR = "=================="
RACE_MARKER = "WARNING: DATA RACE"


def _log_record(line: str) -> bool:
    """Whether ``line`` is a structured log line (a JSON object), which no race report line is."""
    return line.startswith("{") and line.endswith("}")


def data_races(log: str) -> list[str]:
    """The Go race detector's reports in one process's ``log``, one string each.

    The detector writes a report to stderr as plain lines of its own: a
    separator line, the line ``WARNING: DATA RACE``, the accesses and the
    goroutines, a separator line again. Only that shape is a report: a log
    line that holds the marker's text (an access line whose path holds it)
    is none. Log lines another goroutine writes between the report's lines
    are left out of it; a report cut short by the process's end is kept as far
    as it goes."""
    lines = log.splitlines()
    reports: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i] == RACE_MARKER and _opens_report(lines, i):
            body: list[str] = []
            i += 1
            while i < len(lines) and lines[i] != RACE_SEPARATOR:
                if not _log_record(lines[i]):
                    body.append(lines[i])
                i += 1
            reports.append("\n".join(body).strip())
        i += 1
    return reports


def _opens_report(lines: list[str], marker: int) -> bool:
    """Whether the marker line at ``marker`` follows a separator line (log lines aside)."""
    before = marker - 1
    while before >= 0 and _log_record(lines[before]):
        before -= 1
    return before >= 0 and lines[before] == RACE_SEPARATOR


def describe_returncode(returncode: int) -> str:
    if returncode < 0:
        return f"killed by signal {signal.Signals(-returncode).name}"
    return f"exit code {returncode}"


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines()) or "    (empty)"


ReadyProbe = Callable[["ServiceProcess"], "dict[str, str] | None"]
"""Readiness of a binary without the ready-file handshake: its addresses once it serves, else None."""


class ServiceProcess:
    """One supervised service process.

    ``ready_file`` is passed to the binary through ``ready_env`` (for example
    ``ORDERS_READY_FILE``); ``addresses`` holds what it reported. A binary
    without the handshake gets ``ready_probe`` instead. ``listen_env`` maps
    an address name to the variable that sets it (``{"grpc":
    "ORDERS_GRPC_ADDR"}``), for :meth:`restart`. With ``coverdir`` (a
    ``-cover`` build), the process writes its coverage counters there
    (``GOCOVERDIR``) when it exits cleanly.
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
    ) -> None:
        if (ready_env is None) == (ready_probe is None):
            raise ValueError(f"{name}: give exactly one of ready_env (the handshake) and ready_probe")
        self.name = name
        self.argv = list(argv)
        self.workdir = workdir
        self.ready_file = workdir / f"{name}.ready.json"
        self.log_path = workdir / f"{name}.log"
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
        self._spawned = 0.0

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
        self._spawned = time.perf_counter()
        argv, preexec = _with_parent_death_signal(self.argv)
        try:
            self._proc = subprocess.Popen(
                argv,
                env=self.env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=tuple(pass_fds),
                preexec_fn=preexec,  # noqa: PLW1509 - None, or only prctl(2)
            )
        except BaseException:
            self._log.close()
            self._log = None
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
        """The exit code once the process has exited, without reaping it.

        The process stays a zombie until :meth:`stop` reaps it, so its pid
        (and process-group id) cannot be reused before the group is killed.
        """
        proc = self._proc
        if proc is None:
            return None
        if proc.returncode is not None:
            return proc.returncode
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if info is None:
            return None
        return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status

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

    def _signal_group(self, sig: signal.Signals) -> None:
        if not self.is_running():
            raise RuntimeError(f"{self.name} is not running ({self!r})")
        assert self._proc is not None
        os.killpg(self._proc.pid, sig)

    def pause(self, timeout: float = 5.0) -> None:
        """Freeze the process and its group (SIGSTOP): it holds its sockets
        open and answers nothing, like a hung peer, until :meth:`resume`.

        Returns once every thread of the process has stopped: the signal
        takes effect asynchronously, and on a busy machine a thread already
        running can serve a request in the meantime."""
        self._signal_group(signal.SIGSTOP)
        self.paused = True
        deadline = time.monotonic() + timeout
        while not _all_threads_stopped(self.pid):
            if time.monotonic() >= deadline:
                raise ProcessError(
                    f"{self.name} was not stopped {timeout:.1f}s after SIGSTOP",
                    name=self.name,
                    argv=self.argv,
                    log_tail=self.log_tail(),
                )
            time.sleep(0.0002)

    def resume(self) -> None:
        """Let a paused process run again (SIGCONT)."""
        self._signal_group(signal.SIGCONT)
        self.paused = False

    def kill(self) -> int:
        """Kill the process group at once (SIGKILL), as a crash would; returns the exit code."""
        self._signal_group(signal.SIGKILL)
        self.paused = False
        code = self.stop()
        assert code is not None
        return code

    def restart(self, *, env: Mapping[str, str] | None = None, argv: Sequence[str] | None = None) -> Self:
        """Stop the process if it runs, then start a new incarnation on the
        same addresses (through ``listen_env``), with ``env`` merged into its
        environment and ``argv`` replacing its command line if given. The
        earlier incarnation's log is kept (:attr:`incarnations`)."""
        self.stop()
        if self.log_path.exists():
            retired = self.log_path.with_name(f"{self.name}.{len(self.incarnations) + 1}.log")
            self.log_path.rename(retired)
            self.incarnations.append(retired)
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
        """Stop the process (SIGTERM → wait → SIGQUIT → SIGKILL); idempotent.
        A paused process is resumed so that it can take the signal.

        Returns the exit code (negative: killed by that signal).
        """
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
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.returncode

    def log_text(self) -> str:
        """The log of the current (or last) incarnation."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def logs(self) -> list[tuple[str, str]]:
        """Each incarnation's log by its name, oldest first (the current one last)."""
        parts = [(path.name, path.read_text(errors="replace")) for path in self.incarnations if path.exists()]
        return [*parts, (self.log_path.name + " (current)" * bool(self.incarnations), self.log_text())]

    def all_logs_text(self) -> str:
        """The logs of every incarnation, oldest first, each under a header
        once there was more than one."""
        if not self.incarnations:
            return self.log_text()
        return "".join(f"--- {name}\n{text}" for name, text in self.logs())

    def data_races(self) -> list[str]:
        """The race detector's reports in every incarnation's log (``-race`` builds), one string each."""
        return [race for _, log in self.logs() for race in data_races(log)]

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = ("paused" if self.paused else "running") if self.is_running() else f"stopped({self.returncode})"
        return f"<ServiceProcess {self.name} {state} {self.addresses}>"
