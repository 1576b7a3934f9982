"""A running stack of a declared :class:`~harness.topology.declaration.Topology`.

:func:`start_stack` raises every part of the declaration: its Redis, its
stubs, its materials, then every service side by side. A service that serves
on a socket bound for it (``fd://N``, ``Service.inherits_listeners``) gets its
listeners bound here and handed over, so its peers start at once and their
first connections wait in the socket's queue; one that does not (an older
build) is started first and its addresses read from its ready file.

Faults: any edge of the declaration can go through the fault proxy
(``links=("gateway->authsession",)`` or ``"all"``), so a scenario can break it
(``stack.link("gateway", "authsession").latency(ms=3000)``), the scenarios'
own edges to the services included; the processes take signals
(``stack.process("authsession").pause()``, ``stack.restart("authsession")``)
and the stack's own Redis can be killed, frozen or restarted. Links are direct
unless asked for, so ordinary scenarios pay nothing.

How each service is told the others' addresses and started is
:mod:`harness.topology.wiring`; what a stack is checked for after a test,
:mod:`harness.topology.checks`.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.builds.binary import Binary
from harness.faults.toxiproxy import Link, ToxiproxyServer
from harness.processes.service import ServiceProcess
from harness.redis.backends import FakeRedisServer, RedisBackend
from harness.topology.checks import StackChecks
from harness.topology.declaration import TEST, Edge, Topology, load
from harness.topology.programs import argv_of, takes_inherited_listener
from harness.topology.settings import Settings
from harness.topology.wiring import KEYS, READY, SPAWN, hostport, start_services, timed

__all__ = ["KEYS", "READY", "SPAWN", "CoverDir", "Stack", "hostport", "start_stack", "takes_inherited_listener"]

CoverDir = Callable[[str], "Path | None"]


def _no_coverage(service: str) -> Path | None:
    return None


class Stack(StackChecks):
    """The running parts of one topology. Suites may subclass it for typed,
    domain-named access to their parts (``Topology.stack``)."""

    def __init__(
        self,
        topology: Topology,
        workdir: Path,
        binaries: Mapping[str, Binary],
        settings: Settings,
        redis: RedisBackend | None,
        *,
        coverdir: CoverDir = _no_coverage,
        proxy: ToxiproxyServer | None = None,
        links: Iterable[str] = (),
        timings: dict[str, float] | None = None,
    ) -> None:
        self.topology = topology
        self.workdir = workdir
        self.binaries = dict(binaries)
        self.settings = settings
        self.redis_backend = redis
        self.coverdir = coverdir
        self.proxy = proxy
        self.proxied = _proxied(topology, links)
        self.timings: dict[str, float] = timings if timings is not None else {}
        """How long :func:`start_stack` took for each part, in seconds (what ``nox -s bench`` breaks a start into)."""
        self.stubs: dict[str, Any] = {}
        self.materials: dict[str, Any] = {}
        self.material_values: dict[str, dict[str, str]] = {}
        self.services: dict[str, ServiceProcess] = {}
        self.links: dict[str, Link] = {}
        self.before_restart: list[Callable[[], None]] = []
        """Called before :meth:`restart` stops a process (to read what goes with it)."""
        self.on_close: list[Callable[[], None]] = []
        """Called first by :meth:`stop` (a suite's clients close here)."""
        self.secret_sources: list[Callable[[], Iterable[str]]] = []
        """What must never reach a service log besides the stubs' ``secrets()`` (tokens a client received)."""
        self.trace_id: str | None = None
        """The test's own trace id, which its calls send on (set by whoever raised the stack)."""
        self.served: dict[tuple[str, str], str] = {}
        """Where each service serves each listener, ``(service, listener) -> host:port`` (not through a proxy)."""

    # ------------------------------------------------------------ parts

    @property
    def redis(self) -> RedisBackend:
        if self.redis_backend is None:
            raise ValueError(f"{self.topology.name} declares no Redis")
        return self.redis_backend

    def stub(self, name: str) -> Any:
        """The stub called ``name``."""
        try:
            return self.stubs[name]
        except KeyError:
            raise ValueError(f"{self.topology.name} has no stub {name!r}; it has {sorted(self.stubs)}") from None

    def material(self, name: str) -> Any:
        """The material called ``name`` (the object whose files the services read)."""
        try:
            return self.materials[name]
        except KeyError:
            raise ValueError(
                f"{self.topology.name} has no material {name!r}; it has {sorted(self.materials)}"
            ) from None

    @property
    def processes(self) -> tuple[ServiceProcess, ...]:
        return tuple(self.services.values())

    def process(self, name: str) -> ServiceProcess:
        """The process of service ``name``."""
        try:
            return self.services[name]
        except KeyError:
            raise ValueError(f"no service {name!r} in this stack; it has {sorted(self.services)}") from None

    def address(self, service: str, listener: str) -> str:
        """Where a scenario reaches ``service``'s ``listener``: through the fault
        proxy when the scenarios' edge to it goes through one; the listener's own
        address when it has none (one the topology's ``clients`` do not name has none)."""
        edges = self.topology.edges()
        link = next(
            (self.links.get(e.name) for e in edges if (e.client, e.server, e.listener) == (TEST, service, listener)),
            None,
        )
        return link.listen if link is not None else self.process(service).address(listener)

    def topology_edge(self, client: str, server: str, listener: str | None = None) -> Edge:
        for edge in self.topology.edges():
            if edge.client == client and edge.server == server and (listener is None or edge.listener == listener):
                return edge
        raise ValueError(
            f"{self.topology.name} declares no edge {client}->{server}"
            + (f"/{listener}" if listener else "")
            + f"; its edges: {[e.name for e in self.topology.edges()]}"
        )

    def link(self, client: str, server: str, listener: str | None = None) -> Link:
        """The fault-proxy link from ``client`` to ``server``
        (``stack.link("gateway", "authsession").latency(ms=3000)``)."""
        name = self.topology_edge(client, server, listener).name
        if name not in self.links:
            raise ValueError(
                f"link {name} does not go through the fault proxy in this stack: "
                f'mark the test @pytest.mark.stack(links=("{name}",)) (or links="all"); '
                f"proxied here: {sorted(self.links) or 'none'}"
            )
        return self.links[name]

    def describe_links(self) -> str:
        if not self.links:
            return "no link goes through the fault proxy"
        return "\n".join(repr(link) for link in self.links.values())

    # ------------------------------------------------------------ faults

    def restart(self, name: str, binary: Binary | None = None, **env: str) -> None:
        """Restart service ``name`` on the same addresses (its peers reconnect
        with no new configuration), with ``env`` merged into its environment,
        and onto ``binary`` (another version of it) when one is given."""
        if binary is not None and binary.service != self.topology.service(name).command:
            raise ValueError(f"cannot restart {name} onto a build of {binary.service}")
        for hook in self.before_restart:
            hook()
        self.process(name).restart(env=env, argv=argv_of(binary) if binary is not None else None)

    def heal(self) -> None:
        """Lift every fault a scenario set: links healed, paused processes
        resumed (a killed one stays down until restarted)."""
        for link in self.links.values():
            link.heal()
        for proc in self.processes:
            if proc.paused:
                proc.resume()

    # ------------------------------------------------------------ stop

    def stop(self) -> None:
        """Stop every part, the services first (those that dial others before them); idempotent."""
        for hook in self.on_close:
            hook()
        for proc in reversed(self.processes):
            proc.stop()
        for stub in self.stubs.values():
            _stop_for_good(stub)
        self._close_links()
        if self.redis_backend is not None:
            self.redis_backend.stop()
        self._remove_materials()

    def _remove_materials(self) -> None:
        """What the materials wrote (private keys) goes with the stack: no run leaves key material behind."""
        for name in self.topology.materials:
            shutil.rmtree(self.workdir / name, ignore_errors=True)

    def _close_links(self) -> None:
        for link in self.links.values():
            link.delete()
        self.links.clear()


def _stop_for_good(stub: Any) -> None:
    """``close()`` a stub that has it (what it holds, such as its port, is let go), else ``stop()`` it."""
    getattr(stub, "close", stub.stop)()


def _proxied(topology: Topology, links: Iterable[str] | str) -> set[str]:
    """The edges to route through the fault proxy, by name, checked against the topology's."""
    names = [e.name for e in topology.edges()]
    if links == "all":
        return set(names)
    wanted = [links] if isinstance(links, str) else list(links)
    unknown = [name for name in wanted if name not in names]
    if unknown:
        raise ValueError(f"unknown links {unknown}; {topology.name}'s edges: {names} or 'all'")
    return set(wanted)


def start_stack(
    topology: Topology,
    workdir: Path,
    binaries: Mapping[str, Binary],
    settings: Settings | None = None,
    *,
    redis: RedisBackend | None = None,
    coverdir: CoverDir = _no_coverage,
    proxy: ToxiproxyServer | None = None,
    links: Iterable[str] | str = (),
) -> Stack:
    """Start a whole stack of ``topology``; on any failure, stop what was started and re-raise.

    ``binaries`` maps each service to its build; ``redis`` is the backend (a
    fakeredis server of the stack's own by default); ``coverdir(service)`` names
    the GOCOVERDIR of a ``-cover`` build's process; ``proxy`` is the fault proxy
    that carries the ``links`` named (shared by many stacks: each adds and
    removes its own).
    """
    _proxied(topology, links)  # an unknown link name fails before anything starts
    timings: dict[str, float] = {}
    with contextlib.ExitStack() as started:
        if redis is None and topology.redis is not None:
            with timed(timings, "fakeredis server"):
                redis = FakeRedisServer(topology.redis.prefix)
        if redis is not None:
            started.callback(redis.stop)
        cls: type[Stack] = load(topology.stack) if topology.stack else Stack
        stack = cls(
            topology,
            workdir,
            binaries,
            settings or Settings(topology, {}),
            redis,
            coverdir=coverdir,
            proxy=proxy,
            links=links,
            timings=timings,
        )
        for name, spec in topology.stubs.items():
            with timed(timings, f"{name} stub"):
                stack.stubs[name] = load(spec)().start()
            started.callback(_stop_for_good, stack.stubs[name])
        started.callback(stack._remove_materials)
        with timed(timings, KEYS):
            for name, spec in topology.materials.items():
                stack.materials[name] = load(spec)()
                stack.material_values[name] = dict(stack.materials[name].files(workdir / name))
        started.callback(stack._close_links)
        start_services(stack, started)
        started.pop_all()
        return stack
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack re-raises
