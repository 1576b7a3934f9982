"""An isolated gateway + authsession stack: Redis, the mail and user stubs,
fresh keys and both real binaries, wired together through their public
configuration only.

Faults: a stack started with ``links`` routes those links through a real TCP
fault proxy (toxiproxy), so a scenario can break them
(``stack.link("gateway", "authsession").latency(ms=3000)``); the processes
take signals (``stack.authsession.pause()``, ``stack.restart("authsession")``)
and the stack's own Redis can be killed, frozen or restarted
(``stack.redis.restart(keep_data=False)``). Links are direct unless asked
for, so ordinary scenarios pay nothing."""

from __future__ import annotations

import contextlib
import functools
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

from contracts.authsessionv1.client import AuthSessionGrpcClient
from contracts.gatewayv1 import GatewayApi
from contracts.gatewayv1.grpc_client import GatewayGrpcClient
from contracts.gatewayv1.http_client import GatewayHttpClient
from contracts.mail.stub import MailStub
from contracts.tokens import KeySet
from contracts.tracing import SPAN_ID_KEY, TRACE_ID_KEY, Trace, TraceSource
from contracts.user.stub import UserStub
from harness.builds.binary import Binary
from harness.faults.toxiproxy import Link, ToxiproxyServer
from harness.processes.service import ServiceProcess, data_races
from harness.redis.backends import FakeRedisServer, RedisBackend

__all__ = ["LINKS", "TRANSPORTS", "Stack", "StackSettings", "Transport", "start_stack"]

Transport = Literal["http", "grpc"]
TRANSPORTS: tuple[Transport, ...] = ("http", "grpc")
CoverDir = Callable[[str], "Path | None"]

LINKS = (
    "gateway->authsession",
    "gateway->redis",
    "authsession->redis",
    "authsession->mail",
    "authsession->user",
)
"""Every link between two parts of a stack, as ``"client->server"``; any can
go through the fault proxy (``StackSettings.links``)."""


@dataclass(frozen=True)
class StackSettings:
    """Knobs a scenario may turn (``@pytest.mark.stack(code_ttl="1s")``).
    Each maps to one documented environment variable of a service. Every
    default is the service's own, so a scenario sees the cooldowns and limits
    a deployment has unless it says otherwise."""

    code_ttl: str = "10m"
    code_max_attempts: int = 5
    retry_grace: str = "30s"
    access_token_ttl: str = "15m"
    session_ttl: str = "720h"
    upstream_timeout: str = "2s"
    authsession_timeout: str = "3s"
    gateway_redis_timeout: str = "1s"
    ready_timeout: str = "500ms"
    resend_cooldown: str = "30s"
    start_limit_per_email: int = 5
    start_limit_per_client: int = 30
    start_limit_window: str = "1h"
    failed_attempts_per_hour: int = 10
    login_rate_per_minute: int = 60
    login_burst: int = 20
    log_level: str = "debug"
    # Not an environment variable: the links to route through the fault
    # proxy, by name (LINKS), or "all".
    links: tuple[str, ...] | str = ()

    @classmethod
    def names(cls) -> set[str]:
        return {f.name for f in fields(cls)}

    def proxied_links(self) -> tuple[str, ...]:
        """The links to proxy, checked against LINKS."""
        if self.links == "all":
            return LINKS
        wanted = (self.links,) if isinstance(self.links, str) else tuple(self.links)
        unknown = [name for name in wanted if name not in LINKS]
        if unknown:
            raise ValueError(f"unknown links {unknown}; known: {list(LINKS)} or 'all'")
        return wanted


def _no_coverage(service: str) -> Path | None:
    return None


