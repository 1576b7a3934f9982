"""Typed helpers for the gateway's public API (``galaxy.gateway.v1``), over
HTTP JSON and gRPC alike: both clients implement :class:`GatewayApi` and raise
:class:`contracts.errors.ApiError`."""

from __future__ import annotations

from contracts.gatewayv1.models import GatewayApi, Login, LoginChallenge, Me, SessionInfo

__all__ = ["GatewayApi", "Login", "LoginChallenge", "Me", "SessionInfo"]
