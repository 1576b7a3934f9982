"""The suite's operations for the robustness run (``nox -s robustness``,
:mod:`harness.robustness.runner`): many clients logging in, refreshing,
reading and ending sessions over HTTP and gRPC at once, while the nemesis
breaks the stack.

Each client thread draws, again and again, one of:

- **start**: a login started for an email of the round's pool, or a rush of up
  to six at once, for different emails (the start limits are counted by
  client address, and every client here shares 127.0.0.1) or for one (a
  double click);
- **confirm** of a pending login with the code the mail stub got: now and
  then a wrong code first, or two or three confirms of the same code side by
  side; an answer lost (a timeout, a dropped connection, a 503) is retried with
  the same inputs until one comes, as ``contracts/tokens.md`` allows;
- **refresh** of a session's newest refresh token, retried the same way, now
  and then two or three side by side, or a replay of a token already rotated;
- **me**, **list**, **logout**, **revoke** one session (one of the user's own,
  or another user's), **revoke-all** through authsession's API as the user
  service calls it;
- **disable** a user at the user stub followed by revoke-all, as the user
  service does, often while a confirm of that user is on its way, half of
  those crossing the user service's answer to that confirm's resolve.

Sessions are shared by every client, so the calls on one session cross each
other. Everything is recorded in the history with what it was answered; a
session a client was told has ended leaves the pool.

Two profiles, a round each: ``retries`` (the services' own retry window, 30 s:
a lost answer retried gets the same session and token) and ``strict``
(``AUTHSESSION_RETRY_GRACE=0``: every reuse is a replay, so two refreshes of
one token at once must not both succeed). Both put the resend cooldown and the
gateway's login rate out of the way and give the start limits a window of a
few seconds, so that the clients reach them again and again, side by side; the
checker is told the limits (``params["limits"]``).
"""

from __future__ import annotations

import contextlib
import functools
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests

from contracts.authsessionv1.client import AuthSessionGrpcClient
from contracts.errors import ERRORS, ApiError
from contracts.gatewayv1 import GatewayApi, Login
from contracts.gatewayv1.grpc_client import GatewayGrpcClient
from contracts.gatewayv1.http_client import GatewayHttpClient
from contracts.redis_schema import read_session, session_key
from gatewayauthsession.stack import TRANSPORTS, Stack
from harness.robustness.history import Recorder
from harness.robustness.invariants import Limit
from harness.robustness.workload import LANES, Profile, lane
from harness.topology.settings import Settings

__all__ = ["WORKLOAD", "GatewayWorkload", "duration_ns"]

T = TypeVar("T")

START_LIMIT_PER_EMAIL = 3
START_LIMIT_PER_CLIENT = 12
START_LIMIT_WINDOW = "2s"

COMMON: dict[str, object] = {
    "resend_cooldown": "1ms",
    "start_limit_per_email": START_LIMIT_PER_EMAIL,
    "start_limit_per_client": START_LIMIT_PER_CLIENT,
    "start_limit_window": START_LIMIT_WINDOW,
    "failed_attempts_per_hour": 1_000_000,
    "login_rate_per_minute": 6_000_000,
    "login_burst": 1_000_000,
}
"""Settings of both profiles: the abuse limits the clients must meet (the start
limits, in a short window) set, those that would only stop them put out of the way."""

CALL_TIMEOUT = 4.0
"""Seconds a client waits for an answer (the gateway's own deadline is 3 s): past it, the answer is lost."""

CROSSING_BOUND = 60.0
"""Seconds a client waits for its disable crossing a resolve answer to end (its revoke-all is retried
for 8 s, each call bounded by CALL_TIMEOUT), before this client calls again."""

NO_ANSWER_PAUSE = 0.05
"""Seconds a client waits after a call that got no answer it can rely on (a refused connection, a
503), before its next call, as clients back off: such answers come at once while a part is down."""

EMAILS = 48
"""Emails of a round's pool; a user is disabled for good, and a new email takes its place."""


def duration_ns(text: str) -> int:
    """A Go duration (``30s``, ``1m30s``, ``250ms``, ``0``) in nanoseconds."""
    units = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
    if text.strip() == "0":
        return 0
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        raise ValueError(f"not a Go duration: {text!r}")
    return int(sum(float(n) * units[u] for n, u in parts))


# ------------------------------------------------------------------ what the clients know


