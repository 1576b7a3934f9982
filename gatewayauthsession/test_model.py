"""A model-based test of the session lifecycle: Hypothesis drives a few users
through the public operations, over HTTP and gRPC in turn, and after every
step compares the real stack with a reference model of the contracts.

The model knows only what the contracts document:

- a login challenge (``contracts/errors.md``): a right code opens a session
  once; a wrong one is ``INVALID_CODE`` until the one that reaches
  ``AUTHSESSION_CODE_MAX_ATTEMPTS``, which is ``TOO_MANY_ATTEMPTS`` and burns
  it; a used or burned challenge is ``CHALLENGE_NOT_FOUND``; a disabled
  user's right code is ``USER_DISABLED`` and opens nothing;
- refresh tokens (``contracts/tokens.md``): the current one rotates; a used
  one is a replay, which revokes the whole session; a refresh of a disabled
  user's session revokes it (``USER_DISABLED``); a dead session's tokens are
  ``INVALID_REFRESH_TOKEN``;
- access tokens work exactly while their session is live (the gateway's
  liveness rule, ``contracts/redis.md``), whatever the user's status;
- the gateway's ``GET /v1/sessions`` / ``ListSessions`` lists the caller's
  live sessions newest first (``/openapi.json``, ``gateway.proto``) and marks
  the caller's own; logout and ``RevokeSession`` end one session (another
  user's answers ``SESSION_NOT_FOUND``); authsession's ``RevokeAllSessions``
  ends all of a user's and says how many;
- the public Redis records ``{p}session:{id}`` of exactly the live sessions,
  and one ``{p}session-events`` message per revocation of a live session,
  with its reason.

Settings that make the model deterministic, with no wall clock in it:
``retry_grace=0s`` (strict single use: every used refresh token is a replay
and every used challenge is gone; the retry window is left to
``test_login.py`` and ``test_sessions.py``), a code lifetime, access-token
lifetime and session lifetime no run outlives, abuse limits no run reaches,
and ``code_max_attempts=3`` so that burning a challenge takes few steps. A
1 ms resend cooldown always passes between two steps (each step is followed
by several round trips); the limits themselves are ``test_limits.py``'s. Listing order is by ``created_at``, which
has whole seconds: sessions opened within one second may be listed in either
order, so the ``a_second_passes`` step waits for the next second at most
once a run, which lets a run tell newest-first from oldest-first.

One stack serves every example; each example has users of its own (emails
unique to it) and compares only them. Budgets are the Hypothesis profiles of
``harness/suites/hypothesis_profiles.py``: ``galaxy`` by default, ``galaxy-deep`` with
``--hypothesis-profile=galaxy-deep``. A failure is shrunk to a short sequence
of steps, printed with the blob that replays it (``@reproduce_failure``) and
the seed (``--hypothesis-seed``).
"""

from __future__ import annotations

import contextlib
import itertools
import random
import time
from typing import Any

import pytest
from hypothesis import seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    get_state_machine_test,
    invariant,
    multiple,
    precondition,
    rule,
)

from contracts.authsessionv1.client import AuthSessionGrpcClient
from contracts.errors import ApiError
from contracts.gatewayv1 import GatewayApi
from contracts.redis_schema import events_channel, session_key
from gatewayauthsession.scenario import LIMITS_OUT_OF_THE_WAY, wrong_code
from gatewayauthsession.session_model import (
    CODE_MAX_ATTEMPTS,
    MAX_LIVE_SESSIONS,
    USERS,
    ChallengeModel,
    Expected,
    ModelComparisons,
    Pair,
    SessionModel,
    UserModel,
)
from gatewayauthsession.stack import TRANSPORTS, Stack, Transport
from harness.suites.hypothesis_profiles import run_timeout_s

_examples = itertools.count()


# ------------------------------------------------------------------ the machine


