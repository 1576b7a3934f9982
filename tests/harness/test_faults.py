"""The fault layer: toxiproxy links and every toxic, process signals and
restarts on the same address, and Redis killed, frozen and restarted."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
import redis
import requests
from fakes import fake_service

from harness.faults.toxiproxy import KEEPS_CONNECTIONS, Link, ToxiproxyError, ToxiproxyServer
from harness.processes.service import ServiceProcess
from harness.redis.backends import FakeRedisServer, RedisServerProcess, redis_server_binary


def _round_trip(addr: str, payload: bytes = b"ping", timeout: float = 2.0) -> tuple[bytes, float]:
    """Send ``payload`` and read it back; the answer and the seconds it took."""
    host, port = addr.rsplit(":", 1)
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
    return got, time.monotonic() - started


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToxiproxyServer]:
    with ToxiproxyServer(tmp_path_factory.mktemp("toxiproxy")) as server:
        yield server


@pytest.fixture(scope="module")
def echo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    with fake_service(tmp_path_factory.mktemp("echo")) as proc:
        yield proc


@pytest.fixture
def link(proxy: ToxiproxyServer, echo: ServiceProcess) -> Iterator[Link]:
    made = proxy.link("client->echo", echo.address("tcp"))
    yield made
    made.delete()


# ------------------------------------------------------------ toxiproxy


def test_a_link_forwards_on_a_port_of_its_own(link: Link, echo: ServiceProcess) -> None:
    assert link.port != 0
    assert link.upstream == echo.address("tcp")
    assert _round_trip(link.listen)[0] == b"ping"


def test_latency_delays_the_answer_and_removing_it_restores_the_link(link: Link) -> None:
    with link.latency(ms=300):
        got, seconds = _round_trip(link.listen)
        assert got == b"ping"
        assert seconds >= 0.3, f"answered after {seconds:.3f}s, under the 300 ms latency"
    assert link.toxics() == []
    assert _round_trip(link.listen)[1] < 0.3


def test_latency_upstream_delays_the_request(link: Link) -> None:
    with link.latency(ms=200, direction="upstream") as toxics:
        assert [t.stream for t in toxics.toxics] == ["upstream"]
        assert _round_trip(link.listen)[1] >= 0.2


def test_toxicity_zero_leaves_the_link_alone(link: Link) -> None:
    with link.latency(ms=1000, toxicity=0.0):
        assert _round_trip(link.listen)[1] < 1.0


def test_down_refuses_connections_and_up_restores_them(link: Link) -> None:
    with link.outage():
        with pytest.raises(ConnectionRefusedError):
            _round_trip(link.listen)
        assert not link.enabled
    assert _round_trip(link.listen)[0] == b"ping"


def test_blackhole_holds_the_connection_and_answers_nothing(link: Link) -> None:
    with link.blackhole(), pytest.raises(TimeoutError):
        _round_trip(link.listen, timeout=0.3)
    assert _round_trip(link.listen)[0] == b"ping"


def test_timeout_closes_the_connection_after_its_delay(link: Link) -> None:
    with link.timeout(ms=100):
        got, seconds = _round_trip(link.listen)
    assert got == b"", f"data passed a timeout toxic: {got!r}"
    assert 0.1 <= seconds < 2


def test_reset_peer_resets_the_connection(link: Link) -> None:
    with link.reset_peer(), pytest.raises(ConnectionResetError):
        _round_trip(link.listen)


def test_bandwidth_slows_a_large_answer(link: Link) -> None:
    payload = b"x" * 40_000
    with link.bandwidth(kb_per_s=100):  # 40 KB at 100 KB/s: about 0.4 s
        got, seconds = _round_trip(link.listen, payload)
    assert got == payload
    assert seconds >= 0.25, f"40 KB took {seconds:.3f}s through a 100 KB/s link"


def test_slicer_delivers_everything_in_pieces(link: Link) -> None:
    payload = b"y" * 2000
    with link.slicer(average_size=10, delay_us=1000):
        got, seconds = _round_trip(link.listen, payload)
    assert got == payload
    assert seconds >= 0.1, f"200 slices 1 ms apart came in {seconds:.3f}s"


def test_limit_data_cuts_the_connection_after_its_bytes(link: Link) -> None:
    with link.limit_data(nbytes=3):
        got, _ = _round_trip(link.listen, b"abcdefgh")
    assert got == b"abc"


def test_slow_close_delays_the_close(proxy: ToxiproxyServer) -> None:
    server = socket.create_server(("127.0.0.1", 0))

    def greet_and_hang_up() -> None:  # an upstream that closes first
        conn, _ = server.accept()
        with conn:
            conn.sendall(b"bye")

    threading.Thread(target=greet_and_hang_up, daemon=True).start()
    link = proxy.link("client->closer", f"127.0.0.1:{server.getsockname()[1]}")
    try:
        started = time.monotonic()  # the delay runs from the upstream's close, which follows the connect
        with link.slow_close(ms=300), socket.create_connection(("127.0.0.1", link.port), timeout=3) as sock:
            got = b""
            while chunk := sock.recv(100):
                got += chunk
            seconds = time.monotonic() - started
    finally:
        link.delete()
        server.close()
    assert got == b"bye"
    assert seconds >= 0.3, f"the connection closed after {seconds:.3f}s, under the 300 ms slow_close"


def test_heal_removes_every_toxic_and_brings_the_link_up(link: Link) -> None:
    link.latency(ms=500)
    link.reset_peer()
    link.down()
    link.heal()
    assert link.toxics() == []
    assert link.enabled
    assert _round_trip(link.listen)[0] == b"ping"


def test_a_toxic_comes_off_at_once_with_delayed_data_in_flight(link: Link) -> None:
    """A latency toxic removed under traffic passes the data it held on at once,
    and the connections it held stay open (no rebuild, toxiproxy#558)."""
    host, port = link.listen.rsplit(":", 1)
    held = [socket.create_connection((host, int(port)), timeout=5) for _ in range(4)]
    try:
        toxics = link.latency(ms=3000)
        for sock in held:
            sock.sendall(b"in flight")
        time.sleep(0.1)
        started = time.monotonic()
        toxics.remove()
        took = time.monotonic() - started
        echoed = [sock.recv(100) for sock in held]
        arrived = time.monotonic() - started
    finally:
        for sock in held:
            sock.close()
    assert took < 2, f"removing the toxic took {took:.2f}s: it waited for the delayed data"
    assert echoed == [b"in flight"] * 4
    assert arrived < 2, f"the held data came {arrived:.2f}s after the removal, not at once"
    assert link.rebuilds == 0
    assert link.toxics() == []
    got, seconds = _round_trip(link.listen)
    assert (got, seconds < 1) == (b"ping", True), f"after the removal: {got!r} in {seconds:.2f}s"


def _usable(sock: socket.socket) -> bool:
    """Whether a connection still carries an echo."""
    try:
        sock.sendall(b"still there?")
        return sock.recv(100) == b"still there?"
    except OSError:  # reset, broken pipe, timed out
        return False


# Each fault a heal lifts, by the toxic type of KEEPS_CONNECTIONS it adds ("down": the link taken down).
HEALED_FAULTS: dict[str, Callable[[Link], object]] = {
    "latency": lambda link: link.latency(ms=100),
    "bandwidth": lambda link: link.bandwidth(kb_per_s=10),
    "slicer": lambda link: link.slicer(average_size=2),
    "slow_close": lambda link: link.slow_close(ms=100),
    "limit_data": lambda link: link.limit_data(nbytes=1000),
    "reset_peer": lambda link: link.reset_peer(),
    "timeout": lambda link: link.timeout(ms=60_000),
    "blackhole": lambda link: link.blackhole(),
    "down": lambda link: link.down(),
}


@pytest.mark.parametrize("fault", HEALED_FAULTS)
def test_a_heal_keeps_a_connection_open_across_it_where_toxiproxy_allows(link: Link, fault: str) -> None:
    """A connection opened before the fault, idle through it: usable after the heal
    exactly as KEEPS_CONNECTIONS says (a downed link closes every connection)."""
    host, port = link.listen.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=2) as sock:
        assert _usable(sock)
        HEALED_FAULTS[fault](link)
        link.heal()
        kept = _usable(sock)
    want = KEEPS_CONNECTIONS.get("timeout" if fault == "blackhole" else fault, False)
    assert kept == want, f"after healing {fault}: the connection {'stayed' if kept else 'was closed'}"
    assert link.rebuilds == 0
    assert (link.toxics(), link.enabled) == ([], True)
    assert _round_trip(link.listen)[0] == b"ping"


