from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from harness.processes.service import ProcessError, ProcessExitedEarly, ReadinessTimeout, ServiceProcess, data_races

FAKE = Path(__file__).with_name("fake_service.py")
RACY = Path(__file__).with_name("testdata") / "racy" / "main.go"


def fake(tmp_path: Path, mode: str, *, ready_timeout: float = 15.0, stop_timeout: float = 5.0) -> ServiceProcess:
    return ServiceProcess(
        "fake",
        [sys.executable, str(FAKE)],
        env={"FAKE_MODE": mode, "PATH": os.environ["PATH"]},
        workdir=tmp_path,
        ready_env="FAKE_READY_FILE",
        ready_timeout=ready_timeout,
        stop_timeout=stop_timeout,
    )


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.01)
    return False


def test_start_reads_the_addresses_from_the_ready_file(tmp_path: Path) -> None:
    with fake(tmp_path, "ready") as proc:
        host, port = proc.address("tcp").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=2):
            pass
        assert proc.is_running()
        assert proc.startup_seconds is not None
        assert proc.startup_seconds > 0
    assert proc.returncode == 0, "SIGTERM should end the fake service cleanly"
    assert not proc.is_running()


def test_an_early_exit_fails_at_once_with_exit_code_command_and_log(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ProcessExitedEarly) as info:
        fake(tmp_path, "crash", ready_timeout=30).start()
    assert time.monotonic() - started < 10, "an early exit must not wait for the readiness timeout"
    err = info.value
    assert err.returncode == 3
    assert "exit code 3" in str(err)
    assert str(FAKE) in str(err)
    assert "cannot open configuration" in err.log_tail


def test_a_silent_process_times_out_and_is_killed(tmp_path: Path) -> None:
    proc = fake(tmp_path, "silent", ready_timeout=0.5)
    with pytest.raises(ReadinessTimeout) as info:
        proc.start()
    assert "not ready within 0.5s" in str(info.value)
    assert "mode silent" in info.value.log_tail
    # The process was asked for a goroutine dump before it was killed, and the
    # dump is in the error's log tail: what a person needs to see where it hung.
    assert "goroutine 1 [running]: (fake dump on SIGQUIT)" in info.value.log_tail
    assert not proc.is_running()


def test_a_ready_file_of_another_pid_is_an_error(tmp_path: Path) -> None:
    proc = fake(tmp_path, "wrongpid")
    with pytest.raises(ProcessError, match="names pid"):
        proc.start()
    assert not proc.is_running()


def test_stop_escalates_to_sigkill_and_is_idempotent(tmp_path: Path) -> None:
    proc = fake(tmp_path, "stubborn", stop_timeout=0.3).start()
    started = time.monotonic()
    assert proc.stop() == -signal.SIGKILL
    assert time.monotonic() - started < 5
    assert proc.stop() == -signal.SIGKILL  # again: nothing to do, same answer


def test_stop_kills_the_whole_process_group(tmp_path: Path) -> None:
    proc = fake(tmp_path, "spawn").start()
    child = int(proc.address("child_pid"))
    assert psutil.pid_exists(child)
    proc.stop()
    assert wait_gone(child), "a child of the service outlived stop()"


@pytest.mark.parametrize("setpriv", [True, False], ids=["setpriv", "prctl-in-child"])
def test_a_service_dies_with_its_parent(tmp_path: Path, setpriv: bool) -> None:
    script = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import harness.processes.service
        if not {setpriv}:
            harness.processes.service._SETPRIV = None
        from test_process import fake
        from pathlib import Path
        proc = fake(Path({str(tmp_path)!r}), "ready").start()
        print(proc.pid, flush=True)
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    service_pid = int(parent.stdout.readline())
    parent.stdout.close()
    assert psutil.pid_exists(service_pid)
    parent.kill()
    parent.wait()
    assert wait_gone(service_pid), "the service outlived its SIGKILLed parent"


