"""Stateful in-process HTTP stubs: the shared base.

An :class:`HttpStub` is a threaded ``pytest_httpserver.HTTPServer`` on
``127.0.0.1`` and a port held for it (:class:`~harness.processes.ports.PortHold`:
a stub stopped and started again serves on the same port, which no other
process takes meanwhile; :meth:`~HttpStub.close` lets it go), serving through the library's own
machinery: a route (:meth:`HttpStub._route`) is a request handler matched by
method and path; ``server.log`` is the request log; a request no handler
takes gets ``no_handler_status_code`` (404), or 405 when a route has its path;
the server's handler errors and assertions keep what :meth:`~HttpStub.check`
raises; :meth:`~HttpStub.reset` clears them and the log. A route handler gets
the parsed :class:`RecordedRequest` and returns a :class:`Reply`.

Hand-written, each because the library lacks it: the faults of
:mod:`harness.stubs.faults`, applied before the handlers (a delay that
``stop()`` and ``reset()`` cut short, a drop that writes no byte); a check
failing with every contract violation at once, where ``check_assertions``
raises one per call; :class:`RecordedRequest` and :meth:`~HttpStub.format_log`,
as werkzeug's request and response tell neither the faults applied nor the
stub's note, nor read well in a report.

``pytest_httpserver`` and ``werkzeug`` are imported when a stub is built, so
importing this module costs next to nothing.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, cast

from harness.processes.ports import HOST, PortHold
from harness.stubs.faults import Fault, FaultKind, FaultPlan, PathSpec

if TYPE_CHECKING:
    from typing import Self

    from pytest_httpserver import HTTPServer
    from werkzeug import Request, Response

__all__ = ["Fault", "FaultKind", "HttpStub", "PathSpec", "RecordedRequest", "Reply", "RouteHandler"]
__all__ += ["json_reply", "problem_reply"]

_RECORD = "harness.stubs.server.record"  # the WSGI environ key of a request's RecordedRequest
_MAX_BODY_IN_LOG = 2000
_SHUTDOWN_POLL_SECONDS = 0.005


@dataclass(frozen=True)
class RecordedRequest:
    """One request the stub received, and what became of it.

    ``headers`` has lower-cased names. ``json`` is the parsed body, or None
    when the body is empty or not JSON, or names a key twice in one object,
    which one parser reads one way and another another (then ``json_error``
    says why).
    ``status`` is the answer's status, None when no answer was written (the
    connection was dropped). ``fault`` describes the faults applied, ``note``
    why the stub rejected the request or how stub code failed. ``at`` is when
    it arrived (``time.time()``), ``duration`` how long the stub took to answer.
    """

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    json: Any
    json_error: str | None
    status: int | None = None
    fault: str | None = None
    note: str | None = None
    duration: float = 0.0
    at: float = 0.0

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (any case), or None."""
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class Reply:
    """What a route handler answers; a ``violation`` text makes :meth:`HttpStub.check` fail."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    violation: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    """Header fields besides ``Content-Type``."""


def json_reply(status: int, payload: Any) -> Reply:
    """A reply whose body is ``payload`` as JSON."""
    return Reply(status, json.dumps(payload).encode())


def problem_reply(status: int, detail: str, *, code: str | None = None, violation: bool = False) -> Reply:
    """An RFC 9457 problem reply, with the stable ``code`` of ``contracts/errors.md`` when given;
    with ``violation`` it also counts as a contract violation."""
    title = HTTPStatus(status).phrase if status in HTTPStatus.__members__.values() else f"Status {status}"
    problem = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if code is not None:
        problem["code"] = code
    body = json.dumps(problem).encode()
    return Reply(status, body, "application/problem+json", violation=detail if violation else None)


RouteHandler: TypeAlias = Callable[[RecordedRequest, "re.Match[str]"], Reply]
"""A route handler: the request and the match of the route's path pattern."""