@dataclass
class Stack:
    workdir: Path
    settings: StackSettings
    binaries: dict[str, Binary]
    redis: RedisBackend
    mail: MailStub
    users: UserStub
    keys: KeySet
    coverdir: CoverDir = _no_coverage
    proxy: ToxiproxyServer | None = None
    trace: Trace = field(default_factory=Trace)
    """The trace every call of the stack's clients joins, each call with a
    parent id of its own (``contracts/tracing.md``)."""
    authsession: ServiceProcess = field(init=False)
    gateway: ServiceProcess = field(init=False)
    links: dict[str, Link] = field(default_factory=dict)
    _clients: dict[str, GatewayApi] = field(default_factory=dict)
    _secrets: list[str] = field(default_factory=list)
    _jwks: Path = field(init=False)
    _private_key: Path = field(init=False)
    _authsession_addr: str = field(init=False)
    """authsession's gRPC address, known before it serves when the socket is bound here."""
    before_restart: list[Callable[[], None]] = field(default_factory=list)
    """Called before :meth:`restart` stops a process (to read what goes with it)."""
    timings: dict[str, float] = field(default_factory=dict)
    """How long :func:`start_stack` took for each part, in seconds (what
    ``nox -s bench`` breaks a stack's start-up into)."""

    # ------------------------------------------------------------ wiring

    def _open_links(self, *names: str) -> None:
        """Put a proxy in front of the server side of each link in ``names``
        that the settings route through the fault proxy."""
        wanted = [n for n in names if n in self.settings.proxied_links()]
        if not wanted:
            return
        if self.proxy is None:
            raise ValueError(f"links {wanted} need a fault proxy (start_stack(..., proxy=...))")
        for name in wanted:
            self.links[name] = self.proxy.link(name, upstream=self._server_address(name.split("->")[1]))

    def _server_address(self, part: str) -> str:
        if part == "authsession":
            return self._authsession_addr
        if part == "redis":
            return _hostport(self.redis.url)
        if part == "mail":
            return _hostport(self.mail.url)
        if part == "user":
            return _hostport(self.users.url)
        raise ValueError(f"no server part {part!r}")

    def _reach(self, client: str, server: str, address: str) -> str:
        """``address`` of ``server`` as ``client`` dials it: through the
        link's proxy when it has one."""
        link = self.links.get(f"{client}->{server}")
        return address if link is None else address.replace(_hostport(address), link.listen, 1)

    # ------------------------------------------------------------ processes

    def _write_keys(self) -> None:
        with _timed(self.timings, KEYS):
            self._private_key, self._jwks = self.keys.write(self.workdir / "keys")

    def _remove_keys(self) -> None:
        """The private key files go with the stack: nothing of a run's key material stays behind it."""
        shutil.rmtree(self.workdir / "keys", ignore_errors=True)

    def _authsession_process(self, grpc_addr: str) -> ServiceProcess:
        s = self.settings
        return ServiceProcess(
            "authsession",
            [str(self.binaries["authsession"].path)],
            workdir=self.workdir,
            ready_env="AUTHSESSION_READY_FILE",
            listen_env={"grpc": "AUTHSESSION_GRPC_ADDR"},
            coverdir=self.coverdir("authsession"),
            env={
                "GOTRACEBACK": "all",
                "AUTHSESSION_GRPC_ADDR": grpc_addr,
                "AUTHSESSION_REDIS_URL": self._reach("authsession", "redis", self.redis.url),
                "AUTHSESSION_REDIS_KEY_PREFIX": self.redis.key_prefix,
                "AUTHSESSION_MAIL_URL": self._reach("authsession", "mail", self.mail.url),
                "AUTHSESSION_USER_URL": self._reach("authsession", "user", self.users.url),
                "AUTHSESSION_UPSTREAM_TIMEOUT": s.upstream_timeout,
                "AUTHSESSION_SIGNING_KEY_FILE": str(self._private_key),
                "AUTHSESSION_SIGNING_KEY_ID": self.keys.current.kid,
                "AUTHSESSION_ACCESS_TOKEN_TTL": s.access_token_ttl,
                "AUTHSESSION_SESSION_TTL": s.session_ttl,
                "AUTHSESSION_CODE_TTL": s.code_ttl,
                "AUTHSESSION_CODE_MAX_ATTEMPTS": str(s.code_max_attempts),
                "AUTHSESSION_RETRY_GRACE": s.retry_grace,
                "AUTHSESSION_RESEND_COOLDOWN": s.resend_cooldown,
                "AUTHSESSION_START_LIMIT_PER_EMAIL": str(s.start_limit_per_email),
                "AUTHSESSION_START_LIMIT_PER_CLIENT": str(s.start_limit_per_client),
                "AUTHSESSION_START_LIMIT_WINDOW": s.start_limit_window,
                "AUTHSESSION_FAILED_ATTEMPTS_PER_HOUR": str(s.failed_attempts_per_hour),
                "AUTHSESSION_LOG_LEVEL": s.log_level,
            },
        )

    def _gateway_process(self) -> ServiceProcess:
        s = self.settings
        return ServiceProcess(
            "gateway",
            [str(self.binaries["gateway"].path)],
            workdir=self.workdir,
            ready_env="GATEWAY_READY_FILE",
            listen_env={"http": "GATEWAY_HTTP_ADDR", "grpc": "GATEWAY_GRPC_ADDR"},
            coverdir=self.coverdir("gateway"),
            env={
                "GOTRACEBACK": "all",
                "GATEWAY_HTTP_ADDR": "127.0.0.1:0",
                "GATEWAY_GRPC_ADDR": "127.0.0.1:0",
                "GATEWAY_AUTHSESSION_ADDR": self._reach("gateway", "authsession", self._authsession_addr),
                "GATEWAY_AUTHSESSION_TIMEOUT": s.authsession_timeout,
                "GATEWAY_REDIS_URL": self._reach("gateway", "redis", self.redis.url),
                "GATEWAY_REDIS_KEY_PREFIX": self.redis.key_prefix,
                "GATEWAY_REDIS_TIMEOUT": s.gateway_redis_timeout,
                "GATEWAY_READY_TIMEOUT": s.ready_timeout,
                "GATEWAY_JWKS_FILE": str(self._jwks),  # written with authsession's key, once
                "GATEWAY_LOGIN_RATE_PER_MINUTE": str(s.login_rate_per_minute),
                "GATEWAY_LOGIN_BURST": str(s.login_burst),
                "GATEWAY_LOG_LEVEL": s.log_level,
            },
        )

    def _start_services(self, started: contextlib.ExitStack) -> None:
        """Start both services; each one started is stopped by ``started`` if a later step fails.

        The gateway dials authsession, so it needs authsession's address before it
        starts. An authsession that takes an inherited listener (``fd://N``) gets a
        socket bound and listening here, and the gateway starts beside it at once:
        its first connections wait in that socket's queue. A build from before
        ``fd://`` (a skew run's older side) is started first and waited for, as
        the gateway then learns the address from its ready file."""
        self._open_links("authsession->redis", "authsession->mail", "authsession->user")
        if takes_inherited_listener(self.binaries["authsession"]):
            with socket.create_server(("127.0.0.1", 0)) as listener:  # ours closed once authsession holds it
                self._authsession_addr = "{}:{}".format(*listener.getsockname())
                process = self._authsession_process(f"fd://{listener.fileno()}")
                self.authsession = self._spawn(started, process, listener)
            gateway = self._spawn_gateway(started)
            with _timed(self.timings, READY):
                self.authsession.wait_ready()
                gateway.wait_ready()
        else:
            self.authsession = self._spawn(started, self._authsession_process("127.0.0.1:0"))
            with _timed(self.timings, READY):
                self.authsession.wait_ready()
            self._authsession_addr = self.authsession.address("grpc")
            gateway = self._spawn_gateway(started)
            with _timed(self.timings, READY):
                gateway.wait_ready()

    def _spawn_gateway(self, started: contextlib.ExitStack) -> ServiceProcess:
        self._open_links("gateway->authsession", "gateway->redis")
        self.gateway = self._spawn(started, self._gateway_process())
        return self.gateway

    def _spawn(
        self, started: contextlib.ExitStack, process: ServiceProcess, listener: socket.socket | None = None
    ) -> ServiceProcess:
        with _timed(self.timings, SPAWN):
            process.spawn(pass_fds=[listener.fileno()] if listener else [])
        started.callback(process.stop)
        return process

    @property
    def processes(self) -> tuple[ServiceProcess, ServiceProcess]:
        return (self.authsession, self.gateway)

    def process(self, name: str) -> ServiceProcess:
        """The process of service ``name`` ("authsession" or "gateway")."""
        for proc in self.processes:
            if proc.name == name:
                return proc
        raise ValueError(f"no service {name!r} in this stack; it has {[p.name for p in self.processes]}")

    def restart(self, name: str, binary: Binary | None = None, **env: str) -> None:
        """Restart service ``name`` on the same addresses (its peers reconnect
        with no new configuration), with ``env`` merged into its environment,
        and onto ``binary`` (another version of it) when one is given.
        Restarting the gateway renews this stack's API clients."""
        if binary is not None and binary.service != name:
            raise ValueError(f"cannot restart {name} onto a build of {binary.service}")
        if name == "gateway":
            self._close_clients()
        for hook in self.before_restart:
            hook()
        self.process(name).restart(env=env, argv=[str(binary.path)] if binary is not None else None)

    def link(self, client: str, server: str) -> Link:
        """The fault-proxy link from ``client`` to ``server``
        (``stack.link("gateway", "authsession").latency(ms=3000)``)."""
        name = f"{client}->{server}"
        if name not in self.links:
            raise ValueError(
                f"link {name} does not go through the fault proxy in this stack: "
                f'mark the test @pytest.mark.stack(links=("{name}",)) (or links="all"); '
                f"proxied here: {sorted(self.links) or 'none'}"
            )
        return self.links[name]

    def heal(self) -> None:
        """Lift every fault a scenario set: links healed, paused processes
        resumed (a killed one stays down until restarted)."""
        for link in self.links.values():
            link.heal()
        for proc in self.processes:
            if proc.paused:
                proc.resume()

    def restart_with_keys(self, keys: KeySet) -> None:
        """Roll both services onto ``keys``: authsession signs with
        ``keys.current``, the gateway trusts exactly ``keys.keys``. Redis and
        the stubs (so every session) survive, as do the addresses."""
        self.keys = keys
        private_key, _ = keys.write(self.workdir / "keys")
        self.restart(
            "authsession", AUTHSESSION_SIGNING_KEY_FILE=str(private_key), AUTHSESSION_SIGNING_KEY_ID=keys.current.kid
        )
        self.restart("gateway")

    # ------------------------------------------------------------ clients

    def api(self, transport: Transport) -> GatewayApi:
        """The client of the gateway's public API over ``transport`` (one per transport)."""
        if transport not in self._clients:
            self._clients[transport] = self._new_client(transport, self.trace)
        return self._clients[transport]

    def client(self, transport: Transport, *, trace: TraceSource | Literal["stack"] | None = "stack") -> GatewayApi:
        """A client of its own over ``transport`` (for calls made in parallel);
        the stack closes it and scans what it received, like the others. Its
        calls join the stack's trace, or take their traceparent from
        ``trace``, or (``trace=None``) send none."""
        client = self._new_client(transport, self.trace if trace == "stack" else trace)
        self._clients[f"{transport}#{len(self._clients)}"] = client
        return client

    def _new_client(self, transport: Transport, trace: TraceSource | None = None) -> GatewayApi:
        if transport == "http":
            return GatewayHttpClient("http://" + self.gateway.address("http"), trace=trace)
        if transport == "grpc":
            return GatewayGrpcClient(self.gateway.address("grpc"), trace=trace)
        raise ValueError(f"unknown transport {transport!r}")

    @property
    def http(self) -> GatewayHttpClient:
        client = self.api("http")
        assert isinstance(client, GatewayHttpClient)
        return client

    def authsession_client(self) -> AuthSessionGrpcClient:
        """authsession's own API, as the user service would call it."""
        return AuthSessionGrpcClient(self.authsession.address("grpc"))

    def _close_clients(self) -> None:
        for client in self._clients.values():
            self._secrets += client.received_secrets
            client.close()
        self._clients.clear()

    # ------------------------------------------------------------ checks

    def describe_links(self) -> str:
        if not self.links:
            return "no link goes through the fault proxy"
        return "\n".join(repr(link) for link in self.links.values())

    def service_logs(self) -> str:
        return self.authsession.all_logs_text() + self.gateway.all_logs_text()

    def secrets(self) -> set[str]:
        """Every login code sent to the mail service (delivered or not) and
        every token handed out so far."""
        codes = {
            str(r.json["data"].get("code"))
            for r in self.mail.requests
            if isinstance(r.json, dict) and isinstance(r.json.get("data"), dict)
        }
        tokens = set(self._secrets).union(*(c.received_secrets for c in self._clients.values()))
        return {s for s in codes | tokens if s}

    def leaked_secrets(self) -> list[str]:
        """Secrets that appear in a service log (which includes every URL it
        logged). A code counts only as a number of its own, not as six digits
        inside a longer one (a nanosecond timestamp, say)."""
        # Trace and span ids are random hex, in which a code's six digits may
        # turn up by chance: they are no secret, and are left out.
        logs = _TRACE_ATTRS.sub("", self.service_logs())
        # A plain substring test first: it settles nearly every secret, and a
        # pattern of its own per secret would be compiled for each one.
        return sorted(s for s in self.secrets() if s in logs and re.search(rf"(?<![0-9]){re.escape(s)}(?![0-9])", logs))

    def check_stubs(self) -> None:
        """Fail if a stub met a request that broke its wire contract or erred."""
        self.mail.check()
        self.users.check()

    def data_races(self) -> list[str]:
        """Race-detector reports in any service log of the stack, restarted
        processes included (``-race`` builds); empty when none."""
        return data_races(self.service_logs())

    def stop(self) -> None:
        self._close_clients()
        for part in (self.gateway, self.authsession):
            part.stop()
        for stub in (self.mail, self.users):
            stub.stop()
        self._close_links()
        self.redis.stop()
        self._remove_keys()

    def _close_links(self) -> None:
        for link in self.links.values():
            link.delete()
        self.links.clear()


