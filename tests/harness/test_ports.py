"""Ports held for a part while it is down (harness.processes.ports): the kernel
gives a held port to no other process, and every part that comes back on its
port (a restarted service, a stopped stub, a link taken down, a killed Redis)
keeps it held in between, and lets it go when stopped for good."""

from __future__ import annotations

import errno
import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import fake_service

from gatewayauthsession.namespace import own_network_namespace
from harness.faults.toxiproxy import ToxiproxyServer
from harness.paths import PROJECT_ROOT
from harness.processes.ports import PortHold, PortTaken
from harness.redis.backends import FakeRedisServer
from harness.stubs.server import HttpStub

RANGE = (40000, 40007)
"""The ephemeral ports of the namespace the kernel is tried in: few, so that every one is handed out."""
THE_PORT = 40003

# Run in a network namespace of its own: the port is listened on and let go,
# held or not, then connections and binds to port 0 are made until the range
# is spent; prints which ports they were given.
SPEND_THE_RANGE = f"""
import json, socket, sys
from harness.processes.ports import PortHold
open("/proc/sys/net/ipv4/ip_local_port_range", "w").write("{RANGE[0]} {RANGE[1]}")
server = socket.create_server(("127.0.0.1", 20000))
hold = PortHold({THE_PORT}) if sys.argv[1] == "held" else None
listener = hold.listener() if hold else socket.create_server(("127.0.0.1", {THE_PORT}))
listener.close()
given = {{"connect": [], "bind0": []}}
keep = []
for kind in given:
    for _ in range(16):
        sock = socket.socket()
        keep.append(sock)
        try:
            sock.connect(("127.0.0.1", 20000)) if kind == "connect" else sock.bind(("127.0.0.1", 0))
        except OSError:
            break
        given[kind].append(sock.getsockname()[1])
for sock in keep:
    sock.close()
if hold:
    hold.listener().close()  # and its own server binds it again
print(json.dumps(given))
"""


def _given(how: str) -> dict[str, list[int]]:
    command = [*own_network_namespace(), sys.executable, "-c", SPEND_THE_RANGE, how]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False, cwd=PROJECT_ROOT)
    assert done.returncode == 0, done.stderr
    given: dict[str, list[int]] = json.loads(done.stdout)
    return given


def test_a_port_let_go_is_given_to_the_next_connection_but_a_held_one_to_nobody() -> None:
    let_go = _given("let-go")
    assert THE_PORT in let_go["connect"] + let_go["bind0"], (
        f"the class this guards against: a port let go is handed on at once ({let_go})"
    )
    held = _given("held")
    assert held["connect"], held
    assert held["bind0"] == [], f"the range was spent: {held}"
    assert THE_PORT not in held["connect"] + held["bind0"], f"a held port was handed out: {held}"
    assert set(held["connect"]) == set(range(RANGE[0], RANGE[1] + 1)) - {THE_PORT}, held


def _bound_by_someone(address: str) -> bool:
    """Whether a plain bind (no SO_REUSEADDR, as a new listener of another process) is refused.
    The tests below never connect to what they ask about, so no TIME_WAIT can refuse it."""
    host, port = address.rsplit(":", 1)
    with socket.socket() as sock:
        try:
            sock.bind((host, int(port)))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            return True
        return False


def _refused(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_a_held_port_refuses_connections_and_its_server_binds_it_again() -> None:
    with PortHold() as hold:
        assert _bound_by_someone(hold.address)
        with hold.listener() as listener:
            assert listener.getsockname()[1] == hold.port
        assert _refused(hold.address), "nothing listens on a held port"
        with hold.listener():
            pass
    assert not _bound_by_someone(hold.address), "closed, the hold lets its port go"


def test_a_port_taken_while_nothing_held_it_is_named() -> None:
    with socket.socket() as taker:
        taker.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{taker.getsockname()[1]}"
        with pytest.raises(PortTaken, match=re.escape(f"port {address} was taken by another process while nothing")):
            PortHold.of(address)
    with pytest.raises(ValueError, match=r"only ports on 127\.0\.0\.1"):
        PortHold.of("0.0.0.0:80")


def test_a_service_killed_or_halted_keeps_its_port_until_stopped(tmp_path: Path) -> None:
    proc = fake_service(tmp_path, hold=PortHold()).start()
    try:
        address = proc.address("tcp")
        proc.kill()
        assert _bound_by_someone(address), "killed, its port is still its own"
        proc.restart()
        assert proc.address("tcp") == address
        proc.halt()
        assert _bound_by_someone(address), "halted, its port is still its own"
        proc.restart()
    finally:
        proc.stop()
    assert not _bound_by_someone(address), "stopped for good, it lets its port go"


def test_a_stopped_stub_keeps_its_port_until_closed() -> None:
    stub = HttpStub().start()
    address = stub.url.removeprefix("http://")
    stub.stop()
    assert _bound_by_someone(address)
    stub.start()
    assert stub.url == f"http://{address}"
    stub.close()
    assert not _bound_by_someone(address)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToxiproxyServer]:
    with ToxiproxyServer(tmp_path_factory.mktemp("toxiproxy")) as server:
        yield server


def test_a_link_down_keeps_its_port_until_deleted(proxy: ToxiproxyServer) -> None:
    with PortHold() as upstream:
        link = proxy.link("client->nobody", upstream.address)
        link.down()
        assert _bound_by_someone(link.listen)
        link.up()
        link.delete()
        assert not _bound_by_someone(link.listen)


def test_a_killed_fakeredis_keeps_its_port_until_stopped() -> None:
    server = FakeRedisServer()
    address = server.url.removeprefix("redis://").split("/")[0]
    try:
        server.kill()
        assert _bound_by_someone(address)
        server.restart(keep_data=False)
    finally:
        server.stop()
    assert not _bound_by_someone(address)
