"""What ``nox -s up`` (:mod:`harness.topology.explore`) prints for this suite
beside every part's endpoints: how to log in by hand, over either API."""

from __future__ import annotations

from gatewayauthsession.stack import Stack

__all__ = ["notes"]

PROTO = "-import-path proto -proto galaxy/gateway/v1/gateway.proto"


def notes(stack: Stack) -> list[str]:
    """Lines to paste into a shell, from the project root (for grpcurl's proto path)."""
    http = "http://" + stack.address("gateway", "http")
    grpc = stack.address("gateway", "grpc")
    rpc = "galaxy.gateway.v1.GatewayService"
    return [
        f"OpenAPI: {http}/openapi.json",
        "Log in over HTTP (the code is printed below when it is mailed):",
        f"  curl -s {http}/v1/auth/email/start -H 'Content-Type: application/json' "
        '-d \'{"email": "you@example.com"}\'',
        f"  curl -s {http}/v1/auth/email/confirm -H 'Content-Type: application/json' "
        '-d \'{"challenge_id": "CHALLENGE", "code": "CODE"}\'',
        f"  curl -s {http}/v1/me -H 'Authorization: Bearer ACCESS_TOKEN'",
        "Or over gRPC:",
        f'  grpcurl -plaintext {PROTO} -d \'{{"email": "you@example.com"}}\' {grpc} {rpc}/StartEmailLogin',
        f"  grpcurl -plaintext {PROTO} -H 'authorization: Bearer ACCESS_TOKEN' {grpc} {rpc}/GetMe",
        f"  grpcurl -plaintext -d '{{}}' {grpc} grpc.health.v1.Health/Check   # needs server reflection or -proto",
        "The sessions in Redis:",
        f"  redis-cli -u {stack.redis.url} --scan --pattern '{stack.redis.key_prefix}session:*'",
    ]
