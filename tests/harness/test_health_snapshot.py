"""contracts.health's readiness snapshot against a stand-in service: an HTTP
``/readyz`` and a gRPC health server whose answers a test sets, each slow
enough that reads issued together are in flight at one instant."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from contracts.health import HealthReading, ReadinessSnapshot, grpc_surface, readiness_snapshot
from harness.processes.ports import PortHold

SERVICE = "example.v1.Orders"
DELAY = 0.2  # each surface's answer time


class _SlowHealth(health.HealthServicer):
    def Check(self, request: Any, context: Any) -> Any:
        time.sleep(DELAY)
        return super().Check(request, context)


@dataclass
class Standin:
    http: str
    grpc: str
    health: health.HealthServicer
    readyz: list[int]  # the status /readyz answers

    def set_grpc(self, service: str, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        self.health.set(service, status)


@pytest.fixture
def standin() -> Iterator[Standin]:
    readyz = [200]

    class Readyz(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(DELAY)
            self.send_response(readyz[0] if self.path == "/readyz" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    web = ThreadingHTTPServer(("127.0.0.1", 0), Readyz)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    servicer = _SlowHealth()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    made = Standin(f"http://127.0.0.1:{web.server_address[1]}", f"127.0.0.1:{port}", servicer, readyz)
    made.set_grpc("", serving=True)
    made.set_grpc(SERVICE, serving=True)
    try:
        yield made
    finally:
        server.stop(grace=None)
        web.shutdown()
        web.server_close()


def _snapshot(standin: Standin) -> ReadinessSnapshot:
    return readiness_snapshot(http=standin.http, grpc_target=standin.grpc, services=("", SERVICE), timeout=5)


def test_every_surface_is_read_at_one_instant(standin: Standin) -> None:
    started = time.monotonic()
    snap = _snapshot(standin)
    took = time.monotonic() - started
    assert [r.surface for r in snap.readings] == ["http /readyz", 'grpc ""', f"grpc {SERVICE}"]
    assert [r.answer for r in snap.readings] == ["200", "SERVING", "SERVING"]
    assert (snap.agree, snap.ready) == (True, True)
    assert snap.simultaneous, snap.describe()
    assert took < 3 * DELAY, f"three reads of {DELAY}s each took {took:.2f}s: they were not issued together"
    assert all(r.seconds >= DELAY for r in snap.readings), snap.describe()


def test_a_real_disagreement_is_told_apart(standin: Standin) -> None:
    standin.set_grpc(SERVICE, serving=False)
    snap = _snapshot(standin)
    assert not snap.agree
    assert snap.ready is None
    assert snap.simultaneous, "the reads overlapped: this is a disagreement, not skew"
    assert snap.reading(grpc_surface(SERVICE)).answer == "NOT_SERVING"
    assert snap.reading(grpc_surface("")).ready is True
    assert "NOT_SERVING" in snap.describe()


def test_not_ready_everywhere_agrees(standin: Standin) -> None:
    standin.readyz[0] = 503
    standin.set_grpc("", serving=False)
    standin.set_grpc(SERVICE, serving=False)
    snap = _snapshot(standin)
    assert (snap.agree, snap.ready) == (True, False), snap.describe()
    assert snap.reading("http /readyz").answer == "503"


def test_a_surface_that_does_not_answer_is_no_answer(standin: Standin) -> None:
    with PortHold() as nobody:
        snap = readiness_snapshot(http=standin.http, grpc_target=nobody.address, timeout=2)
    grpc_read = snap.reading('grpc ""')
    assert grpc_read.ready is None
    assert grpc_read.answer == "no answer: UNAVAILABLE"
    assert not snap.agree
    assert snap.ready is None


def test_reads_that_never_overlapped_are_not_simultaneous() -> None:
    ms = 1_000_000
    apart = ReadinessSnapshot(
        (HealthReading("a", "200", True, 0, 5 * ms), HealthReading("b", "503", False, 6 * ms, 9 * ms))
    )
    assert not apart.simultaneous
    assert "(not simultaneous)" in apart.describe()
    overlapping = ReadinessSnapshot(
        (HealthReading("a", "200", True, 0, 5 * ms), HealthReading("b", "200", True, 5 * ms, 9 * ms))
    )
    assert overlapping.simultaneous
    assert overlapping.seconds == pytest.approx(0.005)


def test_a_snapshot_needs_a_surface() -> None:
    with pytest.raises(ValueError, match="nothing to read"):
        readiness_snapshot()
