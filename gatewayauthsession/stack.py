"""An isolated gateway + authsession stack: Redis, the mail and user stubs,
fresh keys and both real binaries, wired together through their public
configuration only."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

from contracts.gatewayv1 import GatewayApi
from contracts.gatewayv1.grpc_client import GatewayGrpcClient
from contracts.gatewayv1.http_client import GatewayHttpClient
from harness.binary import Binary
from harness.keys import KeySet
from harness.mail_stub import MailStub
from harness.process import ServiceProcess
from harness.redis_server import FakeRedisServer, RedisBackend
from harness.user_stub import UserStub

__all__ = ["Stack", "StackSettings", "Transport", "start_stack"]

Transport = Literal["http", "grpc"]


@dataclass(frozen=True)
class StackSettings:
    """Knobs a scenario may turn (``@pytest.mark.stack(code_ttl="1s")``).
    Each maps to one documented environment variable of a service."""

    code_ttl: str = "10m"
    code_max_attempts: int = 5
    access_token_ttl: str = "15m"
    session_ttl: str = "720h"
    upstream_timeout: str = "2s"
    authsession_timeout: str = "3s"
    log_level: str = "debug"

    @classmethod
    def names(cls) -> set[str]:
        return {f.name for f in fields(cls)}


@dataclass
class Stack:
    workdir: Path
    settings: StackSettings
    redis: RedisBackend
    mail: MailStub
    users: UserStub
    keys: KeySet
    authsession: ServiceProcess
    gateway: ServiceProcess
    _clients: dict[str, GatewayApi] = field(default_factory=dict)

    def api(self, transport: Transport) -> GatewayApi:
        """A client of the gateway's public API over ``transport``."""
        if transport not in self._clients:
            if transport == "http":
                self._clients[transport] = GatewayHttpClient("http://" + self.gateway.address("http"))
            elif transport == "grpc":
                self._clients[transport] = GatewayGrpcClient(self.gateway.address("grpc"))
            else:
                raise ValueError(f"unknown transport {transport!r}")
        return self._clients[transport]

    @property
    def http(self) -> GatewayHttpClient:
        client = self.api("http")
        assert isinstance(client, GatewayHttpClient)
        return client

    def diagnostics(self) -> dict[str, Callable[[], str]]:
        """Every log of the stack, by name, read when called."""
        return {
            "authsession log": self.authsession.log_text,
            "gateway log": self.gateway.log_text,
            "mail stub requests": self.mail.format_log,
            "user stub requests": self.users.format_log,
        }

    def check_stubs(self) -> None:
        """Fail if a stub met a request that broke its wire contract or erred."""
        self.mail.check()
        self.users.check()

    def service_logs(self) -> str:
        return self.authsession.log_text() + self.gateway.log_text()

    @property
    def processes(self) -> tuple[ServiceProcess, ServiceProcess]:
        return (self.authsession, self.gateway)

    def data_races(self) -> dict[str, list[str]]:
        """Race-detector reports per service (``-race`` builds), empty when none."""
        return {p.name: races for p in self.processes if (races := p.data_races())}

    def stop(self) -> None:
        for client in self._clients.values():
            client.close()
        for part in (self.gateway, self.authsession):
            part.stop()
        for stub in (self.mail, self.users):
            stub.stop()
        self.redis.stop()


def _no_coverage(service: str) -> Path | None:
    return None


def start_stack(
    workdir: Path,
    binaries: dict[str, Binary],
    settings: StackSettings | None = None,
    redis: RedisBackend | None = None,
    coverdir: Callable[[str], Path | None] = _no_coverage,
) -> Stack:
    """Start a whole stack; on any failure, stop what was started and re-raise.

    ``coverdir(service)`` names the GOCOVERDIR of a ``-cover`` build's process.
    """
    settings = settings or StackSettings()
    with contextlib.ExitStack() as started:
        redis = redis or FakeRedisServer()
        started.callback(redis.stop)
        mail = MailStub().start()
        started.callback(mail.stop)
        users = UserStub().start()
        started.callback(users.stop)
        keys = KeySet()
        private_key, jwks = keys.write(workdir / "keys")
        common = {"PATH": "/usr/bin:/bin", "GOTRACEBACK": "all"}

        authsession = ServiceProcess(
            "authsession",
            [str(binaries["authsession"].path)],
            workdir=workdir,
            ready_env="AUTHSESSION_READY_FILE",
            coverdir=coverdir("authsession"),
            env={
                **common,
                "AUTHSESSION_GRPC_ADDR": "127.0.0.1:0",
                "AUTHSESSION_REDIS_URL": redis.url,
                "AUTHSESSION_REDIS_KEY_PREFIX": redis.key_prefix,
                "AUTHSESSION_MAIL_URL": mail.url,
                "AUTHSESSION_USER_URL": users.url,
                "AUTHSESSION_UPSTREAM_TIMEOUT": settings.upstream_timeout,
                "AUTHSESSION_SIGNING_KEY_FILE": str(private_key),
                "AUTHSESSION_SIGNING_KEY_ID": keys.current.kid,
                "AUTHSESSION_ACCESS_TOKEN_TTL": settings.access_token_ttl,
                "AUTHSESSION_SESSION_TTL": settings.session_ttl,
                "AUTHSESSION_CODE_TTL": settings.code_ttl,
                "AUTHSESSION_CODE_MAX_ATTEMPTS": str(settings.code_max_attempts),
                "AUTHSESSION_LOG_LEVEL": settings.log_level,
            },
        ).start()
        started.callback(authsession.stop)

        gateway = ServiceProcess(
            "gateway",
            [str(binaries["gateway"].path)],
            workdir=workdir,
            ready_env="GATEWAY_READY_FILE",
            coverdir=coverdir("gateway"),
            env={
                **common,
                "GATEWAY_HTTP_ADDR": "127.0.0.1:0",
                "GATEWAY_GRPC_ADDR": "127.0.0.1:0",
                "GATEWAY_AUTHSESSION_ADDR": authsession.address("grpc"),
                "GATEWAY_AUTHSESSION_TIMEOUT": settings.authsession_timeout,
                "GATEWAY_REDIS_URL": redis.url,
                "GATEWAY_REDIS_KEY_PREFIX": redis.key_prefix,
                "GATEWAY_JWKS_FILE": str(jwks),
                "GATEWAY_LOG_LEVEL": settings.log_level,
            },
        ).start()
        started.callback(gateway.stop)

        stack = Stack(workdir, settings, redis, mail, users, keys, authsession, gateway)
        started.pop_all()
        return stack
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack re-raises
