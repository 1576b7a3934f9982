"""A rolling upgrade over one Redis: each service (authsession, the gateway, the user service) restarted onto
its other version, then back, while the others keep running. Across each roll, a session opened before it keeps
working and refreshing for the same user the user service knows, and disabling that user still ends every
session of it at authsession, so that the gateway refuses its tokens.

"The other version" is the service built from BASE (``GALAXY_SKEW_BASE``, else the merge-base with main) when
the stack runs the working tree's, and the working tree's when a skew session built the stack's from BASE."""

from __future__ import annotations

import pytest

from authsessionuser.scenario import await_revocation, refused_at_the_edge, working_at_the_edge
from authsessionuser.topology import TOPOLOGY
from gatewayauthsession.scenario import log_in, served
from gatewayauthsession.stack import Stack, Transport
from harness.builds.binary import Binary

pytestmark = pytest.mark.outside_mutation(
    "builds BASE from the repository's history, which a mutant's workspace copy lacks"
)

RECONNECT_S = 3.0  # a restarted service's peers are back to it within a couple of seconds


@pytest.mark.parametrize("rolled", [s.name for s in TOPOLOGY.services])
def test_the_boundary_holds_while_a_service_is_rolled_onto_its_other_version_and_back(
    other_versions: dict[str, Binary], stack: Stack, transport: Transport, rolled: str
) -> None:  # the other versions are built before the stack starts
    started_on = stack.binaries[rolled]
    for n, (step, binary) in enumerate((("onto the other version", other_versions[rolled]), ("back", started_on))):
        email = f"rolling-{rolled}-{n}@example.com"
        before = log_in(stack, stack.api(transport), email)

        stack.restart(rolled, binary=binary)
        api = stack.api(transport)
        refreshed = served(api.refresh_session, before.refresh_token, within=RECONNECT_S)
        assert refreshed.session_id == before.session_id, f"{rolled} rolled {step} ({binary.source})"
        working_at_the_edge(stack, before, refreshed)
        assert stack.user_service.api.resolve(email).user.id == before.user_id, f"{rolled} rolled {step}"

        stack.user_service.admin.disable(before.user_id)  # done at once, or once the peers reconnected
        await_revocation(stack, before.user_id)
        refused_at_the_edge(stack, before, refreshed)
