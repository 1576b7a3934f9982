"""The nemesis of a concurrent run: every fault the harness has, injected into a
running stack of any declared topology while clients call it.

A run's faults are a **plan**, made before the run from its seed alone
(:func:`plan`): a list of :class:`Fault` steps, each a kind, a target, when it
begins, how long it holds and its parameters. The same seed, schedule, targets
and duration give the same plan, so a run's faults are replayed exactly by its
seed; the clients' interleaving is the only thing left to chance. A plan has
one or more **streams** (the ``random`` schedule breaks the network in one and
the processes and Redis in another, so their faults overlap); the
:class:`Nemesis` applies each stream's steps one after the other, each healed
before the next, the streams side by side, and logs what it did
(:class:`Injected`). Targets are dealt from a shuffled deck, so every edge and
every service gets its share of a short run.

The kinds, by target (:class:`Targets` lists a stack's):

- every **edge** through the fault proxy (``links="all"``, the scenarios' own
  edges to the services included): ``latency`` (ms ± jitter, one direction or
  both), ``blackhole`` (nothing passes, connections held open), ``reset``
  (connections reset as data arrives) and ``down`` (connections refused and cut),
  each healed in place (:mod:`harness.faults.toxiproxy`);
- every **service**: ``pause`` (SIGSTOP, then SIGCONT), ``kill`` (SIGKILL, then a
  restart on the same addresses) and ``drain`` (SIGTERM as a deployment sends it,
  the drain observed through the service's readiness surface, then a restart);
- the stack's **Redis**: ``redis-pause``, ``redis-restart`` (killed, back with its
  data) and ``redis-wipe`` (killed, back empty: the data is lost); with a
  ``redis-server`` the run owns, also its error modes ``redis-oom``,
  ``redis-readonly`` and ``redis-pause-writes`` (:mod:`harness.redis.error_modes`).

A wipe loses what the services stored, which no client operation explains: the
nemesis records it in the history as an operation of its own, ``wipe``, so the
checker knows when it happened (``histcheck/README.md``).

Named schedules (:data:`SCHEDULES`) choose among the kinds: ``random`` (all of
them), ``flapping-links``, ``restarts``, ``pauses``, ``redis`` and ``none``.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc

from harness.processes.service import ServiceProcess
from harness.redis.error_modes import ErrorMode
from harness.robustness.history import Recorder
from harness.topology.stack import Stack

__all__ = [
    "LINK_KINDS",
    "NEMESIS_CLIENT",
    "PROCESS_KINDS",
    "REDIS_ERROR_KINDS",
    "REDIS_KINDS",
    "SCHEDULES",
    "Fault",
    "Injected",
    "Nemesis",
    "Targets",
    "heal_everything",
    "plan",
    "readiness_probe",
]

LINK_KINDS = ("latency", "blackhole", "reset", "down")
PROCESS_KINDS = ("pause", "kill", "drain")
REDIS_KINDS = ("redis-pause", "redis-restart", "redis-wipe")
REDIS_ERROR_KINDS = ("redis-oom", "redis-readonly", "redis-pause-writes")

NEMESIS_CLIENT = -1
"""The client id of the operations the nemesis records itself (a ``wipe``)."""


@dataclass(frozen=True)
class Targets:
    """What a stack offers the nemesis: its proxied edges, its services, and its
    Redis (``none``, ``fake``: killed, frozen, restarted; ``owned``: a
    ``redis-server`` of the run's own, which also takes the error modes)."""

    links: tuple[str, ...]
    services: tuple[str, ...]
    redis: str = "none"

    @classmethod
    def of(cls, stack: Stack) -> Targets:
        backend = stack.redis_backend
        redis = "none" if backend is None else "owned" if hasattr(backend, "refuse_writes") else "fake"
        return cls(tuple(sorted(stack.links)), tuple(s.name for s in stack.topology.services), redis)

    def kinds(self) -> list[str]:
        """Every kind these targets take."""
        kinds = list(LINK_KINDS) if self.links else []
        kinds += list(PROCESS_KINDS) if self.services else []
        kinds += list(REDIS_KINDS) if self.redis != "none" else []
        return kinds + (list(REDIS_ERROR_KINDS) if self.redis == "owned" else [])

    def for_kind(self, kind: str) -> tuple[str, ...]:
        if kind in LINK_KINDS:
            return self.links
        if kind in PROCESS_KINDS:
            return self.services
        return ("redis",) if self.redis != "none" else ()


@dataclass(frozen=True)
class Fault:
    """One step of a plan: ``kind`` on ``target`` from ``at`` seconds after the run
    began, for ``hold`` seconds (a process killed or drained stays down that long
    before its restart), with the kind's ``params``."""

    at: float
    kind: str
    target: str
    hold: float
    params: Mapping[str, Any] = field(default_factory=dict)
    stream: int = 0

    def describe(self) -> str:
        params = " ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"+{self.at:.2f}s {self.kind} {self.target} for {self.hold:.2f}s {params}".rstrip()

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "kind": self.kind,
            "target": self.target,
            "hold": self.hold,
            "params": dict(self.params),
            "stream": self.stream,
        }


