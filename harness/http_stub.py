"""Stateful in-process HTTP stubs: the shared base.

An :class:`HttpStub` runs a ``pytest_httpserver.HTTPServer`` (werkzeug,
threaded) on ``127.0.0.1`` and an ephemeral port. A subclass adds routes with
:meth:`HttpStub._route`; every route handler receives the parsed
:class:`RecordedRequest` and returns a :class:`Reply`.

What the base gives every stub:

* lifecycle — :meth:`~HttpStub.start` returns self, :meth:`~HttpStub.stop`
  is idempotent, the stub is a context manager, :attr:`~HttpStub.url`;
* a request log — :attr:`~HttpStub.requests` and a readable
  :meth:`~HttpStub.format_log` to attach to a failing test's report;
* programmable faults — a status answer, a delay, a malformed body or a
  dropped connection, for the next N requests or until cleared, optionally
  only for one path (:meth:`~HttpStub.fail_with`, :meth:`~HttpStub.delay`,
  :meth:`~HttpStub.malformed`, :meth:`~HttpStub.drop_connection`);
* error surfacing — :meth:`~HttpStub.check` re-raises in the test thread an
  exception raised by stub code in a server thread, then fails on any
  request that broke the wire contract (a *violation*: the stub answered it
  400, or it hit no endpoint);
* a cheap :meth:`~HttpStub.reset` for the fixture pair "start once at a wide
  scope, reset per test".

``pytest_httpserver`` and ``werkzeug`` are imported only when a stub starts or
serves, so importing this module costs next to nothing.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

if TYPE_CHECKING:
    from types import TracebackType
    from typing import Self

    from pytest_httpserver import HTTPServer
    from werkzeug import Request, Response

__all__ = [
    "Fault",
    "FaultKind",
    "HttpStub",
    "PathSpec",
    "RecordedRequest",
    "Reply",
    "RouteHandler",
    "json_reply",
    "problem_reply",
]

PathSpec: TypeAlias = str | re.Pattern[str]
"""Selects request paths: a string matches exactly, a pattern must ``fullmatch``."""

_MAX_BODY_IN_LOG = 2000
_WRONG_SHAPE_BODY = b'{"unexpected": "shape"}'
_INVALID_JSON_BODY = b'{"truncated": '


# --------------------------------------------------------------------------- requests and replies


@dataclass(frozen=True)
class RecordedRequest:
    """One request the stub received, and what became of it.

    ``headers`` has lower-cased names. ``json`` is the parsed body, or None
    when the body is empty or not JSON (then ``json_error`` says why).
    ``status`` is the answer's status, None when no answer was written (the
    connection was dropped). ``fault`` describes the faults applied, ``note``
    why the stub rejected the request or how stub code failed. ``at`` is when
    it arrived (seconds since the epoch), ``duration`` how long it took.
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
    """What a route handler answers.

    ``violation`` marks the request as breaking the wire contract: the text
    is collected and :meth:`HttpStub.check` fails with it.
    """

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    violation: str | None = None


def json_reply(status: int, payload: Any) -> Reply:
    """A reply whose body is ``payload`` as JSON."""
    return Reply(status, json.dumps(payload).encode())


def problem_reply(status: int, detail: str, *, violation: bool = False) -> Reply:
    """An RFC 9457 problem reply; with ``violation`` it also counts as a contract violation."""
    payload = {"type": "about:blank", "title": _phrase(status), "status": status, "detail": detail}
    return Reply(
        status,
        json.dumps(payload).encode(),
        content_type="application/problem+json",
        violation=detail if violation else None,
    )


RouteHandler: TypeAlias = Callable[[RecordedRequest, "re.Match[str]"], Reply]
"""A route handler: the request and the match of the route's path pattern."""


@dataclass(frozen=True)
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: RouteHandler


# --------------------------------------------------------------------------- faults


class FaultKind(enum.Enum):
    """What a :class:`Fault` does to a request."""

    STATUS = "status"
    """Answer with a given status and body instead of the stub."""
    DELAY = "delay"
    """Wait before going on (to further faults, or to the stub)."""
    MALFORMED = "malformed"
    """Answer with a body that is not JSON, or JSON of the wrong shape."""
    DROP = "drop"
    """Close the connection without writing any response."""