@dataclass
class Held:
    """A session the clients hold tokens of."""

    session_id: str
    user_id: str
    email: str
    access: str
    refresh: str
    rotated: list[str] = field(default_factory=list)  # refresh tokens rotated away, oldest first
    busy: bool = False  # a refresh of it whose answer was lost is being retried: no other is sent meanwhile
    doubt: bool = False  # its refresh token may be used up (a lost answer, no retry window): never refreshed again


@dataclass(frozen=True)
class Pending:
    """A login started and mailed, waiting for its confirm."""

    challenge_id: str
    email: str
    code: str


@dataclass(frozen=True)
class Outcome:
    """How a recorded call ended: ``ok`` with its value, ``fail`` with a stable code, or ``unknown``."""

    status: str
    value: Any = None
    code: str | None = None
    retry_after: float | None = None

    @property
    def indeterminate(self) -> bool:
        """No answer a client can rely on: it may or may not have been carried out."""
        return self.status == "unknown" or self.code == "DEPENDENCY_UNAVAILABLE"


def _login_output(login: Login) -> dict[str, str]:
    return {
        "session_id": login.session_id,
        "user_id": login.user_id,
        "access_token": login.access_token,
        "refresh_token": login.refresh_token,
    }


ENDED = {"UNAUTHENTICATED", "INVALID_REFRESH_TOKEN", "USER_DISABLED"}
"""Answers that tell a client its session has ended."""


