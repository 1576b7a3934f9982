"""A process of its own for the in-memory Redis stand-ins (fakeredis).

fakeredis is pure Python. Served from a thread of the test process, every
command it answers waits for the interpreter lock that the test's clients,
the HTTP stubs and their threads also hold; on a machine whose cores are all
busy a service's Redis call then stalls for seconds, longer than any
deadline the services are given. So the servers run here, in a process
whose lock nothing else wants, and the test process drives them over a
control connection (JSON lines on loopback TCP):

    {"op": "serve"}                          -> {"ok": true, "id": 1, "port": 40123}
    {"op": "kill", "id": 1}                  -> {"ok": true}   port closed (still held), connections cut, data kept
    {"op": "pause" | "resume", "id": 1}      -> {"ok": true}   connections held, nothing answered
    {"op": "restart", "id": 1, "keep_data": false} -> {"ok": true}   same port, data kept or dropped
    {"op": "stop", "id": 1}                  -> {"ok": true}   gone for good
    {"op": "commands", "id": 1}              -> {"ok": true, "commands": [...], "dropped": 0}

Each server records the commands it is sent, in a ring buffer of the last
``record`` of them (``{"op": "serve", "record": 0}`` records none): for each
the time it arrived (seconds since the epoch), the client's address, its
first words (each cut short), how long it took, the error it was answered
with, if any, and its answer in short (``reply_summary``: ``empty`` for a
missing key's HGETALL, ``nil`` for its GET). ``commands`` returns them, oldest first, with the count of
those the ring had no room for.

Each server has its own keyspace. The host serves one controller, and exits
when that connection closes (the test process ended, however it ended).

Run as ``python -m harness.redis.fakeredis_host``; it reports its control address
through the harness's ready-file handshake (``FAKEREDIS_HOST_READY_FILE``).
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from harness.processes.ports import PortHold
from harness.redis.commands import RECORDED_WORD_CHARS, RECORDED_WORDS, reply_summary, with_more

__all__ = ["DEFAULT_RECORD", "READY_ENV", "main"]

READY_ENV = "FAKEREDIS_HOST_READY_FILE"

_READ_SIZE = 64 * 1024

DEFAULT_RECORD = 5000
"""Commands each server keeps by default (its ring buffer's size)."""


def _settle(queued: list[list[Any]], record: list[Any], command: bytes, reply: Any, failed: bool) -> None:
    """Keep the record of a command a transaction queued until the transaction
    ends, then say in it what the command did: EXEC's answer for it, or that
    it was discarded (DISCARD, a refused EXEC, or a nil EXEC: a watched key
    changed). So a write shown ``queued`` is known to have been applied, or not."""
    if command in (b"EXEC", b"DISCARD"):
        results = reply if command == b"EXEC" and not failed and isinstance(reply, list) else None
        for i, held in enumerate(queued):
            if results is not None and i < len(results):
                outcome = reply_summary(results[i])
            elif command == b"EXEC" and not failed and reply is None:
                outcome = "discarded: a watched key changed"
            else:
                outcome = f"discarded by {command.decode()}" + (" (refused)" if failed else "")
            held[5] = f"queued, then {outcome}"
        queued.clear()
    elif not failed and reply in (b"QUEUED", "QUEUED"):
        queued.append(record)


class _Recorder:
    """The last ``size`` commands of one server: ``[time, client, words, seconds, error, reply]`` each."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.commands: collections.deque[list[Any]] = collections.deque(maxlen=size)
        self.seen = 0

    def wrap(self, sock: Any, client: str) -> None:
        """Record every command ``sock`` (a fakeredis socket of one connection) processes.
        Its ``_process_command`` is the one place every command of a connection
        passes through, a transaction's and a script's included; the reply of
        each goes out through ``put_response``, where an error shows and the
        answer is summed up."""
        process: Callable[[list[bytes]], None] = sock._process_command
        put: Callable[[Any], None] = sock.put_response
        errors: list[str] = []
        replies: list[Any] = []
        queued: list[list[Any]] = []  # the records of the commands the open transaction holds

        def put_response(msg: Any) -> None:
            if isinstance(msg, Exception):
                errors.append(str(msg.args[0] if msg.args else msg)[:RECORDED_WORD_CHARS])
            else:
                replies.append(msg)
            put(msg)

        def process_command(fields: list[bytes]) -> None:
            at = time.time()
            started = time.perf_counter()
            errors.clear()
            replies.clear()
            try:
                process(fields)
            finally:
                shown = [f[:RECORDED_WORD_CHARS].decode("utf-8", "replace") for f in fields[:RECORDED_WORDS]]
                words = with_more(shown, len(fields))
                self.seen += 1
                error = errors[0] if errors else None
                answered = error is None and bool(replies)
                record = [at, client, words, time.perf_counter() - started, error, None]
                if answered:
                    record[5] = reply_summary(replies[0])
                self.commands.append(record)
                command = fields[0].upper() if fields else b""
                _settle(queued, record, command, replies[0] if answered else None, error is not None)

        sock.put_response = put_response
        sock._process_command = process_command

    def answer(self) -> dict[str, Any]:
        listed = list(self.commands)
        return {"commands": listed, "dropped": self.seen - len(listed)}


class _Gate:
    """A connection's read side that blocks while the server is paused, so
    a paused server reads (and so answers) nothing, as a frozen one would.

    fakeredis's handler asks it for a line at a time and feeds each to its
    command parser, which takes any piece of the stream: so it is handed
    all that has arrived instead, and a command of seven RESP lines (or a
    whole pipeline) costs one pass through the handler rather than seven.
    Like ``readline`` on the non-blocking socket, it gives ``b""`` when
    nothing has arrived and at the end of the stream."""

    def __init__(self, rfile: Any, resumed: threading.Event) -> None:
        self._rfile = rfile
        self._resumed = resumed

    def readline(self, *args: Any) -> bytes:
        self._resumed.wait()
        data: bytes = self._rfile.read1(_READ_SIZE)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rfile, name)


class _FakeServer:
    """One fakeredis TCP server on 127.0.0.1, with state of its own; a
    restart binds the same port again, held for it meanwhile."""

    def __init__(self, record: int = DEFAULT_RECORD) -> None:
        self.recorder = _Recorder(record)
        self._resumed = threading.Event()
        self._resumed.set()
        self._keyspace: Any = None  # fakeredis's FakeServer: the data, kept across a restart
        self._hold = PortHold()
        self.port = self._hold.port
        self._server: Any = None
        self._serve()

    def _serve(self) -> None:
        import fakeredis._clients._tcp_server as tcp
        from fakeredis import TcpFakeServer

        # Each connection's thread polls its socket this often while idle (a
        # select that returns at once when data arrives, so no command waits
        # on it). fakeredis's 10 ms makes dozens of idle pooled connections
        # wake thousands of times a second, taking the interpreter lock from
        # the connections that have work.
        tcp._POLL_INTERVAL = max(tcp._POLL_INTERVAL, 0.25)

        resumed = self._resumed
        recorder = self.recorder

        class _Server(TcpFakeServer):
            def __init__(self, addr: tuple[str, int]) -> None:
                super().__init__(addr)
                self.connections: set[socket.socket] = set()

                class _Handler(self.RequestHandlerClass):  # type: ignore[name-defined,misc]
                    def setup(self) -> None:
                        try:
                            super().setup()
                        except OSError:
                            # The peer reset the connection as it came in (a fault
                            # proxy does): fakeredis's setup fails after opening the
                            # socket's files, and finish() never runs to close them.
                            for f in (getattr(self, "wfile", None), getattr(self, "rfile", None)):
                                with contextlib.suppress(Exception):
                                    f.close()  # type: ignore[union-attr]
                            raise
                        self.rfile = _Gate(self.rfile, resumed)  # type: ignore[has-type]  # set by the base
                        if recorder.size:
                            host, port = self.client_address[:2]
                            recorder.wrap(self.current_client.get_socket(), f"{host}:{port}")

                self.RequestHandlerClass = _Handler

            def get_request(self) -> tuple[socket.socket, Any]:
                # The server answers a pipeline (MULTI ... EXEC) with one small
                # write per command; without TCP_NODELAY, Nagle's algorithm and
                # the client's delayed ACK stall each transaction by ~40 ms.
                sock, addr = super().get_request()
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.connections.add(sock)
                return sock, addr

            def shutdown_request(self, request: Any) -> None:
                self.connections.discard(request)
                super().shutdown_request(request)

            def handle_error(self, request: Any, client_address: Any) -> None:
                if not isinstance(sys.exc_info()[1], OSError):  # a peer that vanished is no error of ours
                    super().handle_error(request, client_address)

        server = _Server(("127.0.0.1", self.port))
        server.daemon_threads = True
        server.block_on_close = False
        if self._keyspace is None:
            self._keyspace = server.fake_server
        else:
            server.fake_server = self._keyspace
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.005}, name=f"fakeredis:{self.port}", daemon=True
        )
        self._thread.start()

    def kill(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._resumed.set()  # let paused handlers see their sockets close
        server.shutdown()
        server.server_close()
        for sock in list(server.connections):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    def stop(self) -> None:
        """Stop serving for good: the port is let go."""
        self.kill()
        self._hold.close()

    def pause(self) -> None:
        self._resumed.clear()

    def resume(self) -> None:
        self._resumed.set()

    def restart(self, *, keep_data: bool) -> None:
        self.kill()
        if not keep_data:
            self._keyspace = None
        self._serve()


def _answer(servers: dict[int, _FakeServer], request: dict[str, Any], ids: Iterator[int]) -> dict[str, Any]:
    op = request.get("op")
    ident: Any = request.get("id")
    if op == "serve":
        ident = next(ids)
        servers[ident] = _FakeServer(int(request.get("record", DEFAULT_RECORD)))
        return {"ok": True, "id": ident, "port": servers[ident].port}
    server = servers.get(ident) if isinstance(ident, int) else None
    if server is None:
        return {"ok": False, "error": f"no server {ident!r}"}
    if op == "kill":
        server.kill()
    elif op == "pause":
        server.pause()
    elif op == "resume":
        server.resume()
    elif op == "restart":
        server.restart(keep_data=bool(request.get("keep_data")))
    elif op == "stop":
        server.stop()
        del servers[ident]
    elif op == "commands":
        return {"ok": True, **server.recorder.answer()}
    else:
        return {"ok": False, "error": f"unknown op {op!r}"}
    return {"ok": True}


def _write_ready(path: str, control: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump({"pid": os.getpid(), "addresses": {"control": control}}, f)
    os.replace(tmp, path)


def main() -> int:
    ready = os.environ.get(READY_ENV)
    if not ready:
        print(f"{READY_ENV} is not set: this process is started by harness.redis.backends", file=sys.stderr)
        return 2
    import fakeredis  # noqa: F401  # loaded before reporting ready, so the first server starts at once

    listener = socket.create_server(("127.0.0.1", 0))
    _write_ready(ready, f"127.0.0.1:{listener.getsockname()[1]}")
    conn, _ = listener.accept()
    listener.close()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    servers: dict[int, _FakeServer] = {}
    ids = itertools.count(1)
    with conn, conn.makefile("rb") as reader, conn.makefile("wb") as writer:
        for line in reader:
            try:
                answer = _answer(servers, json.loads(line), ids)
            except Exception as exc:  # a bad request is answered, not fatal
                answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            writer.write(json.dumps(answer).encode() + b"\n")
            writer.flush()
    for server in servers.values():
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
