"""A boundary as data: the parts a suite raises and how each service is told
where the others are.

A suite declares its :class:`Topology` once (``<suite>/topology.py``): its
services (which command, which environment variable carries which address),
its Redis, its stubs and its materials (files such as keys that services
read). A service's environment names the other parts through references
(:func:`address`, :func:`url`, :data:`REDIS_URL`, :func:`redis_prefix`,
:func:`material`), and every reference is an **edge**: ``gateway->authsession``
because the gateway's ``GATEWAY_AUTHSESSION_ADDR`` is ``address("authsession",
"grpc")`` (a service's HTTP listener as a base URL: ``url("user", "http")``).
The edges from the scenarios to the services are the topology's
``clients``. A stub may have a real service that can stand in for it
(``stand_ins``): :meth:`Topology.with_real` is the same topology with that
service in the stub's place, which a run asks for with ``--real NAME``.
Everything else - starting the parts side by side, fault links on
any edge, forensics, keep-stack and ``up``, skew builds - the harness derives
from this declaration alone (:mod:`harness.topology.stack`,
:mod:`harness.topology.plugin`).

This module imports nothing beyond the standard library, so a noxfile or an
xdist controller may read a topology without paying for what a stack needs.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "REDIS_URL",
    "TEST",
    "Address",
    "Edge",
    "GoCommand",
    "MaterialValue",
    "Redis",
    "RedisPrefix",
    "RedisUrl",
    "Script",
    "Service",
    "StandIn",
    "Topology",
    "Url",
    "Value",
    "address",
    "load",
    "material",
    "redis_prefix",
    "url",
]

TEST = "test"
"""The scenarios' side of the edges to the services a topology lets them call (its ``clients``)."""

REDIS = "redis"
"""The name of a topology's Redis as a part (an edge's server, a fault link's name)."""


# ------------------------------------------------------------------ references


@dataclass(frozen=True)
class Address:
    """``host:port`` of a service's listener."""

    service: str
    listener: str


@dataclass(frozen=True)
class Url:
    """The base URL of a stub (``http://127.0.0.1:40123``), or of a service's HTTP ``listener``."""

    part: str
    listener: str | None = None


@dataclass(frozen=True)
class RedisUrl:
    """The URL of the stack's Redis (``redis://host:port/db``)."""


@dataclass(frozen=True)
class RedisPrefix:
    """The key prefix the stack's Redis gives this stack, followed by ``suffix``."""

    suffix: str = ""


@dataclass(frozen=True)
class MaterialValue:
    """A value a material wrote for the services (a file's path, a key id)."""

    material: str
    key: str


Value = str | Address | Url | RedisUrl | RedisPrefix | MaterialValue
"""What a service's environment variable is set to: a literal, or a reference to another part."""

REDIS_URL = RedisUrl()


def address(service: str, listener: str) -> Address:
    """The address ``service`` serves ``listener`` on, as its peers dial it."""
    return Address(service, listener)


def url(part: str, listener: str | None = None) -> Url:
    """The base URL of stub ``part``, or of service ``part``'s HTTP ``listener``."""
    return Url(part, listener)


def redis_prefix(suffix: str = "") -> RedisPrefix:
    """The stack's Redis key prefix (isolating it on a shared Redis), then ``suffix``."""
    return RedisPrefix(suffix)


def material(name: str, key: str) -> MaterialValue:
    """Value ``key`` of what material ``name`` wrote (``material("keys", "jwks")``)."""
    return MaterialValue(name, key)


# ------------------------------------------------------------------ parts


@dataclass(frozen=True)
class GoCommand:
    """A command of the Go workspace, ``<module>/cmd/<name>`` (:mod:`harness.builds.binary`);
    ``name`` defaults to the service's."""

    name: str | None = None


@dataclass(frozen=True)
class Script:
    """A Python script, run by this interpreter; ``path`` is relative to the project root.
    At a git ref it is the file as it was at that commit."""

    path: str


