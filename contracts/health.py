"""The health contract of both services (``galaxy/README.md``, "Readiness and
health"): the standard ``grpc.health.v1`` check, the gateway's HTTP
``/readyz``, and a snapshot of every health surface of a service read at one
instant (:func:`readiness_snapshot`).

A snapshot issues its reads side by side, released together, and keeps each
read's send and receive times (monotonic nanoseconds), so a caller can tell a
real disagreement between two surfaces from skew between two reads: when every
read was in flight at one common instant (:attr:`ReadinessSnapshot.simultaneous`),
answers that differ were given about the same moment."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import grpc
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc

__all__ = ["HealthReading", "ReadinessSnapshot", "grpc_health", "grpc_surface", "readiness_snapshot"]


def grpc_health(target: str, service: str = "", timeout: float = 5.0) -> str:
    """The serving status name (``SERVING``, ``NOT_SERVING``, ...) of ``service`` at ``target``."""
    with grpc.insecure_channel(target) as channel:
        stub: Any = health_pb2_grpc.HealthStub(channel)  # the typing stubs omit the generated methods
        resp = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    name: str = health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
    return name


@dataclass(frozen=True)
class HealthReading:
    """One surface read once: ``surface`` names it (``http /readyz``, ``grpc ""``,
    ``grpc <service>``), ``answer`` is what it said (the HTTP status, the gRPC
    serving status, or the error when it gave no answer), ``ready`` its meaning
    (None: no answer); ``sent_ns`` and ``received_ns`` are ``time.monotonic_ns()``
    just before the request and just after its answer."""

    surface: str
    answer: str
    ready: bool | None
    sent_ns: int
    received_ns: int

    @property
    def seconds(self) -> float:
        return (self.received_ns - self.sent_ns) / 1e9


@dataclass(frozen=True)
class ReadinessSnapshot:
    """Every health surface of a service, read at one instant."""

    readings: tuple[HealthReading, ...]

    def reading(self, surface: str) -> HealthReading:
        for reading in self.readings:
            if reading.surface == surface:
                return reading
        raise KeyError(f"no reading of {surface!r}; read: {[r.surface for r in self.readings]}")

    @property
    def agree(self) -> bool:
        """Whether every surface answered, and all the same way."""
        return len({r.ready for r in self.readings}) == 1 and self.readings[0].ready is not None

    @property
    def ready(self) -> bool | None:
        """The answer they agree on; None when they do not (or one gave none)."""
        return self.readings[0].ready if self.agree else None

    @property
    def simultaneous(self) -> bool:
        """Whether every read was in flight at one common instant (the last was
        sent before the first was answered): their answers describe the same
        moment, so a disagreement among them is no skew between reads."""
        return max(r.sent_ns for r in self.readings) <= min(r.received_ns for r in self.readings)

    @property
    def seconds(self) -> float:
        """The slowest read's time."""
        return max(r.seconds for r in self.readings)

    def describe(self) -> str:
        start = min(r.sent_ns for r in self.readings)
        reads = ", ".join(
            f"{r.surface} {r.answer} [+{(r.sent_ns - start) / 1e6:.1f}, +{(r.received_ns - start) / 1e6:.1f} ms]"
            for r in self.readings
        )
        return f"{reads}{'' if self.simultaneous else ' (not simultaneous)'}"


def grpc_surface(service: str) -> str:
    """The name a snapshot gives the gRPC health check of ``service`` (``grpc ""`` for the whole server)."""
    return f"grpc {service}" if service else 'grpc ""'


def _read_http(url: str, timeout: float) -> tuple[str, bool | None]:
    try:
        resp = requests.get(url, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        return f"no answer: {type(exc).__name__}", None
    return str(resp.status_code), resp.status_code == 200


def _read_grpc(target: str, service: str, timeout: float) -> tuple[str, bool | None]:
    try:
        status = grpc_health(target, service, timeout)
    except grpc.RpcError as exc:
        return f"no answer: {exc.code().name if isinstance(exc, grpc.Call) else type(exc).__name__}", None
    return status, status == "SERVING"


def readiness_snapshot(
    *, http: str | None = None, grpc_target: str | None = None, services: Sequence[str] = ("",), timeout: float = 5.0
) -> ReadinessSnapshot:
    """Read every health surface at once: ``GET {http}/readyz`` (``http`` a base URL,
    as the gateway serves it; 200 is ready) and the gRPC health ``Check`` at
    ``grpc_target`` of each name in ``services`` (``""`` is the server as a whole;
    ``SERVING`` is ready). The reads start together, each on a connection of its
    own, and each waits at most ``timeout`` seconds."""
    reads: list[tuple[str, Callable[[], tuple[str, bool | None]]]] = []
    if http is not None:
        reads.append(("http /readyz", partial(_read_http, http.rstrip("/") + "/readyz", timeout)))
    if grpc_target is not None:
        reads += [(grpc_surface(name), partial(_read_grpc, grpc_target, name, timeout)) for name in services]
    if not reads:
        raise ValueError("give http, grpc_target or both: there is nothing to read")
    together = threading.Barrier(len(reads))

    def read(surface: str, ask: Callable[[], tuple[str, bool | None]]) -> HealthReading:
        together.wait(timeout)
        sent = time.monotonic_ns()
        answer, ready = ask()
        return HealthReading(surface, answer, ready, sent, time.monotonic_ns())

    with ThreadPoolExecutor(max_workers=len(reads), thread_name_prefix="readiness") as pool:
        futures = [pool.submit(read, surface, ask) for surface, ask in reads]
        return ReadinessSnapshot(tuple(f.result() for f in futures))