def test_a_removal_that_hangs_rebuilds_the_proxy_with_the_toxics_that_stay(
    link: Link, monkeypatch: pytest.MonkeyPatch
) -> None:
    """toxiproxy#558: a toxic's removal that is not answered in time is given up;
    the proxy is rebuilt on its port with the other toxics, cutting its connections."""
    slow = link.latency(ms=300)
    stuck = link.bandwidth(kb_per_s=1000)
    request = link.server.request

    def hangs_on_toxic_delete(method: str, path: str, json: object = None, *, timeout: float = 10.0) -> object:
        if method == "DELETE" and "/toxics/" in path:
            raise requests.Timeout(f"{path}: no answer in {timeout}s")
        return request(method, path, json, timeout=timeout)

    host, port = link.listen.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=2) as sock:
        assert _usable(sock)
        monkeypatch.setattr(link.server, "request", hangs_on_toxic_delete)
        stuck.remove()
        monkeypatch.undo()
        assert not _usable(sock), "a rebuilt proxy keeps no connection"
    assert link.rebuilds == 1
    assert [t.kind for t in link.toxics()] == ["latency"]
    got, seconds = _round_trip(link.listen)
    assert got == b"ping"
    assert seconds >= 0.3, "the latency that stays was not put back"
    slow.remove()