@dataclass(frozen=True)
class Service:
    """One service process of a stack.

    ``listens`` maps each listener to the variable that sets its address;
    ``ready_file`` is the variable naming the ready-file path (the handshake of
    ``galaxy/README.md``). ``env`` is what the suite always sends: the other
    parts' references and the literals it insists on. Settings a scenario gives
    (``@pytest.mark.stack(...)``) are the variables documented in ``docs``
    (``"galaxy/README.md#authsession"``: the first table of that section); a
    setting no scenario gives is not sent, so the service's default applies.
    ``inherits_listeners`` says whether the command serves on a socket bound
    for it (``fd://N``): None asks the command itself. ``probes`` maps an HTTP
    listener to its readiness path, for the commands ``up`` prints (a gRPC
    listener is probed through ``grpc.health.v1``).
    """

    name: str
    listens: Mapping[str, str]
    ready_file: str
    env: Mapping[str, Value] = field(default_factory=dict)
    docs: str | None = None
    program: GoCommand | Script = field(default_factory=GoCommand)
    inherits_listeners: bool | None = None
    probes: Mapping[str, str] = field(default_factory=dict)

    @property
    def command(self) -> str:
        """The Go command's name (the service's own unless the program names another)."""
        if isinstance(self.program, GoCommand) and self.program.name:
            return self.program.name
        return self.name

    @property
    def prefix(self) -> str:
        """The prefix of the service's documented variables (``AUTHSESSION_``)."""
        return self.name.upper().replace("-", "_") + "_"


@dataclass(frozen=True)
class Redis:
    """The stack's Redis: an isolated in-memory fakeredis server unless the run asks
    for a real one. ``prefix`` is the key prefix a fakeredis stack uses; ``keyspace``
    (``"module:function"``, called with a client and the prefix) reads the public
    keys a failure bundle keeps."""

    prefix: str = "galaxy:"
    keyspace: str | None = None


@dataclass(frozen=True)
class Edge:
    """``client`` dials ``server``: a service's ``listener``, a stub or Redis. Its
    ``name`` is ``client->server``, or ``client->server/listener`` where the client
    dials several listeners of one service."""

    client: str
    server: str
    listener: str | None = None
    name: str = ""


@dataclass(frozen=True)
class StandIn:
    """A real service that can take a stub's place: ``service``, whose HTTP
    ``listener`` serves what the stub's URL served."""

    service: Service
    listener: str


