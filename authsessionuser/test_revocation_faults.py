"""A disable reaches authsession through every fault of the user → authsession link, and loses nothing
(galaxy/README.md, "user": "Disabling ends every session of the user at once, and a fault loses nothing").

While the fault lasts, the disable answers 202 with its revocation ``pending``; the user is disabled on the
public API, so authsession opens no session for it and ends the one it refreshes; enabling the user answers 503
``DEPENDENCY_UNAVAILABLE`` (authsession) and leaves it disabled. Once the fault is lifted the user service
delivers the revocation on its own, with no other call made: the admin API shows it ``done``, and the gateway
refuses every access token of the user's sessions on the next request, over HTTP and gRPC."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from authsessionuser.scenario import await_revocation, refused_at_the_edge, working_at_the_edge
from gatewayauthsession.scenario import REPEATED_LOGINS, code_for, expect_error, log_in, session_ids
from gatewayauthsession.stack import TRANSPORTS, Stack

CALL_TIMEOUT_MS = 500  # USER_AUTHSESSION_TIMEOUT: a delivery that waits on a slow link gives up soon
SLOW_MS = 4 * CALL_TIMEOUT_MS
IN_FLIGHT_MS = 2000  # USER_AUTHSESSION_TIMEOUT of a delivery that must still be under way when its process dies

pytestmark = [
    REPEATED_LOGINS,
    pytest.mark.stack(
        links=("user->authsession",),
        revocation_wait="300ms",  # the disable answers soon when the revocation is not acknowledged
        user_authsession_timeout=f"{CALL_TIMEOUT_MS}ms",
        revocation_retry_min="50ms",
        revocation_retry_max="500ms",  # once the fault is lifted, the next delivery comes within it
    ),
]


def _nothing(stack: Stack) -> None:
    return None


def _kill_and_start(stack: Stack, service: str) -> None:
    stack.process(service).kill()
    stack.restart(service)


@dataclass(frozen=True)
class Fault:
    """``start`` before the disable, ``meanwhile`` once it answered pending (the revocation must survive it),
    ``lift`` to end the fault."""

    start: Callable[[Stack], object]
    lift: Callable[[Stack], object]
    meanwhile: Callable[[Stack], object] = _nothing
    authsession_up: bool = True  # whether the public edge works meanwhile
    # Whether a call of a killed process may still reach authsession, held on the link, and race the next
    # process's call: the two then split the sessions between them, and the acknowledged one reports its part.
    racing_call: bool = False
    settings: dict[str, str] = field(default_factory=dict)  # the stack's, beyond the module's


FAULTS: dict[str, Fault] = {
    "link down": Fault(lambda s: s.link("user", "authsession").down(), lambda s: s.link("user", "authsession").up()),
    "link slower than the call's deadline": Fault(
        lambda s: s.link("user", "authsession").latency(ms=SLOW_MS, direction="both"),
        lambda s: s.link("user", "authsession").heal(),
    ),
    "link reset": Fault(
        lambda s: s.link("user", "authsession").reset_peer(), lambda s: s.link("user", "authsession").heal()
    ),
    "user service restarted while pending": Fault(
        lambda s: s.link("user", "authsession").down(),
        lambda s: s.link("user", "authsession").up(),
        meanwhile=lambda s: s.restart("user"),
    ),
    # The delivery is held on the link past the disable's answer and well within its own deadline, so the
    # process dies holding its claim: the revocation is due again once the claim lapses (the deadline + 1 s).
    "user service killed mid-delivery and started again": Fault(
        lambda s: s.link("user", "authsession").latency(ms=4 * IN_FLIGHT_MS, direction="upstream"),
        lambda s: s.link("user", "authsession").heal(),
        meanwhile=lambda s: _kill_and_start(s, "user"),
        settings={"user_authsession_timeout": f"{IN_FLIGHT_MS}ms"},
        racing_call=True,
    ),
    "authsession killed, then started": Fault(
        lambda s: s.process("authsession").kill(), lambda s: s.restart("authsession"), authsession_up=False
    ),
}


@pytest.mark.parametrize(
    "fault_name",
    [pytest.param(name, marks=[pytest.mark.waits, pytest.mark.stack(**f.settings)]) for name, f in FAULTS.items()],
)
@pytest.mark.rule(
    "galaxy.user.disable.delivery",
    "galaxy.user.disable.wait",
    "galaxy.user.disable.durable",
    "galaxy.user.disable.at-least-once",
    "galaxy.user.disable.sessions-end",
    "galaxy.user.enable.waits",
    "galaxy.env.user-authsession-timeout",
    "user-storage.revocations",
    "user-storage.revocation-claim",
    "user-storage.transactions",
    "tokens.refresh.owner-checked",
)
def test_a_disable_reaches_authsession_through_a_fault_and_loses_nothing(stack: Stack, fault_name: str) -> None:
    fault = FAULTS[fault_name]
    email = "fay@example.com"
    mine = [log_in(stack, stack.api(t), email) for t in (*TRANSPORTS, "http")]
    kept, refreshed_meanwhile = mine[:2], mine[2]
    bystander = log_in(stack, stack.api("grpc"), "ben@example.com")
    user_id = mine[0].user_id
    admin = stack.user_service.admin

    fault.start(stack)
    disabled = admin.disable(user_id)
    assert (disabled.http_status, disabled.status, disabled.revocation.state) == (202, "disabled", "pending")
    assert disabled.revocation.generation == disabled.generation == 2
    fault.meanwhile(stack)

    assert stack.user_service.api.get(user_id).status == "disabled"
    expect_error("DEPENDENCY_UNAVAILABLE", admin.enable, user_id, dependency="authsession")
    still = admin.get(user_id)
    assert (still.status, still.generation, still.revocation.state) == ("disabled", 2, "pending")
    if fault.authsession_up:
        api = stack.api("http")
        expect_error("USER_DISABLED", api.refresh_session, refreshed_meanwhile.refresh_token)
        refused_at_the_edge(stack, refreshed_meanwhile)
        challenge = api.start_email_login(email)
        expect_error("USER_DISABLED", api.confirm_email_login, challenge.challenge_id, code_for(stack, challenge))

    fault.lift(stack)
    done = await_revocation(stack, user_id)

    assert (done.status, done.generation, done.revocation.generation) == ("disabled", 2, 2)
    # At least once: a call whose acknowledgement was lost may have revoked them, and its successor nothing more;
    # a killed process's call still on the link may have revoked some while its successor revoked the others.
    left = len(mine) - int(fault.authsession_up)
    counts = range(left + 1) if fault.racing_call else (0, left)
    assert done.revocation.revoked_sessions in counts, done.revocation
    refused_at_the_edge(stack, *kept)
    working_at_the_edge(stack, bystander)
    assert session_ids(stack) == [bystander.session_id]
    # Done, the user may be enabled again, and log in anew.
    assert admin.enable(user_id).status == "active"
    working_at_the_edge(stack, log_in(stack, stack.api("grpc"), email))


RETRY_MAX_MS = 200
RECONNECT_BACKOFF_MAX_S = 1.0  # platform/grpcclient: 100 ms growing to at most 1 s


@pytest.mark.waits
@pytest.mark.since("f05a51542a0ac12522fead33df53532e1ad34892")  # user: a retry no longer waits for the poll
@pytest.mark.stack(revocation_retry_min="100ms", revocation_retry_max=f"{RETRY_MAX_MS}ms")
@pytest.mark.rule("galaxy.env.user-revocation-retry-max", "galaxy.user.disable.delivery")
def test_after_a_long_outage_the_revocation_comes_within_the_longest_retry_delay(stack: Stack) -> None:
    """However many deliveries failed, none waits longer than USER_REVOCATION_RETRY_MAX (±20 %) after the
    last: once the link is back, the revocation is done within that delay, the reconnect and a call's time."""
    login = log_in(stack, stack.api("http"), "lena@example.com")
    with stack.link("user", "authsession").outage():
        assert stack.user_service.admin.disable(login.user_id).http_status == 202
        time.sleep(4.0)  # twenty times the longest delay: unbounded doubling would wait seconds by now
        failed = stack.user_service.admin.get(login.user_id).revocation
        assert failed.state == "pending"
        assert failed.attempts is not None, failed
        assert failed.attempts >= 10, f"{failed.attempts} deliveries in 4 s, at most {RETRY_MAX_MS} ms apart"
    lifted = time.monotonic()
    await_revocation(stack, login.user_id)
    took = time.monotonic() - lifted
    # The longest retry delay, the connection's reconnect backoff (at most 1 s, galaxy/README.md's recovery) and
    # a call's time; an unbounded doubling would be past 3 s by now.
    bound = 1.2 * RETRY_MAX_MS / 1000 + RECONNECT_BACKOFF_MAX_S + 1.0
    assert took < bound, f"delivered {took:.1f}s after the link came back (bound {bound:.1f}s)"
    refused_at_the_edge(stack, login)
