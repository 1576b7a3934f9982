"""How long a disable waits and when a failed delivery is tried again (galaxy/README.md, "user": the disable
waits up to ``USER_REVOCATION_WAIT`` for authsession's acknowledgement; a failed call is tried again after
``USER_REVOCATION_RETRY_MIN``, doubling after each failure, each delay ±20 %; revocations go on being delivered
while the service drains, so that a disable answered then has its acknowledgement), measured from outside: the
answers' times, and ``next_attempt_at`` as the admin API shows it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

import pytest

from authsessionuser.scenario import refused_at_the_edge
from contracts.errors import ApiError
from contracts.user.client import AdminUser, UserAdminClient
from gatewayauthsession.by_hand import by_hand
from gatewayauthsession.scenario import REPEATED_LOGINS, log_in
from gatewayauthsession.stack import Stack

pytestmark = [REPEATED_LOGINS, pytest.mark.waits]

WAIT_S = 3.0  # USER_REVOCATION_WAIT
HELD_S = 1.0  # how long the link holds a delivery that is acknowledged within the wait
SLACK_S = 1.5  # what an answer may take beyond the wait on a busy machine


def _timed(call: Callable[[str], AdminUser], user_id: str) -> tuple[AdminUser | ApiError, float]:
    """What ``call(user_id)`` answered, or the error it raised, and how many seconds it took."""
    started = time.monotonic()
    try:
        answer: AdminUser | ApiError = call(user_id)
    except ApiError as err:
        answer = err
    return answer, time.monotonic() - started


@pytest.mark.stack(
    links=("user->authsession",),
    revocation_wait=f"{WAIT_S:.0f}s",
    revocation_retry_min="10s",  # a failed delivery is not tried again within the scenario
    revocation_retry_max="10s",
)
@pytest.mark.rule("galaxy.env.user-revocation-wait", "galaxy.user.disable.wait", "galaxy.user.enable.waits")
def test_a_disable_waits_for_the_acknowledgement_up_to_the_revocation_wait_and_no_longer(stack: Stack) -> None:
    admin = stack.user_service.admin
    link = stack.link("user", "authsession")
    acked, pending = (log_in(stack, stack.api("http"), f"{name}@example.com") for name in ("slow", "lost"))

    # Acknowledged within the wait, however late in it: the disable waited for it and answers 200.
    with link.latency(ms=int(HELD_S * 1000), direction="upstream"):
        done, took = _timed(admin.disable, acked.user_id)
    assert isinstance(done, AdminUser), done
    assert (done.http_status, done.revocation.state) == (200, "done"), f"after {took:.2f}s: {done}"
    assert HELD_S <= took < WAIT_S, f"the disable answered after {took:.2f}s"
    refused_at_the_edge(stack, acked)

    # Never acknowledged: the disable answers 202 once the wait is over, and an enable waits as long.
    with link.outage():
        still, took = _timed(admin.disable, pending.user_id)
        assert isinstance(still, AdminUser), still
        assert (still.http_status, still.revocation.state) == (202, "pending"), still
        assert WAIT_S <= took < WAIT_S + SLACK_S, f"the disable answered after {took:.2f}s, the wait is {WAIT_S}s"
        refused, took = _timed(admin.enable, pending.user_id)
        assert isinstance(refused, ApiError), refused
        assert refused.code == "DEPENDENCY_UNAVAILABLE", refused
        assert WAIT_S <= took < WAIT_S + SLACK_S, f"the enable answered after {took:.2f}s, the wait is {WAIT_S}s"


RETRY_MIN_S = 3.0
CALL_TIMEOUT_S = 0.2  # USER_AUTHSESSION_TIMEOUT: a failed call takes at most this long
JITTER = 0.2
KICK_S = 0.8  # from a delay's end to its delivery's start and its failure's record, on a busy machine


def _next_attempt(admin: UserAdminClient, user_id: str, attempts: int, *, within: float) -> datetime:
    """When the next delivery is due once ``attempts`` deliveries failed."""
    deadline = time.monotonic() + within
    while (user := admin.get(user_id)).revocation.attempts != attempts:
        got = user.revocation.attempts or 0
        assert got < attempts, f"{got} failed deliveries, waiting for the {attempts}th: {user.revocation}"
        assert time.monotonic() < deadline, f"{attempts} failed deliveries not seen within {within}s"
        time.sleep(0.05)
    assert user.revocation.next_attempt_at is not None, user.revocation
    return user.revocation.next_attempt_at


@pytest.mark.stack(
    links=("user->authsession",),
    revocation_wait="300ms",
    revocation_retry_min=f"{RETRY_MIN_S:.0f}s",
    revocation_retry_max="20s",
    user_authsession_timeout=f"{int(CALL_TIMEOUT_S * 1000)}ms",
)
@pytest.mark.rule("galaxy.env.user-revocation-retry-min", "galaxy.user.disable.delivery", "galaxy.user.revocation-view")
def test_a_failed_delivery_is_tried_again_after_the_minimum_delay_then_after_twice_as_long(stack: Stack) -> None:
    admin = stack.user_service.admin
    login = log_in(stack, stack.api("http"), "retry@example.com")
    with stack.link("user", "authsession").outage():
        disabled = admin.disable(login.user_id)
        assert (disabled.http_status, disabled.revocation.state) == (202, "pending"), disabled
        first = _next_attempt(admin, login.user_id, 1, within=2 * RETRY_MIN_S)
        second = _next_attempt(admin, login.user_id, 2, within=3 * RETRY_MIN_S)

    # The first delivery went out at the disable; its failure took at most the call's deadline.
    after_first = (first - disabled.status_changed_at).total_seconds()
    low, high = (1 - JITTER) * RETRY_MIN_S, (1 + JITTER) * RETRY_MIN_S + CALL_TIMEOUT_S + KICK_S
    assert low <= after_first <= high, (
        f"the second delivery was due {after_first:.2f}s after the first, not {low}..{high:.2f}s"
    )
    after_second = (second - first).total_seconds()
    low, high = 2 * (1 - JITTER) * RETRY_MIN_S, 2 * (1 + JITTER) * RETRY_MIN_S + CALL_TIMEOUT_S + KICK_S
    assert low <= after_second <= high, (
        f"the third delivery was due {after_second:.2f}s after the second, "
        f"not {low}..{high:.2f}s (twice the first delay)"
    )


DRAIN_HELD_S = 1.5  # how long the link holds the delivery under way as the process is told to go


def _revocation_state(stack: Stack, user_id: str) -> str:
    """The state of ``user_id``'s revocation, as the stack's own user process's admin API shows it."""
    admin = UserAdminClient(f"http://{stack.address('user', 'admin')}")
    try:
        return admin.get(user_id).revocation.state
    finally:
        admin.close()


