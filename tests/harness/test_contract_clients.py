"""Every RPC of every service in proto/ has a typed client in contracts/ that calls it
with its trace: each client (:class:`contracts.grpc_client.GrpcClient`, naming its
``SERVICE``) is driven over a channel that records what it sends, every public
method of it called once, and the RPCs it reached are held to the proto's."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

import contracts
from contracts.grpc_client import GrpcClient
from contracts.tracing import TRACEPARENT, Trace
from harness.paths import PROJECT_ROOT

PROTO = PROJECT_ROOT / "proto"


def proto_services(root: Path = PROTO) -> dict[str, list[str]]:
    """Every service of every .proto file under ``root``, by full name, with its RPCs."""
    found: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.proto")):
        text = re.sub(r"//[^\n]*", "", path.read_text())
        package = re.search(r"^\s*package\s+([\w.]+)\s*;", text, re.MULTILINE)
        for service, body in re.findall(r"\bservice\s+(\w+)\s*\{(.*?)\n\}", text, re.DOTALL):
            name = f"{package[1]}.{service}" if package else service
            found[name] = re.findall(r"\brpc\s+(\w+)\s*\(", body)
    return found


def clients() -> list[type[GrpcClient]]:
    """Every gRPC client class of contracts/ (the generated code aside)."""
    found: set[type[GrpcClient]] = set()
    for module in pkgutil.walk_packages(contracts.__path__, "contracts."):
        if "._pb" in module.name:
            continue
        for _, cls in inspect.getmembers(importlib.import_module(module.name), inspect.isclass):
            if issubclass(cls, GrpcClient) and cls is not GrpcClient:
                found.add(cls)
    return sorted(found, key=lambda c: c.__qualname__)


@dataclass
class RecordingChannel:
    """A channel that sends nothing: each call is recorded (method, metadata) and
    answered with the method's empty response message."""

    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def unary_unary(self, method: str, request_serializer: Any = None, response_deserializer: Any = None,
                    **_: Any) -> Callable[..., Any]:  # fmt: skip
        def call(request: Any, timeout: float | None = None, metadata: Any = None, **__: Any) -> Any:
            self.calls.append((method, dict(metadata or ())))
            return response_deserializer(b"")

        return call

    def close(self) -> None:
        pass


_SAMPLES: dict[Any, Any] = {str: "sample", int: 1}


def _arguments(method: Callable[..., Any]) -> dict[str, Any]:
    """A value for each parameter of ``method`` without a default, from its type hints."""
    hints = typing.get_type_hints(method)
    given = {}
    for name, param in inspect.signature(method).parameters.items():
        if name == "self" or param.default is not inspect.Parameter.empty:
            continue
        hint = hints[name]
        choices = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        sample = next((_SAMPLES[c] for c in choices if c in _SAMPLES), None)
        assert sample is not None, f"{method.__qualname__}: no sample value for {name}: {hint}"
        given[name] = sample
    return given


def _drive(cls: type[GrpcClient], monkeypatch: pytest.MonkeyPatch) -> RecordingChannel:
    """Call every public method of a ``cls`` client once, over a recording channel."""
    channel = RecordingChannel()
    monkeypatch.setattr(grpc, "insecure_channel", lambda target: channel)
    client = cls("127.0.0.1:1", trace=Trace())
    for name, method in inspect.getmembers(client, inspect.ismethod):
        if not name.startswith("_") and name != "close":
            method(**_arguments(method))
    client.close()
    return channel


def test_the_proto_sources_are_read() -> None:
    services = proto_services()
    assert "galaxy.gateway.v1.GatewayService" in services
    assert "RevokeAllSessions" in services["galaxy.authsession.v1.AuthSessionService"]
    assert all(services.values()), services


def problems(service: str, rpcs: list[str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What keeps the clients of contracts/ from covering ``service``: no client, RPCs
    no client method calls, calls without a traceparent, calls to another service."""
    covering = [cls for cls in clients() if service == cls.SERVICE]
    if not covering:
        return [f"{service} has no client in contracts/ (a GrpcClient whose SERVICE names it)"]
    calls = [call for cls in covering for call in _drive(cls, monkeypatch).calls]
    reached = {method.rsplit("/", 1)[-1] for method, _ in calls}
    found = []
    if missed := [rpc for rpc in rpcs if rpc not in reached]:
        found.append(f"no method of {[c.__qualname__ for c in covering]} calls {service}'s {missed}")
    if untraced := [method for method, metadata in calls if TRACEPARENT not in metadata]:
        found.append(f"calls without a {TRACEPARENT}: {untraced}")
    if strays := [method for method, _ in calls if not method.startswith(f"/{service}/")]:
        found.append(f"calls of another service: {strays}")
    return found


@pytest.mark.parametrize("service", sorted(proto_services()))
def test_every_rpc_of_a_proto_service_is_called_by_a_client_with_its_trace(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not problems(service, proto_services()[service], monkeypatch)


EXTRA = """syntax = "proto3";
package galaxy.authsession.v1;

// A comment naming rpc Ghost(X) is no RPC.
service AuthSessionService {
  rpc RevokeAllSessions(RevokeAllSessionsRequest) returns (RevokeAllSessionsResponse);
  rpc Ping(PingRequest) returns (PingResponse);
}

service Extra {
  rpc Echo(EchoRequest) returns (EchoResponse);
}
"""


def test_an_rpc_or_a_service_no_client_covers_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "extra.proto").write_text(EXTRA)
    services = proto_services(tmp_path)
    assert services == {
        "galaxy.authsession.v1.AuthSessionService": ["RevokeAllSessions", "Ping"],
        "galaxy.authsession.v1.Extra": ["Echo"],
    }
    assert problems(
        "galaxy.authsession.v1.AuthSessionService", services["galaxy.authsession.v1.AuthSessionService"], monkeypatch
    ) == ["no method of ['AuthSessionGrpcClient'] calls galaxy.authsession.v1.AuthSessionService's ['Ping']"]
    assert problems("galaxy.authsession.v1.Extra", ["Echo"], monkeypatch) == [
        "galaxy.authsession.v1.Extra has no client in contracts/ (a GrpcClient whose SERVICE names it)"
    ]