class HttpStub:
    """A stateful HTTP stub served from background threads; see the module docstring.

    Subclasses set :attr:`name`, add routes in ``__init__`` with :meth:`_route` and clear
    their state in :meth:`_reset_state`, under :attr:`_lock` (requests are served concurrently).
    """

    name: str = "http stub"
    """How the stub names itself in logs and failure messages."""

    def __init__(self, *, host: str = HOST, port: int = 0) -> None:
        self._lock = threading.RLock()
        self._hold = PortHold() if (host, port) == (HOST, 0) else None  # a port given is the caller's to keep
        self._server = _server_type()(self, host, self._hold.port if self._hold is not None else port)
        self._faults = FaultPlan()
        self._wake = threading.Event()  # set to cut the delays in flight short; replaced by start() and reset()

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        """Start serving (no-op when running); returns self. A restart serves on the same address."""
        with self._lock:
            if not self._server.is_running():
                self._wake = threading.Event()
                self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving, the port still held for a later :meth:`start`; idempotent.
        In-flight delayed requests are dropped at once."""
        with self._lock:
            if self._server.is_running():
                self._wake.set()
                self._server.stop()

    def close(self) -> None:
        """Stop serving for good, and let the port go; idempotent."""
        self.stop()
        if self._hold is not None:
            self._hold.close()

    @property
    def running(self) -> bool:
        """Whether the stub is serving."""
        return bool(self._server.is_running())

    @property
    def url(self) -> str:
        """The base URL, like ``http://127.0.0.1:40123`` (no trailing slash)."""
        if not self.running:
            raise RuntimeError(f"{self.name} is not running")
        return str(self._server.url_for("")).rstrip("/")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url if self.running else 'stopped'}>"

    # ----------------------------------------------------------------- state, log, errors

    def reset(self) -> None:
        """Forget the stub's data, the request log, faults, violations and pending errors, and drop the
        delayed requests in flight; call :meth:`check` first to have the errors reported."""
        with self._lock:
            self._wake.set()
            self._wake = threading.Event()
            self._faults.clear()
            self._server.clear_log()
            self._server.clear_assertions()
            self._server.clear_handler_errors()
            self._reset_state()

    def _reset_state(self) -> None:
        """Clear the subclass's own state; called by :meth:`reset` under :attr:`_lock`."""

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received so far, oldest first (a copy)."""
        return [request.environ[_RECORD] for request, _ in self._server.log]

    @property
    def violations(self) -> list[str]:
        """Contract violations not yet reported by :meth:`check` (a copy)."""
        return [a for a in self._server.assertions if isinstance(a, str)]

    def check(self) -> None:
        """Raise, in the calling thread, one thing that went wrong in the server threads: an exception
        stub code raised (as is, the oldest first), else an ``AssertionError`` listing every contract
        violation (then forgotten), else an ``AssertionError`` stub code raised."""
        self._server.check_handler_errors()
        with self._lock:
            violations = self.violations
            self._server.assertions = [a for a in self._server.assertions if not isinstance(a, str)]
        if violations:
            summary = f"{self.name} received {len(violations)} request(s) breaking its contract:"
            raise AssertionError(summary + "".join(f"\n  - {v}" for v in violations) + f"\n\n{self.format_log()}")
        self._server.check_assertions()

    def format_log(self) -> str:
        """The request log, violations and active faults as readable text."""
        log = self.requests
        where = str(self._server.url_for("")).rstrip("/") if self._server.port else "never started"
        lines = [f"{self.name} at {where}: {len(log)} request(s)"]
        for number, rec in enumerate(log, 1):
            status = "no response (connection dropped)" if rec.status is None else rec.status
            target = rec.path + (f"?{rec.query}" if rec.query else "")
            lines.append(f"#{number} {rec.method} {target} -> {status} in {rec.duration * 1000:.0f} ms")
            lines.extend(f"    {what}: {text}" for what, text in (("fault", rec.fault), ("note", rec.note)) if text)
            lines.append("    headers: " + "; ".join(f"{name}: {value}" for name, value in rec.headers.items()))
            if rec.body:
                text = rec.body.decode("utf-8", errors="replace")
                cut = f"{text[:_MAX_BODY_IN_LOG]}... ({len(rec.body)} bytes)" if len(text) > _MAX_BODY_IN_LOG else text
                lines.append(f"    body: {cut}")
        faults = [fault.describe() for fault in self.faults]
        for title, items in (("contract violations", self.violations), ("active faults", faults)):
            if items:
                lines += [f"{title}:", *(f"  - {item}" for item in items)]
        return "\n".join(lines)

    # ----------------------------------------------------------------- faults

    def fail_with(self, status: int, body: Any = None, *, times: int | None = 1, path: PathSpec | None = None) -> Fault:
        """Answer ``status`` with ``body`` as JSON (default: a problem document) instead of the stub."""
        reply = problem_reply(status, f"fault injected by {self.name}") if body is None else json_reply(status, body)
        fault = Fault(FaultKind.STATUS, times, path, status=status, body=reply.body, content_type=reply.content_type)
        return self._faults.add(fault)

    def delay(self, seconds: float, *, times: int | None = 1, path: PathSpec | None = None) -> Fault:
        """Hold the request ``seconds``, then go on to the next matching fault, if any, else to the
        stub's own answer; :meth:`stop` and :meth:`reset` cut it short and drop the connection."""
        return self._faults.add(Fault(FaultKind.DELAY, times, path, seconds=seconds))

    def malformed(
        self,
        kind: Literal["invalid_json", "wrong_shape"] = "invalid_json",
        *,
        status: int = 200,
        times: int | None = 1,
        path: PathSpec | None = None,
    ) -> Fault:
        """Answer ``status`` with a body that is not JSON, or JSON that is no expected document."""
        body = b'{"truncated": ' if kind == "invalid_json" else b'{"unexpected": "shape"}'
        return self._faults.add(Fault(FaultKind.MALFORMED, times, path, status=status, body=body))

    def drop_connection(self, *, times: int | None = 1, path: PathSpec | None = None) -> Fault:
        """Close the connection after reading the request, without writing any response."""
        return self._faults.add(Fault(FaultKind.DROP, times, path))

    def clear_faults(self) -> None:
        """Remove every programmed fault."""
        self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        """The faults still active, in the order they were added (a copy)."""
        return self._faults.active

    # ----------------------------------------------------------------- serving, in the server's threads

    def _route(self, method: str, path_pattern: str, handler: RouteHandler) -> None:
        """Serve ``method`` requests whose path fullmatches ``path_pattern`` with ``handler``."""
        pattern = re.compile(rf"(?:{path_pattern})\Z")  # the library matches a pattern from the path's start

        def respond(request: Request) -> Response:
            rec: RecordedRequest = request.environ[_RECORD]
            return self._answer(request, handler(rec, cast("re.Match[str]", pattern.match(rec.path))))

        self._server.expect_request(pattern, method=method).respond_with_handler(respond)

    def _answer(self, request: Request, reply: Reply) -> Response:
        """``reply`` as a response; its violation goes to the server's assertions."""
        from werkzeug import Response

        if reply.violation is not None:
            rec = request.environ[_RECORD] = replace(request.environ[_RECORD], note=reply.violation)
            with self._lock:
                self._server.add_assertion(f"{rec.method} {rec.path}: {reply.violation}")
        return Response(reply.body, status=reply.status, content_type=reply.content_type, headers=dict(reply.headers))

    def _no_route(self, request: Request) -> Response:
        """The answer to a request no handler took, a violation: 405 when a route has its path, else 404."""
        allowed = [h.matcher.method for h in self._server.handlers if h.matcher.match_uri(request)]
        if allowed:
            detail = f"{request.method} is not allowed on {request.path} (only {', '.join(allowed)})"
            return self._answer(request, problem_reply(HTTPStatus.METHOD_NOT_ALLOWED, detail, violation=True))
        detail = f"{self.name} has no endpoint {request.path}"
        return self._answer(request, problem_reply(self._server.no_handler_status_code, detail, violation=True))

    def _serve(self, request: Request, dispatch: Callable[[Request], Response]) -> Response:
        """Apply the faults for ``request``, else ``dispatch`` it to the library's handlers."""
        from werkzeug import Response

        started, wake = time.monotonic(), self._wake
        rec = _parse(request)
        faults = self._faults.take(rec.path)
        request.environ[_RECORD] = replace(rec, fault=", ".join(f.describe() for f in faults) or None)
        status: int | None = None
        note: str | None = None
        for fault in faults:
            if fault.kind is FaultKind.DELAY and not wake.wait(fault.seconds):
                continue  # waited in full: on to the next fault, or to the route
            if fault.kind in (FaultKind.STATUS, FaultKind.MALFORMED):
                response = Response(fault.body, status=fault.status, content_type=fault.content_type)
                status = fault.status
                break
            # a drop, or a delay cut short
            if wake is not self._wake:  # by reset(): dropped at once, out of the new log
                _shut_down(request.environ["werkzeug.socket"])
                raise ConnectionAbortedError("request dropped by reset()")
            response = Response(_dropping(request.environ["werkzeug.socket"]))
            note = "delay cut short by stop()" if fault.kind is FaultKind.DELAY else None
            break
        else:
            try:
                response = dispatch(request)
            except Exception as exc:  # the library keeps it for check()
                note = f"stub error: {exc!r}"
                response = self._answer(request, problem_reply(HTTPStatus.INTERNAL_SERVER_ERROR, "stub error"))
            status = response.status_code
        rec = request.environ[_RECORD]
        duration = time.monotonic() - started
        request.environ[_RECORD] = replace(rec, status=status, note=note or rec.note, duration=duration)
        return response


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class _Uncoloured(logging.Filter):
    """werkzeug colours its request lines with ANSI codes (a 404 yellow, another 4xx red) whatever the output is:
    they would reach captured output, the JUnit XML and failure bundles as raw escape codes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _ANSI.sub("", record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_ANSI.sub("", a) if isinstance(a, str) else a for a in record.args)
        return True


_UNCOLOURED = _Uncoloured()


@functools.cache
def _server_type() -> Callable[[HttpStub, str, int], HTTPServer]:
    """A ``pytest_httpserver.HTTPServer`` serving a stub through three hooks, built on first use:
    ``dispatch`` applies the stub's faults first, ``respond_nohandler`` answers as a violation, and
    ``thread_target`` has ``stop()`` take milliseconds, not up to ``serve_forever``'s 0.5 s poll; werkzeug's
    request lines lose their colour codes."""
    from pytest_httpserver import HTTPServer

    logging.getLogger("werkzeug").addFilter(_UNCOLOURED)  # the logger of every request line

    class StubHTTPServer(HTTPServer):
        def __init__(self, stub: HttpStub, host: str, port: int) -> None:
            super().__init__(host, port, threaded=True)
            self.stub = stub
            self.no_handler_status_code = HTTPStatus.NOT_FOUND

        def thread_target(self) -> None:
            assert self.server is not None
            self.server.serve_forever(poll_interval=_SHUTDOWN_POLL_SECONDS)

        def dispatch(self, request: Request) -> Response:
            return self.stub._serve(request, super().dispatch)

        def respond_nohandler(self, request: Request, extra_message: str = "") -> Response:
            return self.stub._no_route(request)

    return StubHTTPServer


def _dropping(sock: socket.socket) -> Iterator[bytes]:
    """A response body that drops the connection, once the library has logged the response, before
    a byte is written: werkzeug takes a ``ConnectionError`` for a dropped connection (no 500)."""
    yield from ()
    _shut_down(sock)
    raise ConnectionAbortedError("connection dropped by a stub fault")


def _shut_down(sock: socket.socket) -> None:
    """Shut ``sock`` down, not close it: werkzeug still reads it, then closes it."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are each given once (RFC 8259 §4: names should be unique)."""
    found = dict(pairs)
    if len(found) != len(pairs):
        twice = sorted({k for k, _ in pairs if sum(1 for other, _ in pairs if other == k) > 1})
        raise ValueError(f"an object names {', '.join(repr(k) for k in twice)} more than once")
    return found


def _parse(request: Request) -> RecordedRequest:
    """The request as recorded on arrival (werkzeug has joined a repeated header into one)."""
    body = request.get_data()
    parsed: Any = None
    error: str | None = None
    if body:
        try:
            parsed = json.loads(body, object_pairs_hook=_unique_keys)
        except ValueError as exc:
            error = f"body is not JSON: {exc}"
    headers = {name.lower(): value for name, value in request.headers.items()}
    query = request.query_string.decode("latin-1")
    return RecordedRequest(request.method, request.path, query, headers, body, parsed, error, at=time.time())
