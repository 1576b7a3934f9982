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
"""

from __future__ import annotations

import contextlib
import functools
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from harness.builds.binary import Binary
from harness.faults.toxiproxy import Link, ToxiproxyServer
from harness.processes.service import ServiceProcess
from harness.redis.backends import FakeRedisServer, RedisBackend
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
    Topology,
    Url,
    Value,
    load,
)
from harness.topology.settings import Settings

__all__ = ["KEYS", "READY", "SPAWN", "CoverDir", "Stack", "hostport", "start_stack", "takes_inherited_listener"]

CoverDir = Callable[[str], "Path | None"]

KEYS = "materials (generate + write)"
SPAWN = "services spawned"
READY = "services → ready"


def _no_coverage(service: str) -> Path | None:
    return None


def hostport(url: str) -> str:
    """``host:port`` of a URL or of a bare address."""
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0]


def argv_of(binary: Binary) -> list[str]:
    """The command line that runs ``binary``: a Go build itself, a Python script through this interpreter."""
    return [sys.executable, str(binary.path)] if binary.path.suffix == ".py" else [str(binary.path)]


@functools.cache
def takes_inherited_listener(binary: Binary, variable: str) -> bool:
    """Whether this build serves on an inherited listener (``VARIABLE=fd://N``, the
    platform's convention of ``galaxy/README.md``). Asked of the binary: given
    ``fd://0`` and nothing else, it stops on its configuration (exit code 2, one
    line per problem); a build that knows the form refuses descriptor 0 as a
    standard stream, an older one wants a host:port."""
    proc = subprocess.run(
        argv_of(binary),
        env={variable: "fd://0"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
        check=False,
    )
    return proc.returncode == 2 and f'{variable}="fd://0": want fd://N'.encode() in proc.stderr


@contextlib.contextmanager
def _timed(timings: dict[str, float], part: str) -> Iterator[None]:
    """Add the time the block takes to ``timings[part]``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[part] = timings.get(part, 0.0) + time.perf_counter() - started


_TRACE_ATTRS = re.compile(r',"(?:trace_id|span_id)":"[0-9a-f]*"')


