"""An isolated gateway + authsession stack: Redis, the mail and user stubs,
fresh keys and both real binaries, wired together through their public
configuration only."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

from contracts.authsessionv1.client import AuthSessionGrpcClient
from contracts.gatewayv1 import GatewayApi
from contracts.gatewayv1.grpc_client import GatewayGrpcClient
from contracts.gatewayv1.http_client import GatewayHttpClient
from harness.binary import Binary
from harness.keys import KeySet
from harness.mail_stub import MailStub
from harness.process import ServiceProcess, data_races
from harness.redis_server import FakeRedisServer, RedisBackend
from harness.user_stub import UserStub

__all__ = ["Stack", "StackSettings", "Transport", "start_stack"]

Transport = Literal["http", "grpc"]
CoverDir = Callable[[str], "Path | None"]


@dataclass(frozen=True)
class StackSettings:
    """Knobs a scenario may turn (``@pytest.mark.stack(code_ttl="1s")``).
    Each maps to one documented environment variable of a service. The
    abuse limits default to values no ordinary scenario reaches."""

    code_ttl: str = "10m"
    code_max_attempts: int = 5
    retry_grace: str = "30s"
    access_token_ttl: str = "15m"
    session_ttl: str = "720h"
    upstream_timeout: str = "2s"
    authsession_timeout: str = "3s"
    resend_cooldown: str = "1ms"
    start_limit_per_email: int = 1000
    start_limit_per_client: int = 1000
    start_limit_window: str = "1h"
    failed_attempts_per_hour: int = 1000
    login_rate_per_minute: int = 6000
    login_burst: int = 1000
    log_level: str = "debug"

    @classmethod
    def names(cls) -> set[str]:
        return {f.name for f in fields(cls)}


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
    authsession: ServiceProcess = field(init=False)
    gateway: ServiceProcess = field(init=False)
    _clients: dict[str, GatewayApi] = field(default_factory=dict)
    _secrets: list[str] = field(default_factory=list)
    _retired_logs: list[str] = field(default_factory=list)

    # ------------------------------------------------------------ processes

    def _start_authsession(self) -> None:
        private_key, _ = self.keys.write(self.workdir / "keys")
        s = self.settings
        self.authsession = ServiceProcess(
            "authsession",
            [str(self.binaries["authsession"].path)],
            workdir=self.workdir,
            ready_env="AUTHSESSION_READY_FILE",
            coverdir=self.coverdir("authsession"),
            env={
                "GOTRACEBACK": "all",
                "AUTHSESSION_GRPC_ADDR": "127.0.0.1:0",
                "AUTHSESSION_REDIS_URL": self.redis.url,
                "AUTHSESSION_REDIS_KEY_PREFIX": self.redis.key_prefix,
                "AUTHSESSION_MAIL_URL": self.mail.url,
                "AUTHSESSION_USER_URL": self.users.url,
                "AUTHSESSION_UPSTREAM_TIMEOUT": s.upstream_timeout,
                "AUTHSESSION_SIGNING_KEY_FILE": str(private_key),
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
        ).start()

    def _start_gateway(self) -> None:
        _, jwks = self.keys.write(self.workdir / "keys")
        s = self.settings
        self.gateway = ServiceProcess(
            "gateway",
            [str(self.binaries["gateway"].path)],
            workdir=self.workdir,
            ready_env="GATEWAY_READY_FILE",
            coverdir=self.coverdir("gateway"),
            env={
                "GOTRACEBACK": "all",
                "GATEWAY_HTTP_ADDR": "127.0.0.1:0",
                "GATEWAY_GRPC_ADDR": "127.0.0.1:0",
                "GATEWAY_AUTHSESSION_ADDR": self.authsession.address("grpc"),
                "GATEWAY_AUTHSESSION_TIMEOUT": s.authsession_timeout,
                "GATEWAY_REDIS_URL": self.redis.url,
                "GATEWAY_REDIS_KEY_PREFIX": self.redis.key_prefix,
                "GATEWAY_JWKS_FILE": str(jwks),
                "GATEWAY_LOGIN_RATE_PER_MINUTE": str(s.login_rate_per_minute),
                "GATEWAY_LOGIN_BURST": str(s.login_burst),
                "GATEWAY_LOG_LEVEL": s.log_level,
            },
        ).start()

    @property
    def processes(self) -> tuple[ServiceProcess, ServiceProcess]:
        return (self.authsession, self.gateway)

    def restart_with_keys(self, keys: KeySet) -> None:
        """Roll both services onto ``keys``: authsession signs with
        ``keys.current``, the gateway trusts exactly ``keys.keys``. Redis and
        the stubs (so every session) survive; clients must be fetched anew."""
        self._close_clients()
        for proc in (self.gateway, self.authsession):
            proc.stop()
            self._retired_logs.append(proc.log_text())
            proc.log_path.rename(proc.log_path.with_suffix(f".{len(self._retired_logs)}.log"))
        self.keys = keys
        self._start_authsession()
        self._start_gateway()

    # ------------------------------------------------------------ clients

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

    def authsession_client(self) -> AuthSessionGrpcClient:
        """authsession's own API, as the user service would call it."""
        return AuthSessionGrpcClient(self.authsession.address("grpc"))

    def _close_clients(self) -> None:
        for client in self._clients.values():
            self._secrets += client.received_secrets
            client.close()
        self._clients.clear()

    # ------------------------------------------------------------ checks

    def diagnostics(self) -> dict[str, Callable[[], str]]:
        """Every log of the stack, by name, read when called (a restart
        replaces the process objects, so each source looks them up anew)."""
        return {
            "authsession log": lambda: self.authsession.log_text(),  # noqa: PLW0108
            "gateway log": lambda: self.gateway.log_text(),  # noqa: PLW0108
            "logs of restarted processes": lambda: "".join(self._retired_logs),
            "mail stub requests": self.mail.format_log,
            "user stub requests": self.users.format_log,
        }

    def service_logs(self) -> str:
        return "".join(self._retired_logs) + self.authsession.log_text() + self.gateway.log_text()

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
        logs = self.service_logs()
        return sorted(s for s in self.secrets() if re.search(rf"(?<![0-9]){re.escape(s)}(?![0-9])", logs))

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
        self.redis.stop()


def start_stack(
    workdir: Path,
    binaries: dict[str, Binary],
    settings: StackSettings | None = None,
    redis: RedisBackend | None = None,
    coverdir: CoverDir = _no_coverage,
) -> Stack:
    """Start a whole stack; on any failure, stop what was started and re-raise.

    ``coverdir(service)`` names the GOCOVERDIR of a ``-cover`` build's process.
    """
    with contextlib.ExitStack() as started:
        redis = redis or FakeRedisServer()
        started.callback(redis.stop)
        mail = MailStub().start()
        started.callback(mail.stop)
        users = UserStub().start()
        started.callback(users.stop)
        stack = Stack(workdir, settings or StackSettings(), binaries, redis, mail, users, KeySet(), coverdir)
        stack._start_authsession()
        started.callback(stack.authsession.stop)
        stack._start_gateway()
        started.pop_all()
        return stack
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack re-raises