@dataclass(eq=False)
class Fault:
    """A programmed fault; returned by the fault methods of :class:`HttpStub`.

    It applies to the next ``times`` requests whose path matches ``path``
    (every path when None), or to all of them until cleared when ``times`` is
    None. ``applied`` counts the requests it was applied to so far; it is
    counted when a request arrives, before any delay.
    """

    kind: FaultKind
    times: int | None
    path: PathSpec | None = None
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    seconds: float = 0.0
    applied: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.times is not None and self.times < 1:
            raise ValueError(f"times must be None (until cleared) or at least 1, not {self.times}")
        if not 100 <= self.status <= 599:
            raise ValueError(f"not an HTTP status: {self.status}")
        if self.seconds < 0:
            raise ValueError(f"a delay cannot be negative: {self.seconds}")

    @property
    def remaining(self) -> int | None:
        """How many more requests it applies to; None means until cleared."""
        return None if self.times is None else self.times - self.applied

    @property
    def exhausted(self) -> bool:
        """Whether it has been applied ``times`` times."""
        return self.times is not None and self.applied >= self.times

    def matches(self, path: str) -> bool:
        """Whether it applies to a request for ``path``."""
        if self.path is None:
            return True
        if isinstance(self.path, str):
            return path == self.path
        return self.path.fullmatch(path) is not None

    def describe(self) -> str:
        """A short human-readable description, as used in logs."""
        what = {
            FaultKind.STATUS: f"status {self.status}",
            FaultKind.DELAY: f"delay {self.seconds:g}s",
            FaultKind.MALFORMED: f"malformed body (status {self.status})",
            FaultKind.DROP: "drop connection",
        }[self.kind]
        if self.path is not None:
            what += f" on {self.path if isinstance(self.path, str) else self.path.pattern}"
        count = "until cleared" if self.times is None else f"{self.applied}/{self.times} applied"
        return f"{what} [{count}]"


# --------------------------------------------------------------------------- the stub