def _params(kind: str, rng: random.Random) -> dict[str, Any]:
    if kind == "latency":
        ms = rng.choice((50, 150, 400, 900))
        direction = rng.choice(("downstream", "upstream", "both"))
        return {"ms": ms, "jitter": rng.choice((0, ms // 2, ms)), "direction": direction}
    if kind == "blackhole":
        return {"direction": rng.choice(("both", "downstream", "upstream"))}
    if kind == "reset":
        return {"direction": rng.choice(("downstream", "upstream"))}
    return {}


_HOLDS: dict[str, tuple[float, float]] = {
    "latency": (0.3, 2.0),
    "blackhole": (0.2, 1.2),
    "reset": (0.1, 0.8),
    "down": (0.1, 1.0),
    "pause": (0.1, 1.0),
    "kill": (0.05, 0.5),
    "drain": (0.05, 0.3),
    "redis-pause": (0.1, 0.8),
    "redis-restart": (0.05, 0.5),
    "redis-wipe": (0.05, 0.3),
    "redis-oom": (0.2, 1.2),
    "redis-readonly": (0.2, 1.2),
    "redis-pause-writes": (0.1, 0.8),
}
"""How long each kind holds (seconds, drawn uniformly within)."""

_WEIGHTS: dict[str, float] = {
    "latency": 5,
    "blackhole": 2,
    "reset": 2,
    "down": 2,
    "pause": 1.5,
    "kill": 1,
    "drain": 1,
    "redis-pause": 1,
    "redis-restart": 1,
    "redis-wipe": 0.25,
    "redis-oom": 1,
    "redis-readonly": 1,
    "redis-pause-writes": 1,
}
"""How often the ``random`` schedule draws each kind, relatively: link faults most
(they are the cheapest and every edge has four), a wipe seldom (it ends every
session, and the workload starts over)."""

Schedule = Callable[[random.Random, Targets, float], list[Fault]]


class _Deck:
    """Targets dealt in a shuffled order, reshuffled once all were dealt."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.left: dict[tuple[str, ...], list[str]] = {}

    def deal(self, targets: tuple[str, ...]) -> str:
        left = self.left.setdefault(targets, [])
        if not left:
            left.extend(targets)
            self.rng.shuffle(left)
        return left.pop()


def _steps(
    rng: random.Random,
    targets: Targets,
    duration: float,
    kinds: Sequence[str],
    gap: tuple[float, float],
    *,
    holds: Mapping[str, tuple[float, float]] = _HOLDS,
    stream: int = 0,
) -> list[Fault]:
    """Faults of ``kinds`` (those the targets take, weighted) one after the other,
    ``gap`` seconds apart, until ``duration``."""
    usable = [k for k in kinds if targets.for_kind(k)]
    if not usable:
        return []
    weights = [_WEIGHTS[k] for k in usable]
    deck = _Deck(rng)
    faults: list[Fault] = []
    t = rng.uniform(*gap)
    while True:
        kind = rng.choices(usable, weights)[0]
        hold = round(rng.uniform(*holds[kind]), 3)
        if t + hold >= duration:
            return faults
        target = deck.deal(targets.for_kind(kind))
        faults.append(Fault(round(t, 3), kind, target, hold, _params(kind, rng), stream))
        t += hold + rng.uniform(*gap)


def _random(rng: random.Random, targets: Targets, duration: float) -> list[Fault]:
    """The network broken somewhere most of the time, and beside it the processes and Redis now and then."""
    network = _steps(rng, targets, duration, LINK_KINDS, (0.05, 0.4), holds=dict.fromkeys(LINK_KINDS, (0.5, 2.0)))
    others = [k for k in targets.kinds() if k not in LINK_KINDS]
    rest = _steps(rng, targets, duration, others, (0.5, 1.5), stream=1)
    return sorted(network + rest, key=lambda f: (f.at, f.stream))


def _flapping_links(rng: random.Random, targets: Targets, duration: float) -> list[Fault]:
    flaps = dict.fromkeys(LINK_KINDS, (0.05, 0.3))
    return _steps(rng, targets, duration, LINK_KINDS, (0.05, 0.2), holds=flaps)


def _restarts(rng: random.Random, targets: Targets, duration: float) -> list[Fault]:
    return _steps(rng, targets, duration, ("kill", "drain", "redis-restart"), (0.5, 1.5))


def _pauses(rng: random.Random, targets: Targets, duration: float) -> list[Fault]:
    return _steps(rng, targets, duration, ("pause", "redis-pause", "redis-pause-writes"), (0.3, 1.2))


def _redis(rng: random.Random, targets: Targets, duration: float) -> list[Fault]:
    return _steps(rng, targets, duration, (*REDIS_KINDS, *REDIS_ERROR_KINDS), (0.3, 1.2))


def _none(rng: random.Random, targets: Targets, duration: float) -> list[Fault]:
    return []


SCHEDULES: dict[str, Schedule] = {
    "random": _random,
    "flapping-links": _flapping_links,
    "restarts": _restarts,
    "pauses": _pauses,
    "redis": _redis,
    "none": _none,
}
"""The named schedules: which kinds a plan draws, and how densely."""


def plan(seed: int, schedule: str, targets: Targets, duration: float) -> list[Fault]:
    """The faults of a run of ``duration`` seconds: a function of its arguments alone."""
    try:
        make = SCHEDULES[schedule]
    except KeyError:
        raise ValueError(f"unknown schedule {schedule!r}; known: {', '.join(SCHEDULES)}") from None
    return make(random.Random(f"{schedule}:{seed}"), targets, duration)


# ------------------------------------------------------------------ readiness


def readiness_probe(stack: Stack, service: str, timeout: float = 0.25) -> Callable[[], bool]:
    """Whether ``service`` says it is ready, as its peers would ask: the HTTP path
    its declaration names for a listener (``probes``: 200 is ready), else the
    standard gRPC health check of its first listener (``SERVING`` is ready). It
    raises when no answer comes (:meth:`ServiceProcess.terminate_and_drain` counts that)."""
    declared = stack.topology.service(service)
    process = stack.process(service)
    if declared.probes:
        listener, path = next(iter(declared.probes.items()))
        url = f"http://{process.address(listener)}{path}"

        def http_ready() -> bool:
            return requests.get(url, timeout=timeout, allow_redirects=False).status_code == 200

        return http_ready
    target = process.address(next(iter(declared.listens)))

    def grpc_ready() -> bool:
        with grpc.insecure_channel(target) as channel:
            stub: Any = health_pb2_grpc.HealthStub(channel)
            answer = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)

    return grpc_ready


# ------------------------------------------------------------------ applying a plan


@dataclass
class Injected:
    """A fault as it was applied: the step, when it began and was healed (seconds
    from the run's start), and what was seen (a drain's figures, a heal that failed)."""

    fault: Fault
    began: float
    healed: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**self.fault.to_json(), "began": self.began, "healed": self.healed, "notes": self.notes}


class Nemesis:
    """Applies a plan to a running stack from a thread of its own (:meth:`start`),
    each fault healed before the next; :meth:`stop` ends it early, healing the
    fault in force. Data lost to a wipe is recorded in ``recorder`` as a ``wipe``.

    A process the nemesis restarts is started from its thread, and a service
    process dies with the thread that started it (its parent-death signal is
    tied to that thread, as Linux's ``PR_SET_PDEATHSIG`` is): so the thread
    lives on, idle, until :meth:`close`, to be called once the stack is stopped."""

    def __init__(self, stack: Stack, faults: Sequence[Fault], recorder: Recorder | None = None) -> None:
        self.stack = stack
        self.faults = list(faults)
        self.recorder = recorder
        self.log: list[Injected] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._idle: list[threading.Event] = []
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._started = 0.0

    def start(self, started: float | None = None) -> Nemesis:
        """Begin applying the plan; its times count from ``started`` (``time.monotonic()``, now by default)."""
        self._started = time.monotonic() if started is None else started
        streams = sorted({f.stream for f in self.faults})
        self._threads = [
            threading.Thread(target=self._run, args=(i, [f for f in self.faults if f.stream == n]), daemon=True)
            for i, n in enumerate(streams)
        ]
        self._idle = [threading.Event() for _ in streams]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop applying the plan; the faults in force are healed before this returns."""
        self._stop.set()
        for idle in self._idle:
            idle.wait(timeout=60.0)

    def close(self) -> None:
        """Let the nemesis's threads end (the processes they restarted die with them: stop the stack first)."""
        self._stop.set()
        self._closed.set()
        for thread in self._threads:
            thread.join(timeout=60.0)

    def _now(self) -> float:
        return time.monotonic() - self._started

    def _run(self, index: int, faults: list[Fault]) -> None:
        try:
            self._apply(faults)
        finally:
            self._idle[index].set()
        self._closed.wait()

    def _apply(self, faults: list[Fault]) -> None:
        for fault in faults:
            if self._stop.wait(max(0.0, fault.at - self._now())):
                return
            entry = Injected(fault, round(self._now(), 3))
            with self._lock:
                self.log.append(entry)
            try:
                heal = self._inject(fault, entry)
                try:
                    self._stop.wait(fault.hold)
                finally:
                    heal()
            except Exception as exc:  # a fault that could not be applied or healed is reported, not fatal
                with self._lock:
                    self.errors.append(f"{fault.describe()}: {type(exc).__name__}: {exc}")
                entry.notes.append(f"error: {exc}")
            entry.healed = round(self._now(), 3)

    def _inject(self, fault: Fault, entry: Injected) -> Callable[[], object]:
        """Apply ``fault``; returns what heals it."""
        if fault.kind in LINK_KINDS:
            return self._break_link(fault)
        if fault.kind in PROCESS_KINDS:
            return self._break_process(fault, entry)
        return self._break_redis(fault)

    def _break_link(self, fault: Fault) -> Callable[[], object]:
        link, p = self.stack.links[fault.target], fault.params
        if fault.kind == "down":
            link.down()
            return link.up
        if fault.kind == "latency":
            return link.latency(p["ms"], jitter=p["jitter"], direction=p["direction"]).remove
        if fault.kind == "blackhole":
            return link.blackhole(direction=p["direction"]).remove
        return link.reset_peer(direction=p["direction"]).remove

    def _break_process(self, fault: Fault, entry: Injected) -> Callable[[], object]:
        process = self.stack.process(fault.target)
        if fault.kind == "pause":
            process.pause()
            return process.resume
        if fault.kind == "kill":
            process.kill()
        else:
            drain = process.terminate_and_drain(readiness_probe(self.stack, fault.target))
            entry.notes.append(f"drain: {drain.describe()}")
        return lambda: self.stack.restart(fault.target)

    def _break_redis(self, fault: Fault) -> Callable[[], object]:
        redis: Any = self.stack.redis
        if fault.kind == "redis-pause":
            redis.pause()
            resume: Callable[[], object] = redis.resume
            return resume
        if fault.kind == "redis-restart":
            redis.kill()
            return lambda: redis.restart(keep_data=True)
        if fault.kind == "redis-wipe":
            lost = None if self.recorder is None else self.recorder.invoke(NEMESIS_CLIENT, "wipe", {})
            redis.kill()

            def back_empty() -> None:
                redis.restart(keep_data=False)
                if lost is not None:
                    lost.ok({})

            return back_empty
        modes = {"redis-oom": redis.refuse_writes, "redis-readonly": redis.read_only}
        mode: ErrorMode = modes.get(fault.kind, redis.pause_writes)()
        return mode.heal

    def counts(self) -> dict[str, int]:
        """How many faults of each kind were applied."""
        found: dict[str, int] = {}
        for entry in self.log:
            found[entry.fault.kind] = found.get(entry.fault.kind, 0) + 1
        return dict(sorted(found.items()))


def heal_everything(stack: Stack) -> list[str]:
    """Lift whatever fault is left: links healed, processes resumed or restarted,
    Redis resumed, restarted, its error modes undone. Returns what it had to do."""
    done: list[str] = []
    for name, link in stack.links.items():
        if link.toxics() or not link.enabled:
            done.append(f"healed link {name}")
            link.heal()
    for process in stack.processes:
        if process.paused:
            done.append(f"resumed {process.name}")
            process.resume()
        if not process.is_running():
            done.append(f"restarted {process.name}")
            stack.restart(process.name)
    backend: Any = stack.redis_backend
    if backend is not None:
        with contextlib.suppress(Exception):
            backend.resume()
        if getattr(backend, "running", True) is False or (
            isinstance(getattr(backend, "process", None), ServiceProcess) and not backend.process.is_running()
        ):
            done.append("restarted redis")
            backend.restart(keep_data=True)
        if hasattr(backend, "heal"):
            backend.heal()
    return done
