"""A rolling upgrade over one Redis: each service restarted onto its other
version, then back, while the other keeps running. Sessions made under one
version keep working under the other: their access tokens are accepted,
their refresh tokens refresh, and no session is lost or added.

"The other version" is the service built from BASE (``GALAXY_SKEW_BASE``,
else the merge-base with main; on main the commit before HEAD) when the
stack runs the working tree's, and the working tree's when a skew session
built the stack's from BASE (``--service-ref``)."""

from __future__ import annotations

import pytest

from gatewayauthsession.scenario import log_in, served, session_ids
from gatewayauthsession.stack import Stack, Transport
from gatewayauthsession.topology import TOPOLOGY
from harness.builds.binary import Binary

pytestmark = pytest.mark.outside_mutation(
    "builds BASE from the repository's history, which a mutant's workspace copy lacks"
)

SERVICES = tuple(s.name for s in TOPOLOGY.services)
RECONNECT_S = 3.0  # the gateway is back to a restarted authsession within a couple of seconds


@pytest.mark.parametrize("rolled", SERVICES)
def test_sessions_survive_a_service_rolled_onto_its_other_version_and_back(
    stack: Stack, transport: Transport, other_versions: dict[str, Binary], rolled: str
) -> None:
    email = f"rolling-{rolled}@example.com"
    before = log_in(stack, stack.api(transport), email)
    started_on = stack.binaries[rolled]
    other = other_versions[rolled]

    tokens = before
    for step, binary in (("onto the other version", other), ("back", started_on)):
        stack.restart(rolled, binary=binary)
        api = stack.api(transport)
        seen = api.me(tokens.access_token)
        assert seen.session_id == before.session_id, f"{rolled} rolled {step} ({binary.source}): {seen}"
        assert seen.email == email
        # The gateway's connection to a restarted authsession may still be
        # backing off: a client retries the 503, and gets the same session.
        tokens = served(api.refresh_session, tokens.refresh_token, within=RECONNECT_S)
        assert tokens.session_id == before.session_id, f"{rolled} rolled {step}: refresh moved the session"
        assert api.me(tokens.access_token).session_id == before.session_id
        assert session_ids(stack) == [before.session_id], f"{rolled} rolled {step}: sessions in Redis"