class HttpStub:
    """A stateful HTTP stub served from a background thread; see the module docstring.

    Subclasses set :attr:`name`, register their routes in ``__init__`` with
    :meth:`_route` and clear their own state in :meth:`_reset_state`, under
    :attr:`_lock` (requests are served concurrently).
    """

    name: str = "http stub"
    """How the stub names itself in logs and failure messages."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._lock = threading.RLock()
        self._server: HTTPServer | None = None
        self._running = False
        self._routes: list[_Route] = []
        self._log: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._violations: list[str] = []
        # Set to wake every in-flight delay; replaced on start() and reset().
        self._wake = threading.Event()

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> Self:
        """Start serving (no-op when already running); returns self."""
        with self._lock:
            if self._running:
                return self
            server = _server_type()(host=self._host, port=self._port, threaded=True)
            # One catch-all handler: pytest-httpserver then collects what stub code raises.
            server.expect_request(re.compile(".*")).respond_with_handler(self._serve)
            if self._server is not None:  # a restart keeps what check() has not reported yet
                server.handler_errors.extend(self._server.handler_errors)
                server.assertions.extend(self._server.assertions)
            self._wake = threading.Event()
            server.start()
            self._port = server.port  # a restart serves on the same address, as a restarted service would
            self._server = server
            self._running = True
            return self

    def stop(self) -> None:
        """Stop serving; idempotent. In-flight delayed requests are dropped at once."""
        with self._lock:
            if not self._running or self._server is None:
                return
            self._running = False
            server = self._server
            self._wake.set()
        if server.is_running():
            server.stop()

    @property
    def running(self) -> bool:
        """Whether the stub is serving."""
        return self._running

    @property
    def url(self) -> str:
        """The base URL, like ``http://127.0.0.1:40123`` (no trailing slash)."""
        if not self._running or self._server is None:
            raise RuntimeError(f"{self.name} is not running")
        return self._server.url_for("/").rstrip("/")

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._running else "stopped"
        return f"<{type(self).__name__} {where}>"

    # ----------------------------------------------------------------- state, log, errors

    def reset(self) -> None:
        """Forget all state: the stub's data, the request log, faults, violations, pending errors.

        Delayed requests still in flight are dropped. Call :meth:`check` first
        to have pending errors reported.
        """
        with self._lock:
            self._wake.set()
            self._wake = threading.Event()
            self._log.clear()
            self._faults.clear()
            self._violations.clear()
            if self._server is not None:
                self._server.clear_handler_errors()
                self._server.clear_assertions()
                self._server.clear_log()
            self._reset_state()

    def _reset_state(self) -> None:
        """Clear the subclass's own state; called by :meth:`reset` under :attr:`_lock`."""

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._log)

    @property
    def violations(self) -> list[str]:
        """Contract violations not yet reported by :meth:`check` (a copy)."""
        with self._lock:
            return list(self._violations)

    def check(self) -> None:
        """Raise, in the calling thread, what went wrong in the server threads.

        First an exception raised by stub code while serving (re-raised as is,
        the oldest first, one per call), then an ``AssertionError`` listing
        every contract violation (which are then forgotten).
        """
        with self._lock:
            server = self._server
        if server is not None:
            server.check_handler_errors()
            server.check_assertions()
        with self._lock:
            violations, self._violations = self._violations, []
        if violations:
            lines = "\n".join(f"  - {v}" for v in violations)
            raise AssertionError(
                f"{self.name} received {len(violations)} request(s) breaking its contract:\n{lines}\n\n"
                + self.format_log()
            )

    def format_log(self) -> str:
        """The request log, violations and active faults as readable text."""
        with self._lock:
            log = list(self._log)
            violations = list(self._violations)
            faults = list(self._faults)
            where = self._server.url_for("/").rstrip("/") if self._server is not None else "never started"
        lines = [f"{self.name} at {where}: {len(log)} request(s)"]
        for number, rec in enumerate(log, 1):
            status = "no response (connection dropped)" if rec.status is None else str(rec.status)
            target = rec.path + (f"?{rec.query}" if rec.query else "")
            lines.append(f"#{number} {rec.method} {target} -> {status} in {rec.duration * 1000:.0f} ms")
            if rec.fault:
                lines.append(f"    fault: {rec.fault}")
            if rec.note:
                lines.append(f"    note: {rec.note}")
            headers = "; ".join(f"{name}: {value}" for name, value in rec.headers.items())
            lines.append(f"    headers: {headers}")
            if rec.body:
                lines.append(f"    body: {_excerpt(rec.body)}")
        if violations:
            lines.append("contract violations:")
            lines.extend(f"  - {v}" for v in violations)
        if faults:
            lines.append("active faults:")
            lines.extend(f"  - {f.describe()}" for f in faults)
        return "\n".join(lines)

    # ----------------------------------------------------------------- faults

    def fail_with(self, status: int, body: Any = None, *, times: int | None = 1, path: PathSpec | None = None) -> Fault:
        """Answer ``status`` with ``body`` as JSON (default: a problem document) instead of the stub."""
        if body is None:
            reply = problem_reply(status, f"fault injected by {self.name}")
            payload, content_type = reply.body, reply.content_type
        else:
            payload, content_type = json.dumps(body).encode(), "application/json"
        return self._add_fault(
            Fault(FaultKind.STATUS, times, path, status=status, body=payload, content_type=content_type)
        )

    def delay(self, seconds: float, *, times: int | None = 1, path: PathSpec | None = None) -> Fault:
        """Hold the request ``seconds`` before going on.

        A delay is followed by the next matching fault, if any, else by the
        stub's own answer. :meth:`stop` and :meth:`reset` cut it short: the
        connection is then dropped.
        """
        return self._add_fault(Fault(FaultKind.DELAY, times, path, seconds=seconds))

    def malformed(
        self,
        kind: Literal["invalid_json", "wrong_shape"] = "invalid_json",
        *,
        status: int = 200,
        times: int | None = 1,
        path: PathSpec | None = None,
    ) -> Fault:
        """Answer ``status`` with a body that is not JSON, or JSON that is no expected document."""
        body = _INVALID_JSON_BODY if kind == "invalid_json" else _WRONG_SHAPE_BODY
        return self._add_fault(Fault(FaultKind.MALFORMED, times, path, status=status, body=body))

    def drop_connection(self, *, times: int | None = 1, path: PathSpec | None = None) -> Fault:
        """Close the connection after reading the request, without writing any response."""
        return self._add_fault(Fault(FaultKind.DROP, times, path))

    def clear_faults(self) -> None:
        """Remove every programmed fault."""
        with self._lock:
            self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        """The faults still active, in the order they were added (a copy)."""
        with self._lock:
            return list(self._faults)

    def _add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def _take_faults(self, path: str) -> list[Fault]:
        """The faults for a request: any matching delays, then at most one answering fault."""
        taken: list[Fault] = []
        with self._lock:
            for fault in list(self._faults):
                if not fault.matches(path):
                    continue
                fault.applied += 1
                if fault.exhausted:
                    self._faults.remove(fault)
                taken.append(fault)
                if fault.kind is not FaultKind.DELAY:
                    break
        return taken

    # ----------------------------------------------------------------- routing and serving

    def _route(self, method: str, path_pattern: str, handler: RouteHandler) -> None:
        """Serve ``method`` requests whose path fullmatches ``path_pattern`` with ``handler``."""
        self._routes.append(_Route(method.upper(), re.compile(path_pattern), handler))

    def _dispatch(self, request: RecordedRequest) -> Reply:
        allowed: list[str] = []
        for route in self._routes:
            match = route.pattern.fullmatch(request.path)
            if match is None:
                continue
            if route.method == request.method:
                return route.handler(request, match)
            allowed.append(route.method)
        if allowed:
            return problem_reply(
                HTTPStatus.METHOD_NOT_ALLOWED,
                f"{request.method} is not allowed on {request.path} (only {', '.join(allowed)})",
                violation=True,
            )
        return problem_reply(HTTPStatus.NOT_FOUND, f"{self.name} has no endpoint {request.path}", violation=True)

    def _serve(self, request: Request) -> Response:
        """The pytest-httpserver handler: runs in a server thread for every request."""
        from werkzeug import Response

        started = time.monotonic()
        wake = self._wake
        rec = replace(_parse(request), at=time.time())
        faults = self._take_faults(rec.path)
        rec = replace(rec, fault=", ".join(f.describe() for f in faults) or None)

        def finish(status: int | None, note: str | None = None) -> None:
            with self._lock:
                if wake is self._wake:  # a request from before reset() stays out of the new log
                    self._log.append(replace(rec, status=status, note=note, duration=time.monotonic() - started))

        try:
            reply: Reply | None = None
            for fault in faults:
                if fault.kind is FaultKind.DELAY:
                    if wake.wait(fault.seconds):
                        finish(None, "delay cut short by stop() or reset()")
                        _drop(request)
                elif fault.kind is FaultKind.DROP:
                    finish(None)
                    _drop(request)
                else:
                    reply = Reply(fault.status, fault.body, fault.content_type)
            if reply is None:
                reply = self._dispatch(rec)
                if reply.violation is not None:
                    with self._lock:
                        self._violations.append(f"{rec.method} {rec.path}: {reply.violation}")
        except _connection_dropped_type():
            raise
        except Exception as exc:
            finish(HTTPStatus.INTERNAL_SERVER_ERROR, f"stub error: {exc!r}")
            raise  # pytest-httpserver keeps it for check(); werkzeug answers 500
        finish(reply.status, reply.violation)
        return Response(reply.body, status=reply.status, content_type=reply.content_type)


