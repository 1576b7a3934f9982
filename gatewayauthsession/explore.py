"""What ``nox -s up`` (:mod:`harness.topology.explore`) prints for this suite
beside every part's endpoints: how to log in by hand, over either API, each line
working as printed (``tests/harness/test_up_commands.py`` runs them)."""

from __future__ import annotations

from gatewayauthsession.stack import Stack
from harness.suites.grpcurl import grpcurl_prefix

__all__ = ["notes"]


def notes(stack: Stack) -> list[str]:
    """Lines to paste into a shell, from any folder."""
    from grpc_health.v1 import health_pb2

    from contracts.gatewayv1._pb import gateway_pb2

    http = "http://" + stack.address("gateway", "http")
    grpc = stack.address("gateway", "grpc")
    rpc = "galaxy.gateway.v1.GatewayService"
    grpcurl = grpcurl_prefix(stack.workdir / "grpcurl.protoset", gateway_pb2.DESCRIPTOR, health_pb2.DESCRIPTOR)
    return [
        f"OpenAPI: {http}/openapi.json",
        "Log in over HTTP (the code is printed below when it is mailed):",
        f"  curl -s {http}/v1/auth/email/start -H 'Content-Type: application/json' "
        '-d \'{"email": "you@example.com"}\'',
        f"  curl -s {http}/v1/auth/email/confirm -H 'Content-Type: application/json' "
        '-d \'{"challenge_id": "CHALLENGE", "code": "CODE"}\'',
        f"  curl -s {http}/v1/me -H 'Authorization: Bearer ACCESS_TOKEN'",
        "Or over gRPC:",
        f'  {grpcurl} -d \'{{"email": "you.grpc@example.com"}}\' {grpc} {rpc}/StartEmailLogin',
        f"  {grpcurl} -H 'authorization: Bearer ACCESS_TOKEN' {grpc} {rpc}/GetMe",
        f"  {grpcurl} -d '{{}}' {grpc} grpc.health.v1.Health/Check",
        "The sessions in Redis:",
        f"  redis-cli -u {stack.redis.url} --scan --pattern '{stack.redis.key_prefix}session:*'",
    ]