def test_spawned_processes_start_side_by_side_on_an_inherited_listener(tmp_path: Path) -> None:
    """spawn() returns without waiting (the first never gets ready); a client of the second
    connects before it serves, to the socket bound here and handed over (fd://N), and is
    served once it is ready."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        addr = "{}:{}".format(*listener.getsockname())
        early = socket.create_connection(listener.getsockname(), timeout=5)  # queued: nothing accepts yet
        first = fake(tmp_path / "first", "silent", ready_timeout=1)  # never ready: a spawn that waited would raise
        second = fake(tmp_path / "second", "ready")
        second.env["FAKE_ADDR"] = f"fd://{listener.fileno()}"
        first.spawn()
        second.spawn(pass_fds=[listener.fileno()])
    try:  # our copy of the socket is closed: only the second process holds it
        with early:
            assert second.wait_ready().address("tcp") == addr, "it must serve on the socket it was handed"
            early.sendall(b"queued before it served")
            assert early.recv(100) == b"queued before it served"
        assert second.startup_seconds is not None
        assert first.is_running(), "the first, spawned beside it, runs on while not ready"
        with pytest.raises(ReadinessTimeout):
            first.wait_ready()
    finally:
        first.stop()
        second.stop()
    with pytest.raises(ConnectionRefusedError):  # the handed-over socket went with its process
        socket.create_connection(("127.0.0.1", int(addr.rsplit(":", 1)[1])), timeout=5).close()


def test_wait_ready_needs_a_spawned_process(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="never spawned"):
        fake(tmp_path, "ready").wait_ready()


def test_start_twice_is_refused(tmp_path: Path) -> None:
    with fake(tmp_path, "ready") as proc, pytest.raises(RuntimeError, match="already started"):
        proc.start()


RACE_LOG = """{"level":"INFO","msg":"serving"}
==================
WARNING: DATA RACE
Write at 0x00c000120000 by goroutine 7:
  main.counter()
      /src/main.go:12 +0x44

Previous read at 0x00c000120000 by goroutine 8:
  main.reader()
      /src/main.go:18 +0x3a
==================
{"level":"INFO","msg":"shutting down"}
"""


def test_data_races_are_read_from_the_log(tmp_path: Path) -> None:
    proc = fake(tmp_path, "ready")
    proc.log_path.write_text(RACE_LOG)
    [race] = proc.data_races()
    assert race.startswith("Write at 0x00c000120000 by goroutine 7")
    assert "main.reader()" in race
    assert "shutting down" not in race

    proc.log_path.write_text('{"level":"INFO","msg":"serving"}\n')
    assert proc.data_races() == []


def test_standard_output_goes_to_a_file_of_its_own_when_given(tmp_path: Path) -> None:
    script = "import sys; print('to stdout'); print('to stderr', file=sys.stderr); sys.exit(3)"
    apart = ServiceProcess(
        "apart", [sys.executable, "-c", script], env={}, workdir=tmp_path, ready_env="R", stdout=tmp_path / "out.txt"
    )
    together = ServiceProcess("together", [sys.executable, "-c", script], env={}, workdir=tmp_path, ready_env="R")
    for proc in (apart, together):
        with pytest.raises(ProcessExitedEarly):
            proc.start()

    assert (apart.log_text(), (tmp_path / "out.txt").read_text()) == ("to stderr\n", "to stdout\n")
    assert sorted(together.log_text().splitlines()) == ["to stderr", "to stdout"]


@pytest.mark.parametrize(
    "log",
    [
        '{"msg":"http request","method":"GET","path":"/v1/WARNING: DATA RACE","status":404}\n',
        '{"msg":"note","text":"==================\\nWARNING: DATA RACE\\n=================="}\n',
        "WARNING: DATA RACE\nRead at 0x1 by goroutine 7:\n",  # no separator before it
        "==================\nWARNING: DATA RACE in a sentence\n==================\n",
    ],
    ids=["an access line's path", "a JSON line's text", "no separator before", "not the whole line"],
)
def test_the_marker_text_outside_a_report_is_no_race(log: str) -> None:
    assert data_races(log) == []


def test_log_lines_written_amid_a_report_are_left_out_of_it() -> None:
    log = RACE_LOG.replace("Previous read", '{"level":"INFO","msg":"served"}\nPrevious read')
    log = log.replace("==================\nWARNING", '==================\n{"msg":"x"}\nWARNING', 1)
    [race] = data_races(log)
    assert race.startswith("Write at 0x00c000120000 by goroutine 7")
    assert "served" not in race
    assert "main.reader()" in race


@pytest.fixture(scope="module")
def racy_log(tmp_path_factory: pytest.TempPathFactory) -> str:
    """What testdata/racy, built with -race, writes to stderr: one race report
    among JSON log lines, two of which hold the report's marker text."""
    out = tmp_path_factory.mktemp("racy")
    subprocess.run(
        ["go", "build", "-race", "-o", str(out / "racy"), str(RACY)],
        cwd=out,
        env={**os.environ, "GOWORK": "off"},
        check=True,
        capture_output=True,
        timeout=100,
    )
    done = subprocess.run([str(out / "racy")], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 66, f"the race detector reported nothing (exit {done.returncode}):\n{done.stderr}"
    return done.stderr


def test_a_race_build_s_report_is_found_and_the_marker_in_its_log_lines_is_not(racy_log: str) -> None:
    json_lines = [line for line in racy_log.splitlines() if line.startswith("{")]
    assert sum("WARNING: DATA RACE" in line for line in json_lines) == 2, racy_log
    [race] = data_races(racy_log)
    assert race.startswith(("Read at", "Write at")), race
    assert "Previous write at" in race
    assert "main.main.func1()" in race
    assert not any(line in race for line in json_lines)