# --------------------------------------------------------------------------- helpers


def _parse(request: Request) -> RecordedRequest:
    body = request.get_data()
    parsed: Any = None
    error: str | None = None
    if body:
        try:
            parsed = json.loads(body)
        except ValueError as exc:
            error = f"body is not JSON: {exc}"
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return RecordedRequest(
        method=request.method,
        path=request.path,
        query=request.query_string.decode("latin-1"),
        headers=headers,
        body=body,
        json=parsed,
        json_error=error,
    )


_SHUTDOWN_POLL_SECONDS = 0.005


@functools.cache
def _server_type() -> type[HTTPServer]:
    """``pytest_httpserver.HTTPServer`` whose ``stop()`` takes milliseconds, not up to half a second.

    ``serve_forever`` notices a shutdown request once per poll interval
    (0.5 s by default); ``thread_target`` is the documented hook to change
    how the server thread serves. Built on first use so importing this module
    does not import pytest-httpserver.
    """
    from pytest_httpserver import HTTPServer

    class StubHTTPServer(HTTPServer):
        def thread_target(self) -> None:
            assert self.server is not None
            self.server.serve_forever(poll_interval=_SHUTDOWN_POLL_SECONDS)

    return StubHTTPServer


@functools.cache
def _connection_dropped_type() -> type[ConnectionAbortedError]:
    """The exception that ends a request with no response written.

    As a ``ConnectionError`` werkzeug treats it as a dropped connection and
    writes nothing (no 500, no traceback); as a ``pytest_httpserver.Error``
    it is not collected as a handler error. Built on first use so importing
    this module does not import pytest-httpserver.
    """
    from pytest_httpserver import Error

    class StubDroppedConnection(Error, ConnectionAbortedError):
        """Raised by a stub to drop a connection on purpose."""

    return StubDroppedConnection


def _drop(request: Request) -> None:
    """Shut the request's socket down and end the request without an answer.

    Only shutdown, not close: werkzeug still polls the socket afterwards and
    closes it itself.
    """
    sock: socket.socket = request.environ["werkzeug.socket"]
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    raise _connection_dropped_type()("connection dropped by stub fault")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Status {status}"


def _excerpt(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace")
    if len(text) > _MAX_BODY_IN_LOG:
        return f"{text[:_MAX_BODY_IN_LOG]}... ({len(body)} bytes)"
    return text