@pytest.mark.stack(links=("user->authsession",), revocation_wait="8s")
@pytest.mark.rule("galaxy.env.user-shutdown-timeout", "galaxy.user.disable.wait")
def test_a_disable_under_way_as_the_service_is_told_to_go_gets_its_acknowledgement(stack: Stack) -> None:
    login = log_in(stack, stack.api("http"), "drain@example.com")
    going = by_hand(stack, "user").start()
    admin = UserAdminClient(f"http://{going.address('admin')}", trace=stack.trace)
    stack.on_close.append(admin.close)
    answers: list[tuple[AdminUser | ApiError, float]] = []

    with stack.link("user", "authsession").latency(ms=int(DRAIN_HELD_S * 1000), direction="upstream"):
        disabling = threading.Thread(target=lambda: answers.append(_timed(admin.disable, login.user_id)))
        disabling.start()
        # The disable stored its pending revocation (the stack's own process reads it from the shared store)
        # and is delivering it, held on the link, when the process is told to go.
        reached = time.monotonic() + 5
        while _revocation_state(stack, login.user_id) != "pending":
            assert time.monotonic() < reached, "the disable never stored its pending revocation"
            time.sleep(0.01)
        drain = going.terminate_and_drain(timeout=15)
        disabling.join(timeout=15)
    assert not disabling.is_alive()

    [(answer, took)] = answers
    assert isinstance(answer, AdminUser), answer
    assert (answer.http_status, answer.revocation.state, answer.revocation.revoked_sessions) == (200, "done", 1), (
        f"the disable answered {answer} after {took:.2f}s while its process drained"
    )
    assert took < DRAIN_HELD_S + 4.0, f"the disable answered after {took:.2f}s: it did not have its delivery's answer"
    assert (drain.returncode, drain.forced) == (0, False), drain.describe()
    refused_at_the_edge(stack, login)
