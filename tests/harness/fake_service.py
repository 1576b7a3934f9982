"""A stand-in service process for the harness's own tests.

In mode "relay" it is a small HTTP service that calls Redis and its upstream
(another fake) for each request and logs it as the galaxy services do, so a
declared topology of fakes has hops to trace (:func:`_relay`).

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


def _relay() -> None:
    """FAKE_MODE=relay: serve HTTP GET as FAKE_NAME. Each request counts itself in Redis
    (``INCR <FAKE_REDIS_PREFIX><name>:hits`` at FAKE_REDIS_URL) and, when FAKE_UPSTREAM
    (``http://host:port``) is set, asks the fake there for the same path, passing the W3C trace
    on; the answer is JSON: this fake's name, its count, the path of its own program
    (``source``) and the upstream's answer. A dependency that fails makes the answer
    502, its ``error`` naming it. Each request logs one JSON line as the galaxy services
    do (``"msg": "http request"``: method, path, status, duration_ms, trace_id,
    span_id and the caller's address, ``peer``)."""
    import http.client
    import secrets
    from datetime import UTC, datetime
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    name = os.environ["FAKE_NAME"]
    upstream = os.environ.get("FAKE_UPSTREAM", "").removeprefix("http://").rstrip("/") or None
    key = os.environ.get("FAKE_REDIS_PREFIX", "") + f"{name}:hits"
    store = redis.Redis.from_url(
        os.environ["FAKE_REDIS_URL"], socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 1)
    )
    lock = threading.Lock()

    def log(**record: object) -> None:
        now = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        with lock:
            print(json.dumps({"time": now, "level": "INFO", "service": name, **record}), file=sys.stderr, flush=True)

    def ask_upstream(path: str, traceparent: str) -> tuple[int, dict[str, object]]:
        assert upstream is not None
        host, _, port = upstream.rpartition(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)  # generous: a loaded machine is slow, not down
        try:
            conn.request("GET", path, headers={"traceparent": traceparent})
            answer = conn.getresponse()
            return answer.status, json.loads(answer.read())
        finally:
            conn.close()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            started = time.perf_counter()
            parts = (self.headers.get("traceparent") or "").split("-")
            trace_id = parts[1] if len(parts) == 4 and len(parts[1]) == 32 else secrets.token_hex(16)
            span_id = secrets.token_hex(8)
            status = 200
            body: dict[str, object] = {"service": name, "source": os.path.abspath(__file__), "upstream": None}
            try:
                body["hits"] = store.incr(key)
            except redis.RedisError as exc:
                status, body = 502, {"service": name, "error": f"redis unavailable: {exc}"}
            if status == 200 and upstream:
                try:
                    up_status, body["upstream"] = up = ask_upstream(self.path, f"00-{trace_id}-{span_id}-01")
                except (OSError, ValueError) as exc:
                    status, body = 502, {"service": name, "error": f"upstream {upstream} unavailable: {exc}"}
                else:
                    if up_status != 200:
                        cause = f"upstream {upstream} answered {up_status}: {up[1].get('error')}"
                        status, body = 502, {"service": name, "error": cause}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            log(
                msg="http request", method="GET", path=self.path, status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
                trace_id=trace_id, span_id=span_id, peer="{}:{}".format(*self.client_address),
            )  # fmt: skip

        def log_message(self, format: str, *args: object) -> None:
            pass  # one JSON line per request instead

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = listener
    server.daemon_threads = True
    log(msg="serving", address=f"127.0.0.1:{listener.getsockname()[1]}")
    server.serve_forever()


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
threading.Thread(target=_relay if mode == "relay" else _serve, daemon=True).start()
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