def test_removing_one_toxic_keeps_the_others(link: Link) -> None:
    slow = link.latency(ms=200)
    with link.bandwidth(kb_per_s=1000):
        pass  # removed: the latency stays
    assert [t.kind for t in link.toxics()] == ["latency"]
    assert _round_trip(link.listen)[1] >= 0.2
    slow.remove()
    assert _round_trip(link.listen)[1] < 0.2


def test_a_toxic_removed_while_the_link_is_down_leaves_it_down(link: Link) -> None:
    toxics = link.latency(ms=100)
    link.down()
    toxics.remove()
    assert not link.enabled
    with pytest.raises(ConnectionRefusedError):
        _round_trip(link.listen)
    link.up()
    assert _round_trip(link.listen)[0] == b"ping"


def test_bad_toxic_arguments_are_refused(link: Link) -> None:
    with pytest.raises(ValueError, match="toxicity"):
        link.latency(ms=1, toxicity=2)
    with pytest.raises(ValueError, match="direction"):
        link.latency(ms=1, direction="sideways")  # type: ignore[arg-type]
    with pytest.raises(ToxiproxyError, match="no_such_toxic"):
        link.add("no_such_toxic")


def test_a_deleted_link_closes_its_port(proxy: ToxiproxyServer, echo: ServiceProcess) -> None:
    made = proxy.link("client->echo", echo.address("tcp"))
    made.delete()
    assert made not in proxy.links()
    with pytest.raises(ConnectionRefusedError):
        _round_trip(made.listen)


# ------------------------------------------------------------ processes


def test_a_paused_process_answers_nothing_until_resumed(tmp_path: Path) -> None:
    with fake_service(tmp_path) as proc:
        proc.pause()
        states = {t.id: psutil.Process(t.id).status() for t in psutil.Process(proc.pid).threads()}
        assert set(states.values()) == {psutil.STATUS_STOPPED}, f"pause() returned with threads running: {states}"
        assert "paused" in repr(proc)
        with pytest.raises(TimeoutError):
            _round_trip(proc.address("tcp"), timeout=0.3)
        proc.resume()
        assert _round_trip(proc.address("tcp"))[0] == b"ping"


