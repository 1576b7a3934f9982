"""How the suite's stack starts its two services: side by side when authsession takes an
inherited listener, one after the other for a build from before that (a skew run's BASE)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import socket
from pathlib import Path

import pytest

from gatewayauthsession.stack import Stack
from gatewayauthsession.topology import TOPOLOGY
from harness.builds.binary import Binary, build
from harness.faults.toxiproxy import ToxiproxyServer
from harness.processes.service import ServiceProcess
from harness.topology.stack import READY, SPAWN, start_stack, takes_inherited_listener

GRPC_ADDR = "AUTHSESSION_GRPC_ADDR"

OLDER = """#!/bin/sh
echo 'authsession: configuration: AUTHSESSION_GRPC_ADDR="fd://0": want host:port; the port must be a number' >&2
echo 'authsession: configuration: AUTHSESSION_REDIS_URL is required' >&2
exit 2
"""


def _script(tmp_path: Path, text: str) -> Binary:
    path = tmp_path / "authsession"
    path.write_text(text)
    path.chmod(0o755)
    return Binary(service="authsession", mode="plain", path=path, cached=True)


def test_the_working_tree_authsession_takes_an_inherited_listener() -> None:
    assert takes_inherited_listener(build("authsession"), GRPC_ADDR)


@pytest.mark.parametrize(
    "text",
    [OLDER, "#!/bin/sh\nexit 0\n", "#!/bin/sh\necho 'AUTHSESSION_GRPC_ADDR=\"fd://0\": want fd://N' >&2\nexit 1\n"],
    ids=["wants-host-port", "exits-0", "another-exit-code"],
)
def test_a_build_that_does_not_say_so_is_started_first(tmp_path: Path, text: str) -> None:
    assert not takes_inherited_listener(_script(tmp_path, text), GRPC_ADDR)


def test_the_gateway_starts_beside_authsession_on_the_socket_bound_for_it(tmp_path: Path) -> None:
    binaries = {name: build(name) for name in ("authsession", "gateway")}
    stack = start_stack(TOPOLOGY, tmp_path, binaries)
    assert isinstance(stack, Stack)
    try:
        authsession, gateway = stack.authsession, stack.gateway
        assert authsession.env["AUTHSESSION_GRPC_ADDR"].startswith("fd://"), authsession.env["AUTHSESSION_GRPC_ADDR"]
        assert gateway.env["GATEWAY_AUTHSESSION_ADDR"] == authsession.address("grpc"), (
            "the gateway must dial the address authsession serves on"
        )
        assert set(stack.timings) >= {SPAWN, READY}
        api = stack.api("http")  # the gateway's first call reaches authsession on the handed-over socket
        challenge = api.start_email_login("side-by-side@example.com")
        login = api.confirm_email_login(challenge.challenge_id, stack.mail.last_code("side-by-side@example.com"))
        assert login.access_token
        stack.restart("authsession")  # a new incarnation binds the same address itself
        assert stack.authsession.address("grpc") == gateway.env["GATEWAY_AUTHSESSION_ADDR"]
    finally:
        stack.stop()


def test_the_private_key_goes_with_the_stack(tmp_path: Path) -> None:
    stack = start_stack(TOPOLOGY, tmp_path, {name: build(name) for name in ("authsession", "gateway")})
    try:
        assert [p.suffix for p in (tmp_path / "keys").iterdir()] != [], "the services read their keys from files"
    finally:
        stack.stop()
    assert not (tmp_path / "keys").exists()
    assert (tmp_path / "authsession.log").exists(), "the logs stay"


def test_a_stack_that_fails_to_start_leaves_no_key_behind(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    binaries = {"authsession": _script(tmp_path / "bin", "#!/bin/sh\nexit 3\n"), "gateway": build("gateway")}
    with pytest.raises(Exception, match="exit"):
        start_stack(TOPOLOGY, tmp_path / "work", binaries)
    assert not (tmp_path / "work" / "keys").exists()


def _held_here(ports: set[int]) -> set[int]:
    """Which of ``ports`` a socket of this process is bound to (a hold, or a listener not yet handed over)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone by now
            if not os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                continue
            with socket.socket(fileno=os.dup(int(fd))) as sock:
                if sock.family == socket.AF_INET and sock.getsockname()[1] in ports:
                    found.add(sock.getsockname()[1])
    return found


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


def test_every_port_of_a_stack_stays_its_own_while_a_part_is_down_and_goes_with_it(tmp_path: Path) -> None:
    binaries = {name: build(name) for name in ("authsession", "gateway")}
    proxy = ToxiproxyServer(tmp_path / "proxy").start()
    stack = start_stack(TOPOLOGY, tmp_path / "work", binaries, proxy=proxy, links="all")
    try:
        ports = {_port(address) for address in stack.served.values()} | {link.port for link in stack.links.values()}
        assert _held_here(ports) == ports, "every service's and every link's port is held from the start"
        stack.process("authsession").kill()
        stack.link("gateway", "authsession").down()
        assert _held_here(ports) == ports, "down, a service and a link keep their ports"
        stack.restart("authsession")
        stack.heal()
    finally:
        stack.stop()
        proxy.stop()
    assert _held_here(ports) == set(), "the stack lets every port go when it stops"


def test_a_build_that_takes_no_inherited_listener_is_told_its_held_port_and_serves_before_its_peers_start(
    tmp_path: Path,
) -> None:
    older = tuple(
        dataclasses.replace(s, inherits_listeners=False) if s.name == "authsession" else s for s in TOPOLOGY.services
    )
    # Its dialler declared first: the order comes from who dials whom, not from the declaration's.
    topology = dataclasses.replace(TOPOLOGY, services=tuple(sorted(older, key=lambda s: s.name != "gateway")))
    stack = start_stack(topology, tmp_path, {name: build(name) for name in ("authsession", "gateway")})
    try:
        authsession, gateway = stack.process("authsession"), stack.process("gateway")
        told = authsession.env[GRPC_ADDR]
        assert told == stack.served["authsession", "grpc"] == authsession.address("grpc"), told
        assert _held_here({_port(told)}) == {_port(told)}
        serving = _logged(authsession, "serving")
        starting = _logged(gateway, "starting")
        assert serving < starting, f"authsession served at {serving}, the gateway started at {starting}"
    finally:
        stack.stop()


def _logged(process: ServiceProcess, msg: str) -> float:
    """When ``process`` first logged ``msg``, in seconds since the epoch (its records' RFC 3339 ``time``)."""
    for line in process.log_text().splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if record.get("msg") == msg:
                whole, _, fraction = str(record["time"]).removesuffix("Z").partition(".")
                at = datetime.datetime.fromisoformat(whole).replace(tzinfo=datetime.UTC)
                return at.timestamp() + float(f"0.{fraction or 0}")
    raise AssertionError(f"{process.name} never logged {msg!r}:\n{process.log_text()}")