class SessionLifecycle(ModelComparisons, RuleBasedStateMachine):
    challenges = Bundle("challenges")
    pairs = Bundle("pairs")

    def __init__(self, stack: Stack) -> None:
        super().__init__()
        self.stack = stack
        run = next(_examples)
        # The user service knows every user from the start, so that each has
        # an id to revoke all sessions of or to disable before logging in.
        emails = [f"model{run}-u{i}@example.com" for i in range(USERS)]
        self.users = [UserModel(email, stack.users.add_user(email).id) for email in emails]
        self.sessions: list[SessionModel] = []
        self.seconds_passed = 0
        self.step = Expected()
        self.checks = 0
        self.prefix = stack.redis.key_prefix
        self.redis = stack.redis.client()
        self.pubsub = self.redis.pubsub()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
        self.pubsub.subscribe(events_channel(self.prefix))
        confirmation = self.pubsub.get_message(timeout=5.0)
        assert confirmation is not None
        assert confirmation["type"] == "subscribe", confirmation
        self.authsession: AuthSessionGrpcClient | None = None

    def teardown(self) -> None:
        """End this example's sessions, so that the next example's Redis
        checks read only its own records. Best effort: after a failed step
        the report must show that step's failure, not the clean-up's, and
        records left behind belong to no later example's users."""
        self.pubsub.close()
        self.redis.close()
        with contextlib.closing(self.authsession_client()) as client, contextlib.suppress(ApiError):
            for user in self.users:
                client.revoke_all_sessions(user.user_id)

    def authsession_client(self) -> AuthSessionGrpcClient:
        if self.authsession is None:
            self.authsession = self.stack.authsession_client()
        return self.authsession

    def api(self, transport: Transport) -> GatewayApi:
        return self.stack.api(transport)

    def live_sessions(self) -> int:
        return sum(s.live for s in self.sessions)

    # ------------------------------------------------------------ logins

    @rule(target=challenges, user=st.integers(0, USERS - 1), transport=st.sampled_from(TRANSPORTS))
    def start_login(self, user: int, transport: Transport) -> ChallengeModel:
        email = self.users[user].email
        challenge = self.api(transport).start_email_login(email)
        [message] = [m for m in self.stack.mail.messages if m.idempotency_key == challenge.challenge_id]
        assert message.to == email
        return ChallengeModel(challenge.challenge_id, user, str(message.data["code"]))

    @precondition(lambda self: self.live_sessions() < MAX_LIVE_SESSIONS)
    @rule(target=pairs, user=st.integers(0, USERS - 1), transport=st.sampled_from(TRANSPORTS))
    def log_in(self, user: int, transport: Transport) -> Any:
        """Start a login and confirm its code at once, the common path."""
        return self.confirm_right_code(self.start_login(user, transport), transport)

    @precondition(lambda self: self.live_sessions() < MAX_LIVE_SESSIONS)
    @rule(target=pairs, challenge=challenges, transport=st.sampled_from(TRANSPORTS))
    def confirm_right_code(self, challenge: ChallengeModel, transport: Transport) -> Any:
        if challenge.state == "unknown":
            return multiple()
        user = self.users[challenge.user]
        call = self._call(self.api(transport).confirm_email_login, challenge.challenge_id, challenge.code)
        if challenge.state != "pending":
            self._expect_error(call, "CHALLENGE_NOT_FOUND")
            return multiple()
        challenge.attempts += 1
        if user.disabled:
            self._expect_error(call, "USER_DISABLED")
            challenge.state = "unknown"  # the contract does not say what is left of it
            return multiple()
        login = self._expect_login(call)
        challenge.state = "used"
        assert login.user_id == user.user_id, f"{user.email} got user {login.user_id}, not {user.user_id}"
        assert all(s.session_id != login.session_id for s in self.sessions), "a session id was handed out twice"
        record = self._session_record(login.session_id)
        assert record is not None, f"no {session_key(self.prefix, login.session_id)} after a login"
        now = int(time.time())
        assert now - 5 <= record.created_at <= now + 1, f"created_at {record.created_at}, now {now}"
        session = SessionModel(
            login.session_id,
            challenge.user,
            login.user_id,
            user.email,
            record.created_at,
            record.expires_at,
            login.refresh_token,
            login.access_token,
        )
        self.sessions.append(session)
        self._check_pair(login, session)
        return Pair(login.access_token, login.refresh_token, session)

    @rule(challenge=challenges, transport=st.sampled_from(TRANSPORTS))
    def confirm_wrong_code(self, challenge: ChallengeModel, transport: Transport) -> None:
        if challenge.state == "unknown":
            return
        call = self._call(self.api(transport).confirm_email_login, challenge.challenge_id, wrong_code(challenge.code))
        if challenge.state != "pending":
            self._expect_error(call, "CHALLENGE_NOT_FOUND")
            return
        challenge.attempts += 1
        if challenge.attempts >= CODE_MAX_ATTEMPTS:
            self._expect_error(call, "TOO_MANY_ATTEMPTS")
            challenge.state = "burned"
        else:
            self._expect_error(call, "INVALID_CODE")

    # ------------------------------------------------------------ tokens

    @rule(target=pairs, pair=pairs, transport=st.sampled_from(TRANSPORTS))
    def refresh(self, pair: Pair, transport: Transport) -> Any:
        session = pair.session
        call = self._call(self.api(transport).refresh_session, pair.refresh_token)
        if not session.live:
            self._expect_error(call, "INVALID_REFRESH_TOKEN")
            return multiple()
        if pair.refresh_token != session.refresh_token:  # used: a replay
            self._expect_error(call, "INVALID_REFRESH_TOKEN")
            self._revoked(session, "replay")
            return multiple()
        if self.users[session.user].disabled:
            self._expect_error(call, "USER_DISABLED")
            self._revoked(session, "user_disabled")
            return multiple()
        login = self._expect_login(call)
        assert login.refresh_token != pair.refresh_token, "a refresh answered the presented refresh token"
        session.refresh_token = login.refresh_token
        session.access_token = login.access_token
        self._check_pair(login, session)
        return Pair(login.access_token, login.refresh_token, session)

    @rule(pair=pairs, transport=st.sampled_from(TRANSPORTS))
    def me(self, pair: Pair, transport: Transport) -> None:
        self._check_access(pair.access_token, pair.session, transport)

    @rule(pair=pairs, transport=st.sampled_from(TRANSPORTS))
    def list_sessions(self, pair: Pair, transport: Transport) -> None:
        self._check_listing(pair.access_token, pair.session, transport)

    # ------------------------------------------------------------ revocations

    @rule(pair=pairs, transport=st.sampled_from(TRANSPORTS))
    def logout(self, pair: Pair, transport: Transport) -> None:
        call = self._call(self.api(transport).logout, pair.access_token)
        if not pair.session.live:
            self._expect_error(call, "UNAUTHENTICATED")
            return
        self._expect_ok(call)
        self._revoked(pair.session, "logout")

    @rule(pair=pairs, other=pairs, transport=st.sampled_from(TRANSPORTS))
    def revoke_session(self, pair: Pair, other: Pair, transport: Transport) -> None:
        """Revoke ``other``'s session with ``pair``'s access token: one's own
        other session, one's own current one, or another user's."""
        call = self._call(self.api(transport).revoke_session, pair.access_token, other.session.session_id)
        if not pair.session.live:
            self._expect_error(call, "UNAUTHENTICATED")
            return
        if not other.session.live or other.session.user != pair.session.user:
            self._expect_error(call, "SESSION_NOT_FOUND")
            return
        self._expect_ok(call)
        self._revoked(other.session, "logout")

    @rule(user=st.integers(0, USERS - 1))
    def revoke_all_sessions(self, user: int) -> None:
        """authsession's ``RevokeAllSessions``, as the user service calls it."""
        user_id = self.users[user].user_id
        count = self.authsession_client().revoke_all_sessions(user_id)
        live = [s for s in self.sessions if s.live and s.user == user]
        assert count == len(live), f"RevokeAllSessions said {count}, the model has {len(live)} live session(s)"
        for session in live:
            self._revoked(session, "revoke_all")

    @precondition(lambda self: not any(u.disabled for u in self.users))
    @rule(user=st.integers(0, USERS - 1))
    def disable_user(self, user: int) -> None:
        """The user service marks the user disabled. Once a run: a disabled
        user can do little, and the others should keep the run going. The
        stub leaves the user's sessions to their next refresh; the real user
        service (``--real user``) has authsession end them all at once."""
        self.stack.users.disable(self.users[user].user_id)
        self.users[user].disabled = True
        if "user" not in self.stack.stubs:
            for session in [s for s in self.sessions if s.live and s.user == user]:
                self._revoked(session, "revoke_all")

    @precondition(lambda self: self.seconds_passed == 0 and self.live_sessions() > 0)
    @rule()
    def a_second_passes(self) -> None:
        """Wait until the clock has passed the second in which the newest
        session was opened (often it has), so that sessions opened from now
        on have a later ``created_at`` than every one before."""
        self.seconds_passed += 1
        newest = max(s.created_at for s in self.sessions)
        time.sleep(max(0.0, newest + 1 - time.time() + 0.01))

    # ------------------------------------------------------------ after every step

    @invariant()
    def the_stack_agrees_with_the_model(self) -> None:
        self.checks += 1
        step, self.step = self.step, Expected()
        self._check_events(step.revocations)
        self._check_redis()
        # Every live session's latest access token, and every session this
        # step ended, answer as the model says; each live user's listing too.
        transport = TRANSPORTS[self.checks % len(TRANSPORTS)]
        for session in [s for s in self.sessions if s.live] + step.changed:
            self._check_access(session.access_token, session, transport)
        for user in range(USERS):
            mine = [s for s in self.sessions if s.live and s.user == user]
            if mine:
                self._check_listing(mine[0].access_token, mine[0], transport)


