"""The record of a concurrent run: every operation every client made, as events.

A history is a JSON-lines file, one per run, written as the run goes (so a run
cut short leaves a readable prefix) and read back later, by this checker or a
newer one (:func:`read_history`)::

    {"type": "history", "format": 1, "seed": 42, "started_ns": 7001, "started_at": 1767225600.0,
     "params": {"retry_grace_ns": 30000000000}, "meta": {...}}
    {"type": "invoke", "id": 1, "client": 0, "op": "refresh", "t": 7050, "input": {"refresh_token": "..."}}
    {"type": "ok", "id": 1, "client": 0, "op": "refresh", "t": 9120, "output": {"refresh_token": "...", ...}}
    {"type": "evidence", "name": "live_sessions", "data": ["..."]}

Each operation is one ``invoke`` and at most one completion with the same
``id``: ``ok`` (an answer that it succeeded), ``fail`` (an answer that it
failed, ``{"error": "<stable code>"}``: it may still have had an effect, as a
replayed refresh token revokes its session) or ``unknown`` (no answer a client
can rely on: a timeout, a dropped connection, a 503 at a deadline; it may or
may not have been carried out). An operation with no completion is unknown too.
Times are ``time.monotonic_ns()`` of the recording process (``started_ns`` and
``started_at`` pair one with the wall clock); ``client`` identifies the client
that made the call (one client makes one call at a time); inputs and outputs are
JSON objects. ``params`` holds what a checker needs to judge the run (the retry
window, the limits); ``evidence`` lines hold data read from elsewhere at the
end of the run (stub journals, the keyspace), by name.

The operations, their inputs and outputs, are those of the session model of
``contracts/tokens.md`` as :mod:`harness.robustness.check` reads them (see its
``histcheck/README.md``); the format itself is generic.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, Self

__all__ = [
    "FORMAT",
    "Call",
    "Event",
    "History",
    "HistoryError",
    "Operation",
    "Recorder",
    "jsonable",
    "read_history",
]

FORMAT = 1
"""The format version this module writes; it reads every version up to it."""

EventType = Literal["invoke", "ok", "fail", "unknown"]
Status = Literal["ok", "fail", "unknown"]
_COMPLETIONS: frozenset[str] = frozenset({"ok", "fail", "unknown"})


class HistoryError(ValueError):
    """A history file or event that breaks the format; says where."""


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: dataclasses as objects, datetimes in ISO 8601,
    tuples and sets as lists; anything else JSON cannot hold is an error."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value) if isinstance(value, set | frozenset) else value
        return [jsonable(v) for v in items]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"{type(value).__name__} is not JSON data: {value!r}")


@dataclass(frozen=True)
class Event:
    """One line of a history: an operation invoked, or its completion."""

    type: EventType
    id: int
    client: int
    op: str
    t: int  # monotonic nanoseconds
    data: dict[str, Any]  # the inputs of an invoke, the outputs of a completion

    def to_json(self) -> dict[str, Any]:
        key = "input" if self.type == "invoke" else "output"
        return {"type": self.type, "id": self.id, "client": self.client, "op": self.op, "t": self.t, key: self.data}


@dataclass(frozen=True)
class Operation:
    """An invoke with its completion (``status`` unknown and ``completed`` None when none was recorded)."""

    id: int
    client: int
    op: str
    input: dict[str, Any]
    invoked: int
    status: Status
    output: dict[str, Any]
    completed: int | None

    @property
    def error(self) -> str | None:
        """The stable error code of a fail (or of an unknown that carries one)."""
        code = self.output.get("error")
        return code if isinstance(code, str) else None

    @property
    def answered(self) -> bool:
        """Whether the client got an answer it can rely on (ok or fail)."""
        return self.status != "unknown"


@dataclass
class History:
    """A run's header, its events in the order recorded, and its evidence."""

    seed: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    started_ns: int = 0
    started_at: float = 0.0
    format: int = FORMAT
    events: list[Event] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)

    def header(self) -> dict[str, Any]:
        return {
            "type": "history",
            "format": self.format,
            "seed": self.seed,
            "started_ns": self.started_ns,
            "started_at": self.started_at,
            "params": self.params,
            "meta": self.meta,
        }

    def operations(self) -> list[Operation]:
        """Every operation, in the order of their invokes."""
        invokes: dict[int, Event] = {}
        ends: dict[int, Event] = {}
        for event in self.events:
            (invokes if event.type == "invoke" else ends)[event.id] = event
        ops = []
        for op_id, start in invokes.items():
            end = ends.get(op_id)
            status: Status = "unknown" if end is None or end.type == "invoke" else end.type
            ops.append(
                Operation(
                    op_id,
                    start.client,
                    start.op,
                    start.data,
                    start.t,
                    status,
                    {} if end is None else end.data,
                    None if end is None else end.t,
                )
            )
        return sorted(ops, key=lambda o: (o.invoked, o.id))

    def subset(self, ids: Iterable[int]) -> History:
        """The same run with only the operations ``ids`` (their invokes and completions) and no evidence."""
        keep = set(ids)
        return dataclasses.replace(self, events=[e for e in self.events if e.id in keep], evidence={})

    def lines(self) -> Iterator[str]:
        yield _dumps(self.header())
        for event in self.events:
            yield _dumps(event.to_json())
        for name, data in self.evidence.items():
            yield _dumps({"type": "evidence", "name": name, "data": data})

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(line + "\n" for line in self.lines()))
        return path


