"""What the user service's storage promises (``contracts/user-storage.md``), seen from outside as
``contracts/README.md`` ("Rules") asks of a service's private keys: through its APIs, across restarts of its
process and between processes of it that share one Redis, never by reading its keys.

A keyspace of its own under ``USER_REDIS_KEY_PREFIX`` (``galaxy-user:`` unless told): processes given one prefix
share their users, and a process given another sees none of them. A user's record keeps every field the admin
API shows, so a process started afresh shows the same user, and a pending revocation keeps the disable's trace,
which its delivery continues. Several processes may deliver from one outbox: the claim keeps two from
delivering one revocation at once, and an outcome that comes back for a revocation no longer pending (a process
frozen mid-delivery while another one delivered it) changes nothing."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from authsessionuser.scenario import await_revocation, refused_at_the_edge
from contracts.errors import ApiError
from contracts.tracing import TRACE_ID_KEY
from contracts.user.client import AdminUser, UserService, user_service
from gatewayauthsession.by_hand import by_hand
from gatewayauthsession.scenario import REPEATED_LOGINS, call_lines, expect_error, log_in
from gatewayauthsession.stack import Stack
from harness.forensics.timeline import json_lines
from harness.processes.service import ServiceProcess

pytestmark = REPEATED_LOGINS

DEFAULT_PREFIX = "galaxy-user:"  # galaxy/README.md, USER_REDIS_KEY_PREFIX


def _another_process(stack: Stack, changes: dict[str, str | None] | None = None) -> tuple[ServiceProcess, UserService]:
    """A second user process of the stack (its environment, changed by ``changes``), started, with clients of
    its two APIs in the stack's trace; the stack stops both with itself."""
    proc = by_hand(stack, "user", changes).start()
    clients = user_service(f"http://{proc.address('http')}", f"http://{proc.address('admin')}", trace=stack.trace)
    stack.on_close.append(clients.close)
    return proc, clients


def _eventually(what: str, check: Callable[[], Any], *, within: float) -> Any:
    """``check()``'s first truthy answer, asked every 50 ms for at most ``within`` seconds."""
    deadline = time.monotonic() + within
    while not (answer := check()):
        assert time.monotonic() < deadline, f"{what}: not seen within {within}s"
        time.sleep(0.05)
    return answer


@pytest.mark.rule("user-storage.prefix", "galaxy.env.user-redis-key-prefix")
def test_processes_share_the_users_of_their_prefix_and_no_other(stack: Stack) -> None:
    email = f"prefix-{uuid.uuid4().hex[:8]}@example.com"
    _, unset = _another_process(stack, {"USER_REDIS_KEY_PREFIX": None})
    _, default = _another_process(stack, {"USER_REDIS_KEY_PREFIX": DEFAULT_PREFIX})
    first = unset.api.resolve(email)
    assert first.created, f"{email} was known before any process resolved it: {first}"

    # Unset, the prefix is galaxy-user:, so a process told that prefix finds the same user.
    again = default.api.resolve(email)
    assert (again.created, again.user) == (False, first.user), (
        f"a process with USER_REDIS_KEY_PREFIX={DEFAULT_PREFIX} resolved {again}, not the user the default "
        f"prefix stored, {first.user}"
    )
    assert default.api.get(first.user.id) == first.user

    # The stack's own process has a prefix of its own: it sees none of those users, and they none of its.
    own = stack.user_service.api
    err = expect_error("NOT_FOUND", own.get, first.user.id)
    assert isinstance(err, ApiError)
    mine = own.resolve(email)
    assert mine.created, f"another prefix's user was found: {mine}"
    assert mine.user.id != first.user.id, mine
    expect_error("NOT_FOUND", unset.api.get, mine.user.id)
    assert unset.api.resolve(email).user == first.user


def _ms(at: float) -> datetime:
    """A wall-clock time as the admin API states it: UTC, to the millisecond."""
    return datetime.fromtimestamp(int(at * 1000) / 1000, tz=UTC)


def _kept(before: AdminUser, after: AdminUser, *fields: str) -> None:
    for name in fields:
        assert getattr(after, name) == getattr(before, name), (
            f"{name} was {getattr(before, name)!r} and is {getattr(after, name)!r} once the process started again"
        )


