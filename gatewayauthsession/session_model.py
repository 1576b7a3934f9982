"""The reference model of ``test_model.py``'s state machine: what the
contracts say users, challenges, sessions and revocations are, and the
comparisons of the real stack with it after every step (the access tokens
that work, each user's listing, the public Redis records, the revocation
channel). The rules that drive the stack are the machine's, in the test."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import redis

from contracts.errors import ApiError
from contracts.gatewayv1 import GatewayApi, Login
from contracts.redis_schema import SessionRecord, session_key
from gatewayauthsession.stack import Transport

USERS = 3
MAX_LIVE_SESSIONS = 4  # bounds the checks after each step
CODE_MAX_ATTEMPTS = 3
SESSION_TTL_S = 720 * 3600

# ------------------------------------------------------------------ the model


@dataclass(eq=False)
class UserModel:
    email: str
    user_id: str
    disabled: bool = False


@dataclass(eq=False)
class ChallengeModel:
    challenge_id: str
    user: int
    code: str
    state: Literal["pending", "used", "burned", "unknown"] = "pending"
    attempts: int = 0


@dataclass(eq=False)
class SessionModel:
    session_id: str
    user: int
    user_id: str
    email: str
    created_at: int
    expires_at: int
    refresh_token: str  # the current one; every earlier one of the session is used
    access_token: str  # the latest one handed out
    live: bool = True


@dataclass(eq=False)
class Pair:
    """A token pair as a client holds it."""

    access_token: str
    refresh_token: str
    session: SessionModel


@dataclass(frozen=True)
class Revocation:
    session_id: str
    user_id: str
    reason: str


@dataclass
class Expected:
    """What the step just taken must have caused beyond its answer."""

    revocations: list[Revocation] = field(default_factory=list)
    changed: list[SessionModel] = field(default_factory=list)  # sessions that ended in this step


# ------------------------------------------------------------------ comparisons


class ModelComparisons:
    """The machine's checks of the stack against the model, and how a call's
    outcome is judged. The machine sets these attributes up."""

    users: list[UserModel]
    sessions: list[SessionModel]
    step: Expected
    checks: int
    prefix: str
    redis: redis.Redis
    pubsub: Any  # its subscription to the revocation channel

    def api(self, transport: Transport) -> GatewayApi:
        raise NotImplementedError

    def _revoked(self, session: SessionModel, reason: str) -> None:
        session.live = False
        self.step.revocations.append(Revocation(session.session_id, session.user_id, reason))
        self.step.changed.append(session)

    def _check_pair(self, login: Login, session: SessionModel) -> None:
        assert (login.session_id, login.user_id) == (session.session_id, session.user_id)
        assert login.token_type == "Bearer"
        assert login.refresh_token_expires_at == _at(session.expires_at), "the refresh token outlives its session"

    def _check_access(self, access_token: str, session: SessionModel, transport: Transport) -> None:
        call = self._call(self.api(transport).me, access_token)
        if not session.live:
            self._expect_error(call, "UNAUTHENTICATED")
            return
        me = call.ok()
        assert (me.user_id, me.email, me.session_id) == (session.user_id, session.email, session.session_id)
        assert me.session_expires_at == _at(session.expires_at)

    def _check_listing(self, access_token: str, session: SessionModel, transport: Transport) -> None:
        call = self._call(self.api(transport).list_sessions, access_token)
        if not session.live:
            self._expect_error(call, "UNAUTHENTICATED")
            return
        listed = call.ok()
        want = {s.session_id: s for s in self.sessions if s.live and s.user == session.user}
        got = [s.session_id for s in listed]
        assert sorted(got) == sorted(want), f"listed {got}, the model's live sessions are {sorted(want)}"
        assert [s.session_id for s in listed if s.current] == [session.session_id], f"current: {listed}"
        for info in listed:
            model = want[info.session_id]
            assert (info.created_at, info.expires_at) == (_at(model.created_at), _at(model.expires_at)), info
        created = [info.created_at for info in listed]
        assert created == sorted(created, reverse=True), f"not newest first: {listed}"

    def _check_redis(self) -> None:
        """The public session records: exactly the model's live sessions, as
        the model knows them, expiring when the session ends."""
        ours = {u.user_id for u in self.users}
        known = {s.session_id: s for s in self.sessions}
        pattern = session_key(self.prefix, "*")
        keys = sorted(self.redis.scan_iter(match=pattern, count=1000))
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
            pipe.ttl(key)
        answers = pipe.execute()
        records: dict[str, tuple[SessionRecord, int]] = {}
        for i in range(0, len(answers), 2):
            fields, ttl = answers[i], answers[i + 1]
            if not fields:
                continue  # ended between SCAN and HGETALL
            record = SessionRecord.from_hash(fields)
            if record.user_id in ours or record.session_id in known:
                records[record.session_id] = (record, ttl)
        live = {s.session_id for s in self.sessions if s.live}
        assert set(records) == live, (
            f"session records in Redis {sorted(records)}, the model's live sessions {sorted(live)}"
        )
        now = time.time()
        for session_id, (record, ttl) in records.items():
            model = known[session_id]
            assert record.active, record
            assert (record.user_id, record.email, record.created_at, record.expires_at) == (
                model.user_id,
                model.email,
                model.created_at,
                model.expires_at,
            ), record
            assert record.expires_at - record.created_at == SESSION_TTL_S, record
            left = record.expires_at - now
            assert abs(left - ttl) <= 2, f"the key expires in {ttl}s, the session in {left:.0f}s"

    def _check_events(self, expected: list[Revocation]) -> None:
        """What the revocation channel carried since the last step: one
        message per revocation, nothing else. A PING on the subscription is a
        barrier: Redis answers it after every message published before it."""
        self.pubsub.ping(f"barrier-{self.checks}")
        ours = {u.user_id for u in self.users}
        known = {s.session_id for s in self.sessions}
        got: list[Revocation] = []
        deadline = time.monotonic() + 5.0
        while True:
            message = self.pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
            assert message is not None, f"no answer to the barrier PING on the revocation channel; got {got}"
            if message["type"] == "pong":
                assert message["data"] == f"barrier-{self.checks}", message
                break
            assert message["type"] == "message", message
            event = json.loads(message["data"])
            assert set(event) == {"type", "session_id", "user_id", "reason"}, event
            assert all(isinstance(v, str) for v in event.values()), event
            assert event["type"] == "session.revoked", event
            if event["user_id"] in ours or event["session_id"] in known:
                got.append(Revocation(event["session_id"], event["user_id"], event["reason"]))
        assert Counter(got) == Counter(expected), f"revocation events {got}, the model expected {expected}"

    def _session_record(self, session_id: str) -> SessionRecord | None:
        fields = self.redis.hgetall(session_key(self.prefix, session_id))
        return SessionRecord.from_hash(fields) if fields else None  # type: ignore[arg-type]

    # ------------------------------------------------------------ calls

    @staticmethod
    def _call(fn: Any, *args: Any) -> Outcome:
        try:
            return Outcome(value=fn(*args))
        except ApiError as err:
            return Outcome(error=err)

    @staticmethod
    def _expect_error(call: Outcome, code: str) -> None:
        assert call.error is not None, f"expected {code}, the call succeeded: {call.value}"
        assert call.error.code == code, f"expected {code}, got {call.error}"
        call.error.check_against_table()

    @staticmethod
    def _expect_login(call: Outcome) -> Login:
        value = call.ok()
        assert isinstance(value, Login), value
        return value

    @staticmethod
    def _expect_ok(call: Outcome) -> None:
        call.ok()


@dataclass
class Outcome:
    value: Any = None
    error: ApiError | None = None

    def ok(self) -> Any:
        assert self.error is None, f"expected success, got {self.error}"
        return self.value


def _at(unix_seconds: int) -> datetime:
    return datetime.fromtimestamp(unix_seconds, UTC)