class Stack:
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
        self._addresses: dict[tuple[str, str], str] = {}

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
        proxy when the scenarios' edge to it goes through one."""
        link = self.links.get(self.topology_edge(TEST, service, listener).name)
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

    # ------------------------------------------------------------ wiring

    def _server_address(self, edge: Edge) -> str:
        if edge.server == REDIS:
            return hostport(self.redis.url)
        if edge.server in self.stubs:
            return hostport(self.stubs[edge.server].url)
        assert edge.listener is not None
        return self._addresses[edge.server, edge.listener]

    def _open_link(self, edge: Edge) -> None:
        if edge.name not in self.proxied or edge.name in self.links:
            return
        if self.proxy is None:
            raise ValueError(f"link {edge.name} needs a fault proxy (start_stack(..., proxy=...))")
        self.links[edge.name] = self.proxy.link(edge.name, upstream=self._server_address(edge))

    def _reach(self, client: str, server: str, listener: str | None, address: str) -> str:
        """``address`` of ``server`` as ``client`` dials it: through the link's proxy when it has one."""
        edge = self.topology_edge(client, server, listener)
        link = self.links.get(edge.name)
        return address if link is None else address.replace(hostport(address), link.listen, 1)

    def _resolve(self, client: str, value: Value) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, Address):
            return self._reach(client, value.service, value.listener, self._addresses[value.service, value.listener])
        if isinstance(value, Url):
            return self._reach(client, value.stub, None, self.stubs[value.stub].url)
        if isinstance(value, RedisUrl):
            return self._reach(client, REDIS, None, self.redis.url)
        if isinstance(value, RedisPrefix):
            return self.redis.key_prefix + value.suffix
        if isinstance(value, MaterialValue):
            return self.material_values[value.material][value.key]
        raise TypeError(f"{client}: cannot resolve {value!r}")

    def _resolvable(self, service: Service) -> bool:
        return all((v.service, v.listener) in self._addresses for v in service.env.values() if isinstance(v, Address))

    def _process(self, service: Service, listen: Mapping[str, str]) -> ServiceProcess:
        env = {var: self._resolve(service.name, value) for var, value in service.env.items()}
        env.update({service.listens[name]: addr for name, addr in listen.items()})
        env.update(self.settings.for_service(service.name))
        if not isinstance(service.program, Script):
            env.setdefault("GOTRACEBACK", "all")  # every goroutine in a dump
        return ServiceProcess(
            service.name,
            argv_of(self.binaries[service.name]),
            workdir=self.workdir,
            ready_env=service.ready_file,
            listen_env=service.listens,
            coverdir=self.coverdir(service.name),
            env=env,
        )

    def _inherits(self, service: Service) -> bool:
        if service.inherits_listeners is not None:
            return service.inherits_listeners
        first = next(iter(service.listens.values()))
        return takes_inherited_listener(self.binaries[service.name], first)

    def _bind(self, ours: contextlib.ExitStack) -> dict[str, dict[str, socket.socket]]:
        """A listening socket for every listener of each service that takes them, its address known at once."""
        sockets: dict[str, dict[str, socket.socket]] = {}
        for service in self.topology.services:
            if self._inherits(service):
                bound = {name: ours.enter_context(socket.create_server(("127.0.0.1", 0))) for name in service.listens}
                sockets[service.name] = bound
                for name, sock in bound.items():
                    self._addresses[service.name, name] = "{}:{}".format(*sock.getsockname())
        return sockets

    def _spawn(self, started: contextlib.ExitStack, service: Service, bound: Mapping[str, socket.socket]) -> None:
        for edge in self.topology.edges():
            if edge.client == service.name:
                self._open_link(edge)
        listen = {n: f"fd://{s.fileno()}" for n, s in bound.items()} or dict.fromkeys(service.listens, "127.0.0.1:0")
        process = self._process(service, listen)
        with _timed(self.timings, SPAWN):
            process.spawn(pass_fds=[s.fileno() for s in bound.values()])
        started.callback(process.stop)
        self.services[service.name] = process

    def _start_services(self, started: contextlib.ExitStack) -> None:
        """Start every service; each one started is stopped by ``started`` if a later step fails.

        The services that take inherited listeners get sockets bound here, so every
        address is known before anything starts and they all start side by side;
        a service that does not is started (and waited for) before those that dial it."""
        with contextlib.ExitStack() as ours:  # our copies of the handed-over sockets, closed once passed on
            sockets = self._bind(ours)
            pending = list(self.topology.services)
            while pending:
                batch = [s for s in pending if self._resolvable(s)]
                if not batch:
                    raise ValueError(f"{self.topology.name}: services that dial each other in a circle: {pending}")
                for service in batch:
                    self._spawn(started, service, sockets.get(service.name, {}))
                    if service.name not in sockets:  # its peers learn its addresses from its ready file
                        with _timed(self.timings, READY):
                            self.services[service.name].wait_ready()
                        for name in service.listens:
                            self._addresses[service.name, name] = self.services[service.name].address(name)
                pending = [s for s in pending if s not in batch]
        with _timed(self.timings, READY):
            for name in sockets:
                self.services[name].wait_ready()
        for edge in self.topology.edges():
            if edge.client == TEST:
                self._open_link(edge)

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

    # ------------------------------------------------------------ checks

    def service_logs(self) -> str:
        return "".join(proc.all_logs_text() for proc in self.processes)

    def secrets(self) -> set[str]:
        """Everything that must never appear in a service log: the stubs' secrets
        (a login code mailed) and what the suite's clients received (tokens)."""
        found: set[str] = set()
        for stub in self.stubs.values():
            if callable(getattr(stub, "secrets", None)):
                found.update(stub.secrets())
        for source in self.secret_sources:
            found.update(source())
        return {s for s in found if s}

    def leaked_secrets(self) -> list[str]:
        """Secrets that appear in a service log (which includes every URL it
        logged). A number counts only as a number of its own, not as digits
        inside a longer one (a nanosecond timestamp, say)."""
        # Trace and span ids are random hex, in which a code's six digits may
        # turn up by chance: they are no secret, and are left out.
        logs = _TRACE_ATTRS.sub("", self.service_logs())
        # A plain substring test first: it settles nearly every secret, and a
        # pattern of its own per secret would be compiled for each one.
        return sorted(s for s in self.secrets() if s in logs and re.search(rf"(?<![0-9]){re.escape(s)}(?![0-9])", logs))

    def check_stubs(self) -> None:
        """Fail if a stub met a request that broke its wire contract or erred."""
        for stub in self.stubs.values():
            stub.check()

    def data_races(self) -> list[str]:
        """Race-detector reports in any service log of the stack, restarted
        processes included (``-race`` builds); empty when none."""
        return [race for proc in self.processes for race in proc.data_races()]

    # ------------------------------------------------------------ stop

    def stop(self) -> None:
        """Stop every part, the services first (those that dial others before them); idempotent."""
        for hook in self.on_close:
            hook()
        for proc in reversed(self.processes):
            proc.stop()
        for stub in self.stubs.values():
            stub.stop()
        self._close_links()
        if self.redis_backend is not None:
            self.redis_backend.stop()

    def _close_links(self) -> None:
        for link in self.links.values():
            link.delete()
        self.links.clear()


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
            with _timed(timings, "fakeredis server"):
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
            with _timed(timings, f"{name} stub"):
                stack.stubs[name] = load(spec)().start()
            started.callback(stack.stubs[name].stop)
        with _timed(timings, KEYS):
            for name, spec in topology.materials.items():
                stack.materials[name] = load(spec)()
                stack.material_values[name] = dict(stack.materials[name].files(workdir / name))
        started.callback(stack._close_links)
        stack._start_services(started)
        started.pop_all()
        return stack
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack re-raises