@pytest.mark.waits
@pytest.mark.stack(
    links=("user->authsession",),
    revocation_wait="300ms",
    revocation_retry_min="50ms",
    revocation_retry_max="200ms",
)
@pytest.mark.rule("user-storage.user", "user-storage.email", "galaxy.user.admin-answer", "galaxy.user.disable.durable")
def test_a_users_record_keeps_what_the_admin_api_shows_across_restarts(stack: Stack) -> None:
    admin = stack.user_service.admin
    created_after = _ms(time.time())
    logins = [log_in(stack, stack.api(t), "Rec.Ord@Example.com") for t in ("http", "grpc")]
    created_before = _ms(time.time())
    user_id = logins[0].user_id
    fresh = admin.get(user_id)
    assert fresh.email == "rec.ord@example.com", f"the user is named {fresh.email!r}, not the address's normal form"
    assert (fresh.status, fresh.generation, fresh.revocation.state) == ("active", 1, "none"), fresh
    assert created_after <= fresh.created_at <= created_before, (created_after, fresh.created_at, created_before)
    assert fresh.status_changed_at == fresh.created_at

    link = stack.link("user", "authsession")
    with link.outage():
        disabled_after = _ms(time.time())
        disabled = admin.disable(user_id)
        disabled_before = _ms(time.time())
        assert (disabled.http_status, disabled.revocation.state, disabled.generation) == (202, "pending", 2)
        assert disabled_after <= disabled.status_changed_at <= disabled_before, (
            disabled_after,
            disabled.status_changed_at,
            disabled_before,
        )
        failing = _eventually(
            "a failed delivery",
            lambda: (u := admin.get(user_id)).revocation.attempts and u.revocation.last_error and u,
            within=5,
        )
        stack.restart("user")
        pending = admin.get(user_id)
        _kept(fresh, pending, "id", "email", "created_at")
        _kept(failing, pending, "status", "generation", "status_changed_at")
        assert (pending.revocation.state, pending.revocation.generation) == ("pending", 2), pending.revocation
        assert pending.revocation.attempts is not None, pending.revocation
        assert failing.revocation.attempts is not None, failing.revocation
        assert pending.revocation.attempts >= failing.revocation.attempts, (
            f"{failing.revocation.attempts} failed deliveries before the restart, {pending.revocation.attempts} after"
        )
        assert pending.revocation.last_error, pending.revocation
        assert pending.revocation.next_attempt_at, pending.revocation

    done = await_revocation(stack, user_id)
    assert (done.revocation.generation, done.revocation.revoked_sessions) == (2, len(logins)), done.revocation
    refused_at_the_edge(stack, *logins)
    # Delivered by a process that never saw the disable, in the disable's trace: the record kept it.
    revoke_all = call_lines(stack, "authsession", "RevokeAllSessions")
    assert revoke_all, "authsession logged no RevokeAllSessions call"
    assert revoke_all[-1][TRACE_ID_KEY] == stack.trace.trace_id, (
        f"the delivery after the restart was in trace {revoke_all[-1][TRACE_ID_KEY]}, the disable's is "
        f"{stack.trace.trace_id}"
    )

    stack.restart("user")
    after = admin.get(user_id)
    _kept(done, after, "id", "email", "status", "generation", "created_at", "status_changed_at", "revocation")
    # Seconds later, its address still names it: the address's key does not expire.
    again = stack.user_service.api.resolve("Rec.Ord@Example.com")
    assert (again.created, again.user.id) == (False, user_id), f"the address now resolves {again}"


def _user_log(proc: ServiceProcess) -> list[dict[str, Any]]:
    return list(json_lines(proc.all_logs_text()))


HELD_MS = 2500  # how long the link holds each delivery's request
CALL_TIMEOUT_MS = 4000  # USER_AUTHSESSION_TIMEOUT: longer than HELD_MS, so the held delivery succeeds


