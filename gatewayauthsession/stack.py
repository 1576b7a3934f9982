"""The suite's stack: the declared topology's parts (``topology.py``) under the
names its scenarios use, and the gateway's public API over each transport.

Faults go through the harness's stack (:mod:`harness.topology.stack`): links on
any edge (``stack.link("gateway", "authsession").latency(ms=3000)``, the
scenarios' own ``test->gateway/http`` included), signals to the processes
(``stack.authsession.pause()``, ``stack.restart("authsession")``) and the
stack's own Redis (``stack.redis.restart(keep_data=False)``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from contracts.authsessionv1.client import AuthSessionGrpcClient
from contracts.gatewayv1 import GatewayApi
from contracts.gatewayv1.grpc_client import GatewayGrpcClient
from contracts.gatewayv1.http_client import GatewayHttpClient
from contracts.mail.stub import MailStub
from contracts.tokens import KeySet
from contracts.tracing import Trace, TraceSource
from contracts.user import UserDirectory
from contracts.user.client import UserService, user_service
from contracts.user.stub import UserStub
from harness.builds.binary import Binary
from harness.processes.service import ServiceProcess
from harness.topology import stack as topology_stack

__all__ = ["TRANSPORTS", "Stack", "Transport", "start_stack"]

Transport = Literal["http", "grpc"]
TRANSPORTS: tuple[Transport, ...] = ("http", "grpc")


class Stack(topology_stack.Stack):
    """A gateway + authsession stack, with the clients its scenarios call it through."""

    _clients: dict[str, GatewayApi]
    _trace: Trace | None = None
    _user_service: UserService | None = None
    _received: list[str]

    @property
    def mail(self) -> MailStub:
        stub: MailStub = self.stub("mail")
        return stub

    @property
    def users(self) -> UserDirectory:
        """The users, as a scenario arranges them: the user stub, or the real user service standing in for it."""
        return self.user_stub if "user" in self.stubs else self.user_service

    @property
    def user_stub(self) -> UserStub:
        """The user stub itself: its programmable faults and its journal (``@pytest.mark.needs_stub("user", ...)``)."""
        stub: UserStub = self.stub("user")
        return stub

    @property
    def user_service(self) -> UserService:
        """The clients of the real user service's public and admin APIs, in the stack's trace."""
        if self._user_service is None:
            http, admin = (f"http://{self.address('user', listener)}" for listener in ("http", "admin"))
            self._user_service = user_service(http, admin, trace=self.trace)
            self.on_close.append(self._user_service.close)
        return self._user_service

    @property
    def keys(self) -> KeySet:
        keys: KeySet = self.material("keys")
        return keys

    @property
    def gateway(self) -> ServiceProcess:
        return self.process("gateway")

    @property
    def authsession(self) -> ServiceProcess:
        return self.process("authsession")

    @property
    def trace(self) -> Trace:
        """The trace every call of the stack's clients joins, each call with a
        parent id of its own (``contracts/tracing.md``): the test's own."""
        if self._trace is None:
            self._trace = Trace(self.trace_id)
            self._clients, self._received = {}, []
            self.on_close.append(self._close_clients)
            self.secret_sources.append(self._secrets)
        return self._trace

    def api(self, transport: Transport) -> GatewayApi:
        """The client of the gateway's public API over ``transport`` (one per transport)."""
        if transport not in self._open_clients():
            self._clients[transport] = self._new_client(transport, self.trace)
        return self._clients[transport]

    def client(self, transport: Transport, *, trace: TraceSource | Literal["stack"] | None = "stack") -> GatewayApi:
        """A client of its own over ``transport`` (for calls made in parallel);
        the stack closes it and scans what it received, like the others. Its
        calls join the stack's trace, or take their traceparent from
        ``trace``, or (``trace=None``) send none."""
        clients = self._open_clients()
        client = self._new_client(transport, self.trace if trace == "stack" else trace)
        clients[f"{transport}#{len(clients)}"] = client
        return client

    def _open_clients(self) -> dict[str, GatewayApi]:
        self.trace  # noqa: B018 - sets up the clients' bookkeeping
        return self._clients

    def _new_client(self, transport: Transport, trace: TraceSource | None = None) -> GatewayApi:
        if transport == "http":
            return GatewayHttpClient("http://" + self.address("gateway", "http"), trace=trace)
        if transport == "grpc":
            return GatewayGrpcClient(self.address("gateway", "grpc"), trace=trace)
        raise ValueError(f"unknown transport {transport!r}")

    @property
    def http(self) -> GatewayHttpClient:
        client = self.api("http")
        assert isinstance(client, GatewayHttpClient)
        return client

    def authsession_client(self) -> AuthSessionGrpcClient:
        """authsession's own API, as the gateway or the user service would call it; its calls join
        the stack's trace, and the tokens it receives are checked against the logs like the others'."""
        client = AuthSessionGrpcClient(self.address("authsession", "grpc"), trace=self.trace)
        self.secret_sources.append(lambda: client.received_secrets)
        return client

    def _close_clients(self) -> None:
        for client in self._clients.values():
            self._received += client.received_secrets
            client.close()
        self._clients.clear()

    def _secrets(self) -> list[str]:
        return self._received + [s for c in self._clients.values() for s in c.received_secrets]

    def restart(self, name: str, binary: Binary | None = None, **env: str) -> None:
        """Restart service ``name`` (see the harness's); restarting the gateway renews the stack's API clients."""
        if name == "gateway" and self._trace is not None:
            self._close_clients()
        super().restart(name, binary, **env)

    def restart_with_keys(self, keys: KeySet) -> None:
        """Roll both services onto ``keys``: authsession signs with
        ``keys.current``, the gateway trusts exactly ``keys.keys``. Redis and
        the stubs (so every session) survive, as do the addresses."""
        self.materials["keys"] = keys
        written = keys.files(self.workdir / "keys")
        self.restart(
            "authsession",
            AUTHSESSION_SIGNING_KEY_FILE=written["private_key"],
            AUTHSESSION_SIGNING_KEY_ID=written["kid"],
        )
        self.restart("gateway")


def start_stack(workdir: Path, binaries: dict[str, Binary], **options: Any) -> Stack:
    """A stack of the suite's topology (:func:`harness.topology.stack.start_stack`, whose options it takes)."""
    from gatewayauthsession.topology import TOPOLOGY

    stack = topology_stack.start_stack(TOPOLOGY, workdir, binaries, **options)
    assert isinstance(stack, Stack), f"{TOPOLOGY.name} declares stack={TOPOLOGY.stack!r}"
    return stack