class GatewayRound:
    """One round of the workload over a running stack (:class:`harness.robustness.workload.Round`)."""

    def __init__(self, stack: Stack, recorder: Recorder, seed: int) -> None:
        self.stack = stack
        self.recorder = recorder
        self.retries = duration_ns(str(stack.settings.value("retry_grace"))) > 0
        """Whether a lost answer may be retried (a retry window): without one a retry is a replay."""
        self.lock = threading.Lock()
        rng = random.Random(seed)
        self.tag = f"{rng.randrange(16**6):06x}"
        self.emails = [self._email(n) for n in range(EMAILS)]
        self.next_email = EMAILS
        self.users: dict[str, str] = {}  # email -> user id, once an answer named it
        self.disabled: set[str] = set()  # user ids
        self.pending: deque[Pending] = deque()
        self.sessions: dict[str, Held] = {}
        self.unsettled: dict[int, list[tuple[str, dict[str, str]]]] = {}  # client -> calls to retry until answered
        self.clients: dict[tuple[int, str], Any] = {}
        self.clients_lock = threading.Lock()
        self.starts_resume = 0.0  # time.monotonic() when a RATE_LIMITED start said to try again

    def _email(self, n: int) -> str:
        return f"r{self.tag}-{n}@example.com"

    # -------------------------------------------------------------- calls

    def _client(self, client: int, transport: str) -> Any:
        key = (client, transport)
        with self.clients_lock:
            if key not in self.clients:
                if transport == "http":
                    made: Any = GatewayHttpClient(
                        "http://" + self.stack.address("gateway", "http"), timeout=CALL_TIMEOUT
                    )
                elif transport == "grpc":
                    made = GatewayGrpcClient(self.stack.address("gateway", "grpc"), timeout=CALL_TIMEOUT)
                else:
                    made = AuthSessionGrpcClient(self.stack.address("authsession", "grpc"), timeout=CALL_TIMEOUT)
                self.clients[key] = made
            return self.clients[key]

    def _api(self, client: int, rng: random.Random) -> GatewayApi:
        api: GatewayApi = self._client(client, rng.choice(TRANSPORTS))
        return api

    def _call(
        self,
        client: int,
        op: str,
        inputs: Mapping[str, Any],
        fn: Callable[[], Any],
        output: Callable[[Any], dict[str, Any]],
    ) -> Outcome:
        """Make one call, recorded as operation ``op`` of ``client`` with ``inputs``."""
        call = self.recorder.invoke(client, op, inputs)
        try:
            value = fn()
        except ApiError as err:
            if err.code in ERRORS:
                call.fail(err.code, transport=err.transport)
                if err.code == "DEPENDENCY_UNAVAILABLE":
                    time.sleep(NO_ANSWER_PAUSE)
                return Outcome("fail", code=err.code, retry_after=err.retry_after)
            call.unknown(f"{err.transport} {err.status}", code=err.code, detail=err.detail[:200])
        except (requests.RequestException, ValueError, KeyError, OSError) as exc:
            call.unknown(type(exc).__name__, detail=str(exc)[:200])
        else:
            call.ok(output(value))
            return Outcome("ok", value)
        time.sleep(NO_ANSWER_PAUSE)
        return Outcome("unknown")

    def _until_answered(self, attempt: Callable[[], Outcome], until: float, rng: random.Random) -> Outcome:
        """``attempt()`` again, with the same inputs, while its answer is lost and time is left,
        backing off (50 ms, doubled each time up to a second, jittered)."""
        outcome, pause = attempt(), 0.05
        while outcome.indeterminate and time.monotonic() + pause < until:
            time.sleep(rng.uniform(pause / 2, pause))
            pause = min(2 * pause, 1.0)
            outcome = attempt()
        return outcome

    def _side_by_side(self, client: int, calls: Sequence[Callable[[int], T]]) -> list[T]:
        """Run ``calls`` at once, each on a lane of ``client`` of its own, released together; their results."""
        together = threading.Barrier(len(calls))
        results: list[Any] = [None] * len(calls)

        def run(n: int, fn: Callable[[int], T]) -> None:
            with contextlib.suppress(threading.BrokenBarrierError):
                together.wait(5.0)
            results[n] = fn(lane(client, n + 1))

        threads = [threading.Thread(target=run, args=(n, fn), daemon=True) for n, fn in enumerate(calls)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results

    # -------------------------------------------------------------- operations

    def start(self, client: int, rng: random.Random, email: str) -> None:
        api = self._api(client, rng)
        outcome = self._call(
            client,
            "start",
            {"email": email},
            lambda: api.start_email_login(email),
            lambda c: {"challenge_id": c.challenge_id},
        )
        if outcome.code == "RATE_LIMITED" and outcome.retry_after:
            with self.lock:  # the client honours Retry-After: mostly; now and then one tries anyway
                self.starts_resume = max(self.starts_resume, time.monotonic() + min(outcome.retry_after, 5.0))
        if outcome.status != "ok":
            return
        challenge_id = outcome.value.challenge_id
        code = self._code(challenge_id)
        if code is not None:
            with self.lock:
                self.pending.append(Pending(challenge_id, email, code))

    def _code(self, challenge_id: str) -> str | None:
        for message in reversed(self.stack.mail.messages):
            if message.idempotency_key == challenge_id and isinstance(code := message.data.get("code"), str):
                return code
        return None

    def confirm(
        self, client: int, rng: random.Random, login: Pending, code: str | None = None, *, retry: float = 8.0
    ) -> Outcome:
        """Confirm ``login`` with its code (or ``code``), retried with the same inputs while the answer is
        lost, for up to ``retry`` seconds, where a retry window allows it."""
        code = code or login.code
        retry = retry if self.retries else 0.0
        inputs = {"challenge_id": login.challenge_id, "code": code}

        def attempt() -> Outcome:
            api = self._api(client, rng)
            return self._call(
                client, "confirm", inputs, lambda: api.confirm_email_login(login.challenge_id, code), _login_output
            )

        outcome = self._until_answered(attempt, time.monotonic() + retry, rng)
        if outcome.status == "ok":
            self._hold(outcome.value, login.email)
        elif outcome.indeterminate and code == login.code and self.retries and retry > 0:
            with self.lock:
                self.unsettled.setdefault(client // LANES, []).append(("confirm", inputs | {"email": login.email}))
        return outcome

    def _hold(self, login: Login, email: str) -> None:
        with self.lock:
            self.users[email] = login.user_id
            if login.session_id not in self.sessions:
                self.sessions[login.session_id] = Held(
                    login.session_id, login.user_id, email, login.access_token, login.refresh_token
                )

    def _ended(self, session_id: str) -> None:
        with self.lock:
            self.sessions.pop(session_id, None)

    def refresh(self, client: int, rng: random.Random, held: Held, token: str, *, retry: float = 8.0) -> Outcome:
        """Refresh ``held`` with ``token``; a lost answer is retried with the same token for up to ``retry``
        seconds where a retry window allows it (no other refresh of the session is sent meanwhile), and
        without one the session is never refreshed again."""

        def attempt() -> Outcome:
            api = self._api(client, rng)
            return self._call(
                client, "refresh", {"refresh_token": token}, lambda: api.refresh_session(token), _login_output
            )

        outcome = attempt()
        if outcome.indeterminate and self.retries and retry > 0:
            with self.lock:
                mine = not held.busy
                held.busy = True
            if mine:
                try:
                    outcome = self._until_answered(attempt, time.monotonic() + retry, rng)
                finally:
                    held.busy = False
        if outcome.indeterminate and not self.retries:
            held.doubt = True
        if outcome.status == "ok":
            with self.lock:
                if held.refresh == token:
                    held.rotated.append(token)
                    held.refresh, held.access = outcome.value.refresh_token, outcome.value.access_token
        elif outcome.code in ENDED:
            self._ended(held.session_id)
        return outcome

    def read(self, op: str, client: int, rng: random.Random, held: Held) -> None:
        """``me`` or ``list`` with the session's access token."""
        api, token = self._api(client, rng), held.access
        if op == "me":
            outcome = self._call(
                client,
                op,
                {"access_token": token},
                lambda: api.me(token),
                lambda m: {"session_id": m.session_id, "user_id": m.user_id},
            )
        else:
            outcome = self._call(
                client,
                op,
                {"access_token": token},
                lambda: api.list_sessions(token),
                lambda sessions: {"session_ids": [s.session_id for s in sessions]},
            )
        if outcome.code in ENDED:
            self._ended(held.session_id)

    def logout(self, client: int, rng: random.Random, held: Held) -> None:
        api, token = self._api(client, rng), held.access
        outcome = self._call(client, "logout", {"access_token": token}, lambda: api.logout(token), lambda _: {})
        if outcome.status == "ok" or outcome.code in ENDED:
            self._ended(held.session_id)

    def revoke(self, client: int, rng: random.Random, held: Held, target: Held) -> None:
        api, token = self._api(client, rng), held.access
        outcome = self._call(
            client,
            "revoke",
            {"access_token": token, "session_id": target.session_id},
            lambda: api.revoke_session(token, target.session_id),
            lambda _: {},
        )
        if outcome.status == "ok":
            self._ended(target.session_id)
        elif outcome.code in ENDED:
            self._ended(held.session_id)

    def revoke_all(self, client: int, rng: random.Random, user_id: str, *, retry: float = 0.0) -> Outcome:
        """authsession's RevokeAllSessions, as the user service calls it (which repeats it until it succeeds)."""
        api = self._client(client, "authsession")

        def attempt() -> Outcome:
            return self._call(
                client,
                "revoke_all",
                {"user_id": user_id},
                lambda: api.revoke_all_sessions(user_id),
                lambda n: {"revoked": n},
            )

        outcome = self._until_answered(attempt, time.monotonic() + retry, rng)
        if outcome.status == "ok":
            with self.lock:
                for sid in [s for s, h in self.sessions.items() if h.user_id == user_id]:
                    del self.sessions[sid]
        return outcome

    def disable(self, client: int, rng: random.Random, email: str, user_id: str) -> None:
        """The user service's disable: the user marked disabled, then every session revoked (until that succeeds)."""
        call = self.recorder.invoke(client, "disable_user", {"user_id": user_id, "email": email})
        self.stack.users.disable(user_id)
        call.ok({})
        with self.lock:
            self.disabled.add(user_id)
            if email in self.emails:
                self.emails[self.emails.index(email)] = self._email(self.next_email)
                self.next_email += 1
        self.revoke_all(client, rng, user_id, retry=8.0)

    # -------------------------------------------------------------- choosing

    def _pick_held(self, rng: random.Random, *, to_refresh: bool = False) -> Held | None:
        with self.lock:
            held = [h for h in self.sessions.values() if not to_refresh or not (h.busy or h.doubt)]
            return rng.choice(held) if held else None

    def _pop_pending(self, rng: random.Random) -> Pending | None:
        with self.lock:
            if not self.pending:
                return None
            self.pending.rotate(-rng.randrange(len(self.pending)))
            return self.pending.popleft()

    def step(self, client: int, rng: random.Random) -> None:
        me = lane(client, 0)
        with self.lock:
            pending, live = len(self.pending), len(self.sessions)
            limited = time.monotonic() < self.starts_resume
        if limited and not (pending or live):  # nothing to do but wait for the start limit
            time.sleep(min(0.2, max(0.0, self.starts_resume - time.monotonic())))
            return
        weights = {
            "start": 0.3 if limited or pending >= 24 else 3.0,
            "confirm": 4.0 if pending else 0.0,
            "refresh": 4.0 if live else 0.0,
            "me": 3.0 if live else 0.0,
            "list": 1.5 if live else 0.0,
            "logout": 0.6 if live else 0.0,
            "revoke": 0.6 if live else 0.0,
            "revoke_all": 0.3 if live else 0.0,
            "disable": 1.0 if pending else 0.0,
        }
        action = rng.choices(list(weights), list(weights.values()))[0]
        getattr(self, f"_do_{action}")(me, client, rng)

    def _start_lane(self, email: str, seed: float, client: int) -> None:
        self.start(client, random.Random(seed), email)

    def _confirm_lane(self, login: Pending, seed: float, client: int) -> Outcome:
        return self.confirm(client, random.Random(seed), login, retry=0.0)

    def _refresh_lane(self, held: Held, token: str, seed: float, client: int) -> Outcome:
        return self.refresh(client, random.Random(seed), held, token, retry=0.0)

    def _do_start(self, me: int, client: int, rng: random.Random) -> None:
        rush = rng.choice((1, 2, 4, 6))
        with self.lock:
            emails = rng.sample(self.emails, rush)
        if rush > 1 and rng.random() < 0.5:  # one email's login started again and again at once (a double click)
            emails = [emails[0]] * rush
        if rush == 1:
            self.start(me, rng, emails[0])
            return
        self._side_by_side(client, [functools.partial(self._start_lane, e, rng.random()) for e in emails])

    def _do_confirm(self, me: int, client: int, rng: random.Random) -> None:
        login = self._pop_pending(rng)
        if login is None:
            return
        if rng.random() < 0.1:  # a mistyped code first
            wrong = f"{(int(login.code) + rng.randrange(1, 999_999)) % 1_000_000:06d}"
            self.confirm(me, rng, login, wrong, retry=0.0)
        if rng.random() < 0.15:  # the same code sent twice or three times at once (a double click, a retry timer)
            seeds = [rng.random() for _ in range(rng.choice((2, 3)))]
            outcomes = self._side_by_side(client, [functools.partial(self._confirm_lane, login, s) for s in seeds])
            if all(o.indeterminate for o in outcomes):  # none answered: one of them retried
                self.confirm(me, rng, login)
        else:
            self.confirm(me, rng, login)

    def _do_refresh(self, me: int, client: int, rng: random.Random) -> None:
        held = self._pick_held(rng, to_refresh=True)
        if held is None:
            return
        roll = rng.random()
        with self.lock:
            token, older = held.refresh, held.rotated[:-1]
        if roll < 0.04 and older:  # a replay of a token rotated away before the last rotation
            self.refresh(me, rng, held, rng.choice(older), retry=0.0)
        elif roll < 0.2:  # refreshes of one token side by side
            seeds = [rng.random() for _ in range(rng.choice((2, 3)))]
            outcomes = self._side_by_side(
                client, [functools.partial(self._refresh_lane, held, token, s) for s in seeds]
            )
            if all(o.indeterminate for o in outcomes):  # none answered: one of them retried
                self.refresh(me, rng, held, token)
        else:
            self.refresh(me, rng, held, token)

    def _do_me(self, me: int, client: int, rng: random.Random) -> None:
        if (held := self._pick_held(rng)) is not None:
            self.read("me", me, rng, held)

    def _do_list(self, me: int, client: int, rng: random.Random) -> None:
        if (held := self._pick_held(rng)) is not None:
            self.read("list", me, rng, held)

    def _do_logout(self, me: int, client: int, rng: random.Random) -> None:
        if (held := self._pick_held(rng)) is not None:
            self.logout(me, rng, held)

    def _do_revoke(self, me: int, client: int, rng: random.Random) -> None:
        held = self._pick_held(rng)
        if held is None:
            return
        with self.lock:
            same_user = [h for h in self.sessions.values() if h.user_id == held.user_id]
            others = list(self.sessions.values())
        target = rng.choice(same_user if rng.random() < 0.85 else others)
        self.revoke(me, rng, held, target)

    def _do_revoke_all(self, me: int, client: int, rng: random.Random) -> None:
        if (held := self._pick_held(rng)) is not None:
            self.revoke_all(me, rng, held.user_id, retry=8.0)

    def _do_disable(self, me: int, client: int, rng: random.Random) -> None:
        """Disable a user while a confirm of theirs is on its way: half the time the disable (and its
        revoke-all) crosses the user service's answer to the confirm's resolve, made before that
        answer arrives, so the confirm is caught between the user it resolved and the session it
        writes; else it comes a moment after the confirm set off, or once it is answered, whichever
        is first."""
        with self.lock:
            known = [p for p in self.pending if p.email in self.users and self.users[p.email] not in self.disabled]
            login = known[rng.randrange(len(known))] if known else None
            if login is not None:
                self.pending.remove(login)
        if login is None:
            return
        user_id = self.users[login.email]
        done, seed = threading.Event(), rng.random()

        def confirming() -> None:
            try:
                self.confirm(lane(client, 1), random.Random(seed), login)
            finally:
                done.set()

        thread = threading.Thread(target=confirming, daemon=True)
        if rng.random() < 0.5:
            crossed = threading.Event()

            def crossing() -> None:
                try:
                    self.disable(me, rng, login.email, user_id)
                finally:
                    crossed.set()

            self.stack.user_stub.cross_resolve(login.email, crossing)
            thread.start()
            thread.join()
            if self.stack.user_stub.uncross_resolve(login.email, crossing):  # no resolve of the email ran it
                self.disable(me, rng, login.email, user_id)
            elif not crossed.wait(CROSSING_BOUND):  # ran in the stub's thread, this client's calls
                raise RuntimeError(f"a disable crossing a resolve of {login.email} still runs after {CROSSING_BOUND}s")
            return
        thread.start()
        done.wait(rng.uniform(0.01, 0.08))
        self.disable(me, rng, login.email, user_id)
        thread.join()

    # -------------------------------------------------------------- the end

    def settle(self, client: int, rng: random.Random, until: float) -> None:
        """Retry, with the same inputs, each confirm of this client whose answer is still lost."""
        with self.lock:
            calls = self.unsettled.pop(client, [])
        for _, inputs in calls:
            login = Pending(inputs["challenge_id"], inputs["email"], inputs["code"])
            self.confirm(lane(client, 0), rng, login, retry=max(0.0, until - time.monotonic()))

    def evidence(self) -> Mapping[str, Any]:
        """The challenge id of every message the mail stub accepted, and the live sessions with their users."""
        delivered = [m.idempotency_key for m in self.stack.mail.messages]
        client = self.stack.redis.client()
        try:
            prefix = self.stack.redis.key_prefix
            owners: dict[str, str] = {}
            for key in client.scan_iter(match=session_key(prefix, "*"), count=500):
                session_id = str(key)[len(session_key(prefix, "")) :]
                record = read_session(client, prefix, session_id)
                if record is not None and record.active:
                    owners[session_id] = record.user_id
        finally:
            client.close()
        return {"delivered": delivered, "live_sessions": sorted(owners), "session_owners": owners}

    def close(self) -> None:
        with self.clients_lock:
            for made in self.clients.values():
                made.close()
            self.clients.clear()


class GatewayWorkload:
    """The workload of the gateway ↔ authsession boundary (:class:`harness.robustness.workload.Workload`)."""

    profiles = (
        Profile("retries", COMMON, "the services' own retry window: a lost answer retried gets the same session"),
        Profile("strict", {**COMMON, "retry_grace": "0s"}, "no retry window: every reuse of a token is a replay"),
    )

    def params(self, settings: Settings) -> dict[str, Any]:
        window = duration_ns(str(settings.value("start_limit_window")))
        limits = [
            Limit(
                "starts per email",
                frozenset({"start"}),
                int(str(settings.value("start_limit_per_email"))),
                window_ns=window,
                key="email",
                opened_by=frozenset({"ok", "fail", "unknown"}),
            ),
            Limit(
                "starts per client address",
                frozenset({"start"}),
                int(str(settings.value("start_limit_per_client"))),
                window_ns=window,
                opened_by=frozenset({"ok", "fail", "unknown"}),
            ),
        ]
        return {
            "retry_grace_ns": duration_ns(str(settings.value("retry_grace"))),
            "clock_slack_ns": 50_000_000,
            "limits": [limit.to_json() for limit in limits],
        }

    def begin(self, stack: Stack, recorder: Recorder, seed: int) -> GatewayRound:
        return GatewayRound(stack, recorder, seed)


WORKLOAD = GatewayWorkload()