def _run_seed(config: pytest.Config) -> int:
    """The seed of this run: ``--hypothesis-seed`` when given, else a new
    one (under pytest-randomly, derived from ``--randomly-seed``)."""
    forced = config.getoption("--hypothesis-seed")
    return int(forced) if forced is not None else random.getrandbits(64)


_BUDGET_S = run_timeout_s()


@pytest.mark.timeout(_BUDGET_S)
@pytest.mark.stack(
    retry_grace="0s",
    code_max_attempts=CODE_MAX_ATTEMPTS,
    **LIMITS_OUT_OF_THE_WAY,
)
@pytest.mark.rule(
    "redis.session.record",
    "redis.session.user-id",
    "redis.session.email",
    "redis.session.status",
    "redis.session.created-at",
    "redis.session.expires-at",
    "redis.events.signal",
    "redis.events.reason-logout",
    "redis.events.reason-revoke-all",
    "redis.events.reason-replay",
    "redis.events.reason-user-disabled",
    "tokens.refresh.rotation",
    "tokens.refresh.reuse-detection",
    "tokens.refresh.owner-checked",
    "tokens.retry.grace-zero",
    "tokens.access.session-live",
    "authsessionv1.revoke-all.every-session",
    "authsessionv1.revoke.one-session",
    "authsessionv1.list.newest-first",
    "openapi.sessions.list",
    "openapi.sessions.newest-first",
    "openapi.sessions.current",
    "gatewayv1.list-sessions",
    "gatewayv1.session-info.current",
    "openapi.logout.ends-session",
    "gatewayv1.logout",
    "openapi.sessions.revoke",
    "gatewayv1.revoke-session",
    "errors.code.invalid-code",
    transport=("http", "grpc"),
)
def test_the_session_lifecycle_follows_the_model(stack: Stack, pytestconfig: pytest.Config) -> None:
    class SessionLifecycleOnStack(SessionLifecycle):
        def __init__(self) -> None:
            super().__init__(stack)

    # The test run_state_machine_as_test would build and run, built here so
    # that it runs from a seed this test knows and can print.
    run_seed = _run_seed(pytestconfig)
    machine_test = seed(run_seed)(get_state_machine_test(SessionLifecycleOnStack, settings=settings()))
    try:
        machine_test()
    except BaseException as exc:
        profile = settings.get_current_profile_name()
        exc.add_note(f"Hypothesis profile {profile!r}, seed {run_seed}: rerun with --hypothesis-seed={run_seed}")
        raise
