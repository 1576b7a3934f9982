"""A stand-in service process for the harness's own tests.

Behaviour is chosen by FAKE_MODE: "ready" (write the ready file, wait for
SIGTERM, exit 0), "crash" (log and exit 3), "silent" (never get ready),
"stubborn" (ready, but ignores SIGTERM and SIGQUIT), "spawn" (ready, with a
child process in its group), "wrongpid" (ready file names another pid).
It listens on FAKE_ADDR (host:port, or fd://N for an inherited listening
socket) if set, else on a port of its choosing, and echoes what a connection sends.

With FAKE_DRAIN_MS set, SIGTERM starts a drain: the listener stays open for
FAKE_STILL_READY_MS (default 0), then closes (new connections are refused:
not ready), and FAKE_DRAIN_MS later the process exits with FAKE_EXIT_CODE
(default 0); connections already open keep being served meanwhile.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

mode = os.environ.get("FAKE_MODE", "ready")
ready_file = os.environ["FAKE_READY_FILE"]
print(f"fake service starting in mode {mode}", file=sys.stderr, flush=True)

if mode == "crash":
    print("fatal: cannot open configuration", file=sys.stderr, flush=True)
    sys.exit(3)

addr = os.environ.get("FAKE_ADDR", "127.0.0.1:0")
if addr.startswith("fd://"):  # an inherited listening socket, as the services take one
    listener = socket.socket(fileno=int(addr.removeprefix("fd://")))
else:
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    host, _, port = addr.rpartition(":")
    listener.bind((host, int(port)))
    listener.listen()


_SIGNALS = {signal.SIGTERM, signal.SIGQUIT, signal.SIGINT}


def _echo(conn: socket.socket) -> None:
    with conn:
        try:
            while data := conn.recv(4096):
                conn.sendall(data)
        except OSError:
            pass  # a reset connection ends only itself


def _serve() -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return  # the listener was closed by a drain
        threading.Thread(target=_echo, args=(conn,), daemon=True).start()


def _drain(*_: object) -> None:
    time.sleep(int(os.environ.get("FAKE_STILL_READY_MS", "0")) / 1000)
    listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread; connects are refused from now
    listener.close()
    print("draining", file=sys.stderr, flush=True)
    time.sleep(int(os.environ["FAKE_DRAIN_MS"]) / 1000)
    sys.exit(int(os.environ.get("FAKE_EXIT_CODE", "0")))


# Signals must reach the main thread (Python runs handlers only there; one
# taken by another thread would leave the main thread asleep): the threads
# inherit a mask that blocks them.
signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
threading.Thread(target=_serve, daemon=True).start()
signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
addresses = {"tcp": f"127.0.0.1:{listener.getsockname()[1]}"}
if mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)
else:
    signal.signal(signal.SIGTERM, _drain if "FAKE_DRAIN_MS" in os.environ else lambda *_: sys.exit(0))

    def _dump(*_: object) -> None:  # like a Go binary: dump the goroutines, exit 2
        print("goroutine 1 [running]: (fake dump on SIGQUIT)", file=sys.stderr, flush=True)
        os._exit(2)

    signal.signal(signal.SIGQUIT, _dump)
if mode == "spawn":
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    addresses["child_pid"] = str(child.pid)

if mode != "silent":
    pid = os.getpid() + (1 if mode == "wrongpid" else 0)
    tmp = ready_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"service": "fake", "pid": pid, "addresses": addresses}, f)
    os.rename(tmp, ready_file)

while True:
    time.sleep(3600)