@pytest.mark.waits
@pytest.mark.stack(
    links=("user->authsession",), revocation_wait="300ms", user_authsession_timeout=f"{CALL_TIMEOUT_MS}ms"
)
@pytest.mark.rule("galaxy.user.disable.instances", "user-storage.revocation-claim")
def test_two_processes_on_one_redis_never_deliver_one_revocation_at_once(stack: Stack) -> None:
    """While one process's delivery is held on the link, the other (polling the same outbox every second)
    does not deliver that revocation too: authsession gets one call, in the disable's trace."""
    logins = [log_in(stack, stack.api(t), "twice@example.com") for t in ("http", "grpc")]
    user_id = logins[0].user_id
    other, _ = _another_process(stack)
    with stack.link("user", "authsession").latency(ms=HELD_MS, direction="upstream"):
        pending = stack.user_service.admin.disable(user_id)
        assert (pending.http_status, pending.revocation.state) == (202, "pending"), pending
        done = await_revocation(stack, user_id, within=CALL_TIMEOUT_MS / 1000 + 5)
        # Whatever another delivery started meanwhile reaches authsession within the time the link holds it.
        time.sleep(HELD_MS / 1000 + 1.0)
    assert other.is_running(), other.log_tail()

    assert done.revocation.revoked_sessions == len(logins), done.revocation
    calls = [
        c for c in call_lines(stack, "authsession", "RevokeAllSessions") if c[TRACE_ID_KEY] == stack.trace.trace_id
    ]
    assert len(calls) == 1, f"{len(calls)} RevokeAllSessions calls for one revocation that never failed: {calls}"
    refused_at_the_edge(stack, *logins)


LATE_CALL_TIMEOUT_MS = 1000  # the frozen process's claim lapses 1 s after its call's deadline
NEVER_AGAIN = "60s"  # a retry delay no failed delivery of the scenario comes back from
UNREACHABLE = "127.0.0.1:1"  # an authsession address that refuses every connection


@pytest.mark.waits
@pytest.mark.stack(
    links=("user->authsession",), revocation_wait="300ms", user_authsession_timeout=f"{LATE_CALL_TIMEOUT_MS}ms"
)
@pytest.mark.rule("user-storage.outcome-if-pending", "galaxy.user.enable.outcome")
def test_an_outcome_for_a_revocation_no_longer_pending_changes_nothing(stack: Stack) -> None:
    """A process frozen mid-delivery of generation 2 comes back after another process delivered it, the user
    was enabled and disabled again (generation 4, its delivery failed once and due again only in a minute): its
    late failure of generation 2 leaves generation 4's revocation as it was."""
    login = log_in(stack, stack.api("http"), "late@example.com")
    user_id = login.user_id
    frozen = stack.process("user")
    link = stack.link("user", "authsession")
    direct: dict[str, str | None] = {"USER_AUTHSESSION_ADDR": stack.process("authsession").address("grpc")}
    failing: dict[str, str | None] = {
        "USER_AUTHSESSION_ADDR": UNREACHABLE,
        "USER_REVOCATION_RETRY_MIN": NEVER_AGAIN,
        "USER_REVOCATION_RETRY_MAX": NEVER_AGAIN,
    }
    link.latency(ms=60_000, direction="upstream")
    first = stack.user_service.admin.disable(user_id)
    assert (first.http_status, first.revocation.state, first.revocation.generation) == (202, "pending", 2)
    frozen.pause()  # mid-call: its request is held on the link
    try:
        link.down()  # the held request goes nowhere
        link.heal()
        deliverer, other = _another_process(stack, direct)
        # Once the frozen process's claim lapsed, the other delivers generation 2.
        done = _eventually(
            "generation 2's revocation delivered by the other process",
            lambda: (u := other.admin.get(user_id)).revocation.state == "done" and u,
            within=LATE_CALL_TIMEOUT_MS / 1000 + 6,
        )
        assert (done.revocation.generation, done.revocation.revoked_sessions) == (2, 1), done.revocation
        assert other.admin.enable(user_id).generation == 3
        deliverer.stop()
        # A process that cannot reach authsession disables the user again: generation 4 stays pending.
        _, cut_off = _another_process(stack, failing)
        second = cut_off.admin.disable(user_id)
        assert (second.revocation.state, second.revocation.generation) == ("pending", 4), second.revocation
        before = _eventually(
            "generation 4's first failed delivery",
            lambda: (u := cut_off.admin.get(user_id)).revocation.attempts and u,
            within=5,
        )
    finally:
        frozen.resume()
    resumed = time.monotonic()

    # The premise: the frozen process finished its delivery of generation 2 and went to record it.
    _eventually(
        "the frozen process's outcome for generation 2",
        lambda: [
            r
            for r in _user_log(frozen)
            if r.get("user_id") == user_id
            and r.get("generation") == 2
            and r.get("msg") in ("revocation not delivered; retrying", "sessions revoked")
        ],
        within=5,
    )
    time.sleep(max(0.0, resumed + 1.0 - time.monotonic()))  # its bookkeeping, bounded by 1 s
    after = cut_off.admin.get(user_id)

    assert (after.status, after.generation) == ("disabled", 4), after
    assert after.revocation == before.revocation, (
        f"a late outcome for generation 2 changed generation 4's revocation from {before.revocation} "
        f"to {after.revocation}"
    )