_TRACE_ATTRS = re.compile(rf',"(?:{TRACE_ID_KEY}|{SPAN_ID_KEY})":"[0-9a-f]*"')


def _hostport(url: str) -> str:
    """``host:port`` of a URL or of a bare address."""
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0]


KEYS = "keys (generate + write)"
SPAWN = "services spawned"
READY = "services → ready"


@functools.cache
def takes_inherited_listener(binary: Binary) -> bool:
    """Whether this authsession build serves on an inherited listener
    (``AUTHSESSION_GRPC_ADDR=fd://N``). Asked of the binary: given ``fd://0`` and
    nothing else, it stops on its configuration (exit code 2, one line per
    problem); a build that knows the form refuses descriptor 0 as a standard
    stream, an older one wants a host:port."""
    proc = subprocess.run(
        [str(binary.path)],
        env={"AUTHSESSION_GRPC_ADDR": "fd://0"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
        check=False,
    )
    return proc.returncode == 2 and b'AUTHSESSION_GRPC_ADDR="fd://0": want fd://N' in proc.stderr


@contextlib.contextmanager
def _timed(timings: dict[str, float], part: str) -> Iterator[None]:
    """Add the time the block takes to ``timings[part]``."""
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[part] = timings.get(part, 0.0) + time.perf_counter() - started


def start_stack(
    workdir: Path,
    binaries: dict[str, Binary],
    settings: StackSettings | None = None,
    *,
    redis: RedisBackend | None = None,
    coverdir: CoverDir = _no_coverage,
    proxy: ToxiproxyServer | None = None,
    trace: Trace | None = None,
) -> Stack:
    """Start a whole stack; on any failure, stop what was started and re-raise.

    ``trace`` is the trace the stack's clients join (a random one by default).

    ``coverdir(service)`` names the GOCOVERDIR of a ``-cover`` build's
    process; ``proxy`` is the fault proxy that carries the links the
    settings name (shared by many stacks: each adds and removes its own).
    """
    settings = settings or StackSettings()
    settings.proxied_links()  # an unknown link name fails before anything starts
    timings: dict[str, float] = {}
    with contextlib.ExitStack() as started:
        if redis is None:
            with _timed(timings, "fakeredis server"):
                redis = FakeRedisServer()
        started.callback(redis.stop)
        with _timed(timings, "mail stub"):
            mail = MailStub().start()
        started.callback(mail.stop)
        with _timed(timings, "user stub"):
            users = UserStub().start()
        started.callback(users.stop)
        with _timed(timings, KEYS):
            keys = KeySet()
        trace = trace or Trace()
        stack = Stack(workdir, settings, binaries, redis, mail, users, keys, coverdir, proxy, trace, timings=timings)
        started.callback(stack._close_links)
        started.callback(stack._remove_keys)
        stack._write_keys()
        stack._start_services(started)
        started.pop_all()
        return stack
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack re-raises
