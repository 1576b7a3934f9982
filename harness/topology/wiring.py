"""How a stack's services are told where the others are, and started.

Each reference of a service's environment (:mod:`harness.topology.declaration`)
is resolved to an address as its client dials it: through the fault proxy
when its edge is proxied. A service that serves on a socket bound for it
(``fd://N``) gets its listeners bound here and handed over, so every address
is known before anything starts and all the services start side by side; one
that does not (an older build) is told its address, and is started, and
waited for, before those that dial it. Every listener's port is held for its
service (:class:`~harness.processes.ports.PortHold`), so that a restart finds
it free.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping, Set
from typing import TYPE_CHECKING

from harness.processes.ports import PortHold
from harness.processes.service import ServiceProcess
from harness.topology.declaration import (
    REDIS,
    TEST,
    Address,
    Edge,
    MaterialValue,
    RedisPrefix,
    RedisUrl,
    Script,
    Service,
    Url,
    Value,
)
from harness.topology.programs import argv_of, takes_inherited_listener

if TYPE_CHECKING:
    from harness.topology.stack import Stack

__all__ = ["KEYS", "READY", "SPAWN", "hostport", "open_link", "start_services", "timed"]

KEYS = "materials (generate + write)"
SPAWN = "services spawned"
READY = "services → ready"


def hostport(url: str) -> str:
    """``host:port`` of a URL or of a bare address."""
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0]


@contextlib.contextmanager
def timed(timings: dict[str, float], part: str) -> Iterator[None]:
    """Add the time the block takes to ``timings[part]``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[part] = timings.get(part, 0.0) + time.perf_counter() - started


def _server_address(stack: Stack, edge: Edge) -> str:
    if edge.server == REDIS:
        return hostport(stack.redis.url)
    if edge.server in stack.stubs:
        return hostport(stack.stubs[edge.server].url)
    assert edge.listener is not None
    return stack.served[edge.server, edge.listener]


def open_link(stack: Stack, edge: Edge) -> None:
    """Put ``edge`` through the stack's fault proxy, if the stack routes it there and has not yet."""
    if edge.name not in stack.proxied or edge.name in stack.links:
        return
    if stack.proxy is None:
        raise ValueError(f"link {edge.name} needs a fault proxy (start_stack(..., proxy=...))")
    stack.links[edge.name] = stack.proxy.link(edge.name, upstream=_server_address(stack, edge))


def _reach(stack: Stack, client: str, server: str, listener: str | None, address: str) -> str:
    """``address`` of ``server`` as ``client`` dials it: through the link's proxy when it has one."""
    edge = stack.topology_edge(client, server, listener)
    link = stack.links.get(edge.name)
    return address if link is None else address.replace(hostport(address), link.listen, 1)


def _url(stack: Stack, client: str, value: Url) -> str:
    if value.listener is None:  # a stub's
        return _reach(stack, client, value.part, None, stack.stubs[value.part].url)
    return "http://" + _reach(stack, client, value.part, value.listener, stack.served[value.part, value.listener])


def _resolve(stack: Stack, client: str, value: Value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Address):
        return _reach(stack, client, value.service, value.listener, stack.served[value.service, value.listener])
    if isinstance(value, Url):
        return _url(stack, client, value)
    if isinstance(value, RedisUrl):
        return _reach(stack, client, REDIS, None, stack.redis.url)
    if isinstance(value, RedisPrefix):
        return stack.redis.key_prefix + value.suffix
    if isinstance(value, MaterialValue):
        return stack.material_values[value.material][value.key]
    raise TypeError(f"{client}: cannot resolve {value!r}")


def _resolvable(stack: Stack, service: Service, unready: Set[str]) -> bool:
    """Whether every part ``service`` dials has its addresses known, and serves or
    queues its connections (none of them is among the ``unready`` services)."""
    dialled = [
        (v.service, v.listener) if isinstance(v, Address) else (v.part, v.listener)
        for v in service.env.values()
        if isinstance(v, Address) or (isinstance(v, Url) and v.listener is not None)
    ]
    return all(part not in unready and (part, listener) in stack.served for part, listener in dialled)