STORE_LATENCY_MS = 1000  # each answer of Redis to the stack's user process, held on the link
SLOW_REDIS = {"user_redis_timeout": "3s"}  # a Redis step that takes the held second is no failure


@pytest.mark.waits
@pytest.mark.stack(links=("user->redis",), **SLOW_REDIS)
@pytest.mark.rule("user.concurrent-resolve", "galaxy.user.concurrent-resolve", "user-storage.email")
def test_of_resolves_of_a_new_address_racing_on_a_slow_store_exactly_one_creates_it(stack: Stack) -> None:
    """Each resolve reads the address's key a second before it can write: all of them find it absent, and the
    transaction watching that key lets one create the user; the others, tried again, answer it."""
    api = stack.user_service.api
    with (
        stack.link("user", "redis").latency(ms=STORE_LATENCY_MS, direction="downstream"),
        ThreadPoolExecutor(max_workers=4) as pool,
    ):
        answers = list(pool.map(lambda _: api.resolve("race@example.com"), range(4)))
    created = [a.user for a in answers if a.created]
    assert len(created) == 1, f"{len(created)} resolves of one new address created a user: {created}"
    assert {a.user for a in answers} == set(created), answers
    assert api.resolve("race@example.com").user == created[0]


@pytest.mark.waits
@pytest.mark.stack(links=("user->redis",), **SLOW_REDIS)
@pytest.mark.rule("user-storage.transactions", "galaxy.user.disable.idempotent")
def test_of_two_disables_racing_on_a_slow_store_one_changes_the_user_and_the_other_nothing(stack: Stack) -> None:
    """The stack's process reads the user active a second before it can write; meanwhile another process,
    whose store answers at once, disables the user and has its sessions revoked. The first disable's
    transaction on the user's record then changes nothing: the user is the other's disable, revoked once."""
    login = log_in(stack, stack.api("http"), "racing@example.com")
    _, quick = _another_process(stack, {"USER_REDIS_URL": stack.redis.url})
    answers: list[AdminUser] = []
    with stack.link("user", "redis").latency(ms=STORE_LATENCY_MS, direction="downstream"):
        slow = threading.Thread(target=lambda: answers.append(stack.user_service.admin.disable(login.user_id)))
        slow.start()
        time.sleep(1.5 * STORE_LATENCY_MS / 1000)  # after the slow one's read, before its write
        first = quick.admin.disable(login.user_id)
        slow.join(timeout=30)
    assert not slow.is_alive()

    assert (first.http_status, first.generation, first.revocation.state) == (200, 2, "done"), first
    [second] = answers
    assert (second.status, second.generation) == ("disabled", 2), second
    assert second.status_changed_at == first.status_changed_at, (
        f"the second disable changed the user: status changed at {second.status_changed_at}, "
        f"the first disable's {first.status_changed_at}"
    )
    revoke_all = call_lines(stack, "authsession", "RevokeAllSessions")
    assert len(revoke_all) == 1, f"{len(revoke_all)} RevokeAllSessions calls for one disabled user: {revoke_all}"
    refused_at_the_edge(stack, login)
