"""The user service out of reach when authsession needs it, on confirm and on refresh: the answer is 503 /
UNAVAILABLE ``DEPENDENCY_UNAVAILABLE`` naming the user service within the upstream deadline, nothing is opened,
used or revoked, and once the user service is back the same call with the same inputs succeeds
(contracts/user.md; contracts/tokens.md, "Rotation" and "Retries")."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from authsessionuser.scenario import working_at_the_edge
from contracts.gatewayv1 import GatewayApi
from gatewayauthsession.scenario import REPEATED_LOGINS, code_for, expect_error, log_in, served, session_ids
from gatewayauthsession.stack import Stack

UPSTREAM_TIMEOUT_S = 0.5
MARGIN_S = 2.0  # beyond the deadline, for the rest of the call's path on a loaded machine
RECOVERY_S = 10.0

pytestmark = REPEATED_LOGINS

Step = Callable[[Stack], object]
FAULTS: dict[str, tuple[Step, Step]] = {
    "down": (lambda s: s.link("authsession", "user").down(), lambda s: s.link("authsession", "user").up()),
    "slower-than-the-deadline": (
        lambda s: s.link("authsession", "user").latency(ms=int(4000 * UPSTREAM_TIMEOUT_S)),
        lambda s: s.link("authsession", "user").heal(),
    ),
    "reset": (lambda s: s.link("authsession", "user").reset_peer(), lambda s: s.link("authsession", "user").heal()),
    "killed": (lambda s: s.process("user").kill(), lambda s: s.restart("user")),
}
"""Each fault of the user service as authsession meets it, and what lifts it (the killed service is started
again on the same addresses)."""


@pytest.mark.stack(links=("authsession->user",), upstream_timeout=f"{int(UPSTREAM_TIMEOUT_S * 1000)}ms")
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.rule("user.resolve-on-confirm", "tokens.refresh.owner-checked", "errors.code.dependency-unavailable")
def test_a_user_service_outage_fails_confirm_and_refresh_cleanly_and_loses_nothing(
    stack: Stack, api: GatewayApi, fault: str
) -> None:
    held = log_in(stack, api, "olga@example.com")
    challenge = api.start_email_login("olga@example.com")
    code = code_for(stack, challenge)
    break_it, lift_it = FAULTS[fault]

    break_it(stack)
    for call, args in (
        (api.confirm_email_login, (challenge.challenge_id, code)),
        (api.refresh_session, (held.refresh_token,)),
    ):
        started = time.monotonic()
        expect_error("DEPENDENCY_UNAVAILABLE", call, *args, dependency="user")
        took = time.monotonic() - started
        assert took < UPSTREAM_TIMEOUT_S + MARGIN_S, f"{call.__name__} answered after {took:.1f}s"
    assert session_ids(stack) == [held.session_id], "a failed confirm opened a session, or a refresh ended one"
    working_at_the_edge(stack, held)  # the session's access token works all along
    lift_it(stack)

    # The same inputs again: the code still opens a session, the refresh token still refreshes.
    confirmed = served(api.confirm_email_login, challenge.challenge_id, code, within=RECOVERY_S)
    refreshed = served(api.refresh_session, held.refresh_token, within=RECOVERY_S)
    assert refreshed.session_id == held.session_id
    assert confirmed.user_id == held.user_id
    assert sorted(session_ids(stack)) == sorted([held.session_id, confirmed.session_id])
    working_at_the_edge(stack, confirmed, refreshed)


@pytest.mark.stack(
    links=("authsession->user",), gateway_authsession_timeout="1s", upstream_timeout="3s", retry_grace="30s"
)
@pytest.mark.rule("tokens.retry.window", "tokens.retry.confirm", "tokens.retry.refresh", "tokens.retry.same-inputs")
def test_a_confirm_and_a_refresh_cut_short_by_a_slow_user_service_are_retried_into_the_same_session(
    stack: Stack, api: GatewayApi
) -> None:
    """The caller's deadline passes while the user service is slow; whatever authsession did by then, the same
    call retried with the same inputs gives a working pair of the same session, and nothing twice."""
    held = log_in(stack, api, "rhea@example.com")
    challenge = api.start_email_login("rhea@example.com")
    code = code_for(stack, challenge)

    with stack.link("authsession", "user").latency(ms=2000):
        expect_error("DEPENDENCY_UNAVAILABLE", api.confirm_email_login, challenge.challenge_id, code)
        expect_error("DEPENDENCY_UNAVAILABLE", api.refresh_session, held.refresh_token)

    confirmed = served(api.confirm_email_login, challenge.challenge_id, code, within=RECOVERY_S)
    again = api.confirm_email_login(challenge.challenge_id, code)  # a retry within the grace window
    assert (again.session_id, again.refresh_token) == (confirmed.session_id, confirmed.refresh_token)
    refreshed = served(api.refresh_session, held.refresh_token, within=RECOVERY_S)
    retried = api.refresh_session(held.refresh_token)  # its answer lost, the refresh is retried: no replay
    assert (retried.session_id, retried.refresh_token) == (held.session_id, refreshed.refresh_token)
    assert sorted(session_ids(stack)) == sorted([held.session_id, confirmed.session_id])
    working_at_the_edge(stack, confirmed, retried)