def _process(
    stack: Stack, service: Service, listen: Mapping[str, str], holds: Mapping[str, PortHold]
) -> ServiceProcess:
    env = {var: _resolve(stack, service.name, value) for var, value in service.env.items()}
    env.update({service.listens[name]: addr for name, addr in listen.items()})
    env.update(stack.settings.for_service(service.name))
    if not isinstance(service.program, Script):
        env.setdefault("GOTRACEBACK", "all")  # every goroutine in a dump
    return ServiceProcess(
        service.name,
        argv_of(stack.binaries[service.name]),
        workdir=stack.workdir,
        ready_env=service.ready_file,
        listen_env=service.listens,
        coverdir=stack.coverdir(service.name),
        env=env,
        holds=list(holds.values()),
    )


def _inherits(stack: Stack, service: Service) -> bool:
    if service.inherits_listeners is not None:
        return service.inherits_listeners
    first = next(iter(service.listens.values()))
    return takes_inherited_listener(stack.binaries[service.name], first)


def _hold(stack: Stack, ours: contextlib.ExitStack) -> dict[str, dict[str, PortHold]]:
    """A held port for every listener of each service, its address known at once.
    ``ours`` lets them go should the stack not start; once started, each process holds its own."""
    holds: dict[str, dict[str, PortHold]] = {}
    for service in stack.topology.services:
        holds[service.name] = {name: PortHold() for name in service.listens}
        for name, hold in holds[service.name].items():
            ours.callback(hold.close)
            stack.served[service.name, name] = hold.address
    return holds


def _spawn(
    stack: Stack, started: contextlib.ExitStack, service: Service, holds: Mapping[str, PortHold], *, inherits: bool
) -> None:
    for edge in stack.topology.edges():
        if edge.client == service.name:
            open_link(stack, edge)
    if inherits:
        with contextlib.ExitStack() as ours:  # our copies of the handed-over sockets, closed once passed on
            bound = {name: ours.enter_context(hold.listener()) for name, hold in holds.items()}
            process = _process(stack, service, {n: f"fd://{s.fileno()}" for n, s in bound.items()}, holds)
            with timed(stack.timings, SPAWN):
                process.spawn(pass_fds=[s.fileno() for s in bound.values()])
    else:  # it binds its held ports itself, and its peers wait until it serves
        process = _process(stack, service, {n: hold.address for n, hold in holds.items()}, holds)
        with timed(stack.timings, SPAWN):
            process.spawn()
    started.callback(process.stop)
    stack.services[service.name] = process


def start_services(stack: Stack, started: contextlib.ExitStack) -> None:
    """Start every service of ``stack``; each one started is stopped by ``started`` if a later step fails.
    Then the scenarios' own edges get their links, once every address is known."""
    with contextlib.ExitStack() as ours:
        holds = _hold(stack, ours)
        inheriting = {s.name for s in stack.topology.services if _inherits(stack, s)}
        unready = {s.name for s in stack.topology.services} - inheriting
        pending = list(stack.topology.services)
        while pending:
            batch = [s for s in pending if _resolvable(stack, s, unready)]
            if not batch:
                raise ValueError(f"{stack.topology.name}: services that dial each other in a circle: {pending}")
            for service in batch:
                _spawn(stack, started, service, holds[service.name], inherits=service.name in inheriting)
                if service.name not in inheriting:  # its peers dial it once it serves
                    with timed(stack.timings, READY):
                        stack.services[service.name].wait_ready()
                    unready.discard(service.name)
            pending = [s for s in pending if s not in batch]
        ours.pop_all()  # each started process lets its own ports go when it stops
    with timed(stack.timings, READY):
        for name in inheriting:
            stack.services[name].wait_ready()
    for edge in stack.topology.edges():
        if edge.client == TEST:
            open_link(stack, edge)
