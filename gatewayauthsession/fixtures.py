"""The suite's own fixtures: the gateway's API over each transport (the stack
itself comes from the harness, :mod:`harness.topology.fixtures`). A plugin of its
own, registered by ``conftest.py`` only in the processes that run tests."""

from __future__ import annotations

import pytest

from contracts.gatewayv1 import GatewayApi
from gatewayauthsession.stack import TRANSPORTS, Stack, Transport


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> Transport:
    """HTTP, then gRPC."""
    value: Transport = request.param
    return value


@pytest.fixture
def api(stack: Stack, transport: Transport) -> GatewayApi:
    """The gateway's public API over HTTP, then over gRPC."""
    return stack.api(transport)