@dataclass(frozen=True)
class Topology:
    """A boundary suite's parts, as data (see the module docstring).

    ``stubs`` and ``materials`` map a part's name to ``"module:Class"``: a stub
    has ``start()``, ``stop()``, ``url``, ``requests``, ``check()`` and
    ``format_log()`` (:class:`harness.stubs.server.HttpStub`), and may have
    ``secrets()`` (what must never reach a log) and ``close()`` (stopped for
    good: what it holds, its port, is let go, where ``stop()`` keeps it for a
    later ``start()``); a material has
    ``files(directory)``, which writes what the services read and returns the
    values :func:`material` names. ``clients`` maps a service to the
    listeners the scenarios call. ``stand_ins`` maps a stub to the real service
    that can take its place (:meth:`with_real`). ``stack`` (``"module:Class"``) is the suite's
    :class:`~harness.topology.stack.Stack` subclass, if it has one; ``notes``
    (``"module:function"``, called with the stack) gives suite-specific lines
    for ``up``.
    """

    name: str
    services: tuple[Service, ...]
    redis: Redis | None = field(default_factory=Redis)
    stubs: Mapping[str, str] = field(default_factory=dict)
    materials: Mapping[str, str] = field(default_factory=dict)
    clients: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    stack: str | None = None
    notes: str | None = None
    stand_ins: Mapping[str, StandIn] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = list(self._problems())
        if problems:
            raise ValueError(f"topology {self.name}: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        names = [s.name for s in self.services]
        problems = [f"service {n!r} declared twice" for n in sorted({n for n in names if names.count(n) > 1})]
        parts = set(names) | set(self.stubs) | set(self.materials) | ({REDIS} if self.redis else set())
        if len(parts) != len(names) + len(self.stubs) + len(self.materials) + (1 if self.redis else 0):
            problems.append(f"part names must be unique across services, stubs, materials and redis: {sorted(parts)}")
        listeners = {(s.name, listener) for s in self.services for listener in s.listens}
        for service in self.services:
            for var, value in service.env.items():
                problem = self._reference_problem(value, listeners)
                if problem:
                    problems.append(f"{service.name} {var}: {problem}")
            problems += [
                f"{service.name}: probe of unknown listener {x!r}" for x in service.probes if x not in service.listens
            ]
        problems += [f"stand-in for {x!r}, which is no stub" for x in self.stand_ins if x not in self.stubs]
        for service_name, wanted in self.clients.items():
            problems += [
                f"clients: {service_name} has no listener {x!r}" for x in wanted if (service_name, x) not in listeners
            ]
        return problems

    def _reference_problem(self, value: Value, listeners: set[tuple[str, str]]) -> str | None:
        if isinstance(value, Address) and (value.service, value.listener) not in listeners:
            return f"no service listener {value.service}/{value.listener}"
        if isinstance(value, Url) and value.listener is None and value.part not in self.stubs:
            return f"no stub {value.part!r}"
        if isinstance(value, Url) and value.listener is not None and (value.part, value.listener) not in listeners:
            return f"no service listener {value.part}/{value.listener}"
        if isinstance(value, RedisUrl | RedisPrefix) and self.redis is None:
            return "the topology has no Redis"
        if isinstance(value, MaterialValue) and value.material not in self.materials:
            return f"no material {value.material!r}"
        return None

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise ValueError(f"{self.name} has no service {name!r}; it has {[s.name for s in self.services]}")

    def edges(self) -> list[Edge]:
        """Every edge: the scenarios' to the services they call, then each service's references, in order."""
        found: list[tuple[str, str, str | None]] = [
            (TEST, s, listener) for s, wanted in self.clients.items() for listener in wanted
        ]
        for service in self.services:
            for value in service.env.values():
                if isinstance(value, Address):
                    found.append((service.name, value.service, value.listener))
                elif isinstance(value, Url):
                    found.append((service.name, value.part, value.listener))
                elif isinstance(value, RedisUrl):
                    found.append((service.name, REDIS, None))
        unique = list(dict.fromkeys(found))
        pairs = [(client, server) for client, server, _ in unique]
        return [
            Edge(
                client,
                server,
                listener,
                f"{client}->{server}" + (f"/{listener}" if pairs.count((client, server)) > 1 else ""),
            )
            for client, server, listener in unique
        ]

    def edge(self, name: str) -> Edge:
        """The edge called ``name``, or a ValueError listing the edges."""
        for edge in self.edges():
            if edge.name == name:
                return edge
        raise ValueError(f"{self.name} has no edge {name!r}; its edges: {[e.name for e in self.edges()]}")

    def with_real(self, *stubs: str) -> Topology:
        """This topology with each of ``stubs`` replaced by the real service that
        stands in for it: the service joins the services (the scenarios may call
        each of its listeners), and every URL of the stub becomes the URL of its
        listener. Edges keep their names (``authsession->user``)."""
        unknown = [name for name in stubs if name not in self.stand_ins]
        if unknown:
            raise ValueError(
                f"{self.name} has no real service to stand in for {unknown}; it has {sorted(self.stand_ins)}"
            )
        if not stubs:
            return self
        ins = {name: self.stand_ins[name] for name in stubs}

        def real(value: Value) -> Value:
            if isinstance(value, Url) and value.listener is None and value.part in ins:
                return Url(ins[value.part].service.name, ins[value.part].listener)
            return value

        services = tuple(
            replace(s, env={var: real(v) for var, v in s.env.items()})
            for s in (*self.services, *(stand_in.service for stand_in in ins.values()))
        )
        return replace(
            self,
            services=services,
            stubs={name: spec for name, spec in self.stubs.items() if name not in ins},
            clients={**self.clients, **{i.service.name: tuple(i.service.listens) for i in ins.values()}},
            stand_ins={name: i for name, i in self.stand_ins.items() if name not in ins},
        )

    def callers(self, part: str) -> list[str]:
        """Who dials ``part``, by the declared edges."""
        return sorted({e.client for e in self.edges() if e.server == part})


def load(spec: str) -> Any:
    """The object ``"module:name"`` names (a stub's class, a function)."""
    module, sep, name = spec.partition(":")
    if not sep:
        raise ValueError(f"{spec!r}: want 'module:name'")
    return getattr(importlib.import_module(module), name)
