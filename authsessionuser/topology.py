"""The authsession ↔ user boundary, declared: gatewayauthsession's parts with the real user service in the
user stub's place (``gatewayauthsession/topology.py`` declares it as the stub's stand-in), so that both suites
start every service the same way."""

from __future__ import annotations

from dataclasses import replace

from gatewayauthsession.topology import TOPOLOGY as GATEWAY_AUTHSESSION

TOPOLOGY = replace(GATEWAY_AUTHSESSION.with_real("user"), name="authsessionuser")