def _dumps(doc: Mapping[str, Any]) -> str:
    try:
        return json.dumps(doc, allow_nan=False, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise HistoryError(f"not JSON data ({exc}): {doc!r}") from None


def _event(doc: dict[str, Any], kind: EventType, where: str) -> Event:
    key = "input" if kind == "invoke" else "output"
    try:
        event = Event(kind, int(doc["id"]), int(doc["client"]), str(doc["op"]), int(doc["t"]), dict(doc.get(key) or {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise HistoryError(f"{where}: an event needs id, client, op, t and its {key}: {exc}") from None
    return event


def read_history(path: Path) -> History:
    """Read a history file; a line that breaks the format is an error naming it."""
    history: History | None = None
    seen: dict[int, set[str]] = {}
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                doc = json.loads(line)
            except json.JSONDecodeError as exc:
                raise HistoryError(f"{where}: not JSON: {exc}") from None
            kind = doc.get("type") if isinstance(doc, dict) else None
            if history is None:
                history = _header(doc, kind, where)
            elif kind == "evidence":
                history.evidence[str(doc["name"])] = doc.get("data")
            elif kind == "invoke" or kind in _COMPLETIONS:
                event = _event(doc, kind, where)
                steps = seen.setdefault(event.id, set())
                repeated = steps if kind == "invoke" else steps & _COMPLETIONS or "invoke" not in steps
                if repeated:
                    raise HistoryError(f"{where}: operation {event.id} has {sorted(steps)} before this {kind}")
                steps.add(event.type)
                history.events.append(event)
            else:
                raise HistoryError(f"{where}: unknown line type {kind!r}")
    if history is None:
        raise HistoryError(f"{path}: empty, no history header")
    return history


def _header(doc: Any, kind: Any, where: str) -> History:
    if kind != "history":
        raise HistoryError(f"{where}: the first line must be the history header, not {kind!r}")
    version = doc.get("format")
    if not isinstance(version, int) or not 1 <= version <= FORMAT:
        raise HistoryError(f"{where}: history format {version!r}; this reader knows 1 to {FORMAT}")
    return History(
        seed=doc.get("seed"),
        params=dict(doc.get("params") or {}),
        meta=dict(doc.get("meta") or {}),
        started_ns=int(doc.get("started_ns", 0)),
        started_at=float(doc.get("started_at", 0.0)),
        format=version,
    )


class Call:
    """One invoked operation: complete it once with :meth:`ok`, :meth:`fail` or :meth:`unknown`."""

    def __init__(self, recorder: Recorder, op_id: int, client: int, op: str) -> None:
        self.recorder = recorder
        self.id = op_id
        self.client = client
        self.op = op
        self.status: Status | None = None

    def _complete(self, status: Status, output: Mapping[str, Any]) -> None:
        if self.status is not None:
            raise RuntimeError(f"operation {self.id} ({self.op}) was already completed as {self.status}")
        self.status = status
        self.recorder._record(status, self.id, self.client, self.op, output)

    def ok(self, output: Mapping[str, Any] | None = None) -> None:
        self._complete("ok", output or {})

    def fail(self, error: str, **details: Any) -> None:
        """An answer that it failed, with its stable error code."""
        self._complete("fail", {"error": error, **details})

    def unknown(self, reason: str, **details: Any) -> None:
        """No answer the client can rely on (``reason``: timeout, connection dropped, ...)."""
        self._complete("unknown", {"reason": reason, **details})


class Recorder:
    """Writes a history as the run goes: thread-safe, one JSON line per event,
    flushed at once. ``params`` and ``meta`` go to the header."""

    def __init__(
        self,
        path: Path,
        *,
        seed: Any = None,
        params: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        self.path = path
        self.history = History(
            seed=seed,
            params=jsonable(params or {}),
            meta=jsonable(meta or {}),
            started_ns=time.monotonic_ns(),
            started_at=time.time(),
        )
        self._lock = threading.Lock()
        self._ids = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._write(self.history.header())

    def _write(self, doc: Mapping[str, Any]) -> None:
        assert self._file is not None, "the recorder is closed"
        self._file.write(_dumps(doc) + "\n")
        self._file.flush()

    def invoke(self, client: int, op: str, input: Mapping[str, Any]) -> Call:
        data = jsonable(input)
        with self._lock:
            self._ids += 1
            op_id = self._ids
            event = Event("invoke", op_id, client, op, time.monotonic_ns(), data)
            self.history.events.append(event)
            self._write(event.to_json())
        return Call(self, op_id, client, op)

    def _record(self, status: Status, op_id: int, client: int, op: str, output: Mapping[str, Any]) -> None:
        data = jsonable(output)
        with self._lock:
            event = Event(status, op_id, client, op, time.monotonic_ns(), data)
            self.history.events.append(event)
            self._write(event.to_json())

    def evidence(self, name: str, data: Any) -> None:
        """Data read from elsewhere (a journal, the keyspace), kept with the run under ``name``."""
        data = jsonable(data)
        with self._lock:
            self.history.evidence[name] = data
            self._write({"type": "evidence", "name": name, "data": data})

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