def test_a_paused_process_still_stops(tmp_path: Path) -> None:
    proc = fake_service(tmp_path).start()
    proc.pause()
    assert proc.stop() == 0, "SIGTERM must reach a paused process (it is resumed to take it)"


def test_kill_is_a_crash_and_restart_comes_back_on_the_same_address(tmp_path: Path) -> None:
    with fake_service(tmp_path) as proc:
        addr, first_pid = proc.address("tcp"), proc.pid
        assert proc.kill() == -9
        with pytest.raises(ConnectionRefusedError):
            _round_trip(addr)
        proc.restart()
        assert proc.pid != first_pid
        assert proc.address("tcp") == addr
        assert _round_trip(addr)[0] == b"ping"


def test_every_incarnation_keeps_its_log(tmp_path: Path) -> None:
    with fake_service(tmp_path) as proc:
        proc.restart(env={"FAKE_MODE": "ready"})
        proc.restart()
        assert [p.name for p in proc.incarnations] == ["fake.1.log", "fake.2.log"]
        text = proc.all_logs_text()
        assert text.count("fake service starting") == 3, text
        assert "--- fake.1.log" in text
        assert "(current)" in text


def test_a_process_needs_exactly_one_way_to_tell_it_is_ready(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ServiceProcess("x", ["true"], env={}, workdir=tmp_path)
    with pytest.raises(ValueError, match="exactly one"):
        ServiceProcess("x", ["true"], env={}, workdir=tmp_path, ready_env="X", ready_probe=lambda _: {})


def test_faults_on_a_stopped_process_say_so(tmp_path: Path) -> None:
    proc = fake_service(tmp_path).start()
    proc.stop()
    with pytest.raises(RuntimeError, match="not running"):
        proc.pause()


# ------------------------------------------------------------ Redis


def _ping(url: str) -> bool:
    return bool(redis.Redis.from_url(url, socket_timeout=0.3, socket_connect_timeout=0.3).ping())


def test_fakeredis_restarts_on_its_port_with_or_without_its_data() -> None:
    with FakeRedisServer() as server:
        server.client().set("k", "v")
        url = server.url
        server.restart(keep_data=True)
        assert server.url == url
        assert server.client().get("k") == "v"
        server.restart(keep_data=False)
        assert server.client().get("k") is None


def test_fakeredis_killed_cuts_open_connections_and_refuses_new_ones() -> None:
    with FakeRedisServer() as server:
        held = server.client()
        held.ping()
        server.kill()
        with pytest.raises(redis.ConnectionError):
            held.ping()
        with pytest.raises(redis.ConnectionError):
            _ping(server.url)
        server.restart(keep_data=True)
        assert _ping(server.url)


def test_fakeredis_paused_holds_connections_and_answers_nothing() -> None:
    with FakeRedisServer() as server:
        server.pause()
        with pytest.raises(redis.TimeoutError):
            _ping(server.url)
        server.resume()
        assert _ping(server.url)


needs_redis_server = pytest.mark.skipif(
    redis_server_binary() is None, reason="no redis-server on PATH (.ci/run installs it; apt-get install redis-server)"
)


@needs_redis_server
def test_an_owned_redis_server_is_killed_frozen_and_restarted(tmp_path: Path) -> None:
    with RedisServerProcess(tmp_path) as server:
        server.client().set("k", "v")
        server.pause()
        with pytest.raises(redis.TimeoutError):
            _ping(server.url)
        server.resume()
        server.kill()
        with pytest.raises(redis.ConnectionError):
            _ping(server.url)
        server.restart(keep_data=True)
        assert server.client().get("k") == "v", "an append-only file survives a kill"
        server.restart(keep_data=False)
        assert server.client().get("k") is None
