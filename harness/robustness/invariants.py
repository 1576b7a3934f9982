"""Cross-source invariants of a history (:mod:`harness.robustness.history`): what
must hold between the clients' answers, and between them and what other
sources recorded (a mail journal, the keyspace), given as plain data. Each
function returns the violations it finds (none: the invariant held), each
naming the operations that show it.

The operations and fields are those of the session model (``histcheck/README.md``):
``confirm`` and ``refresh`` answer ``session_id``, ``user_id``, ``access_token``
and ``refresh_token``; ``start`` answers ``challenge_id``; ``me``, ``list``,
``logout`` and ``revoke`` present an ``access_token``; ``revoke`` names a
``session_id``, ``revoke_all`` a ``user_id``.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from harness.robustness.history import History, Operation

__all__ = [
    "Limit",
    "Violation",
    "check_invariants",
    "each_accepted_start_mailed_once",
    "limits_held",
    "no_orphan_sessions",
    "no_session_outlives_its_users_disable",
    "no_token_accepted_after_revocation",
    "one_session_per_challenge",
    "retries_answered_alike",
]

K = TypeVar("K", bound=Hashable)
A = TypeVar("A", bound=Hashable)
_TOKEN_OPS = ("me", "list", "logout", "revoke")  # the calls that present an access token


@dataclass(frozen=True)
class Violation:
    invariant: str
    message: str
    operations: tuple[int, ...] = ()

    def describe(self) -> str:
        ops = f" (operations {', '.join(f'#{i}' for i in self.operations)})" if self.operations else ""
        return f"{self.invariant}: {self.message}{ops}"


@dataclass(frozen=True)
class Limit:
    """At most ``most`` answers of the kinds ``counted`` (``ok`` by default) to the
    operations ``ops``, per value of the input field ``key`` (None: all of them
    together), within a fixed ``window_ns`` opened by the first one, or, given
    ``refill_per_s``, from a token bucket of ``most`` refilled that fast. Only
    the answers surely within one window (or one span of the bucket) are
    counted: a call's own time is anywhere between its invoke and its answer.

    ``opened_by``, when given, names the answers of the calls that may open a
    window besides the counted ones (a limit that counts every request, refused
    or not, is opened by any call): a window then begins no earlier than the
    first such call and no later than the first counted answer, and only the
    answers surely after the one and before the other's end are counted
    together. A ``wipe`` (the limits' store lost its data) starts them afresh."""

    name: str
    ops: frozenset[str]
    most: int
    window_ns: int | None = None
    refill_per_s: float | None = None
    key: str | None = None
    counted: frozenset[str] = field(default_factory=lambda: frozenset({"ok"}))
    opened_by: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if (self.window_ns is None) == (self.refill_per_s is None):
            raise ValueError(f"limit {self.name!r}: give exactly one of window_ns and refill_per_s")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ops": sorted(self.ops),
            "most": self.most,
            "window_ns": self.window_ns,
            "refill_per_s": self.refill_per_s,
            "key": self.key,
            "counted": sorted(self.counted),
            "opened_by": None if self.opened_by is None else sorted(self.opened_by),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Limit:
        return cls(
            name=doc["name"],
            ops=frozenset(doc["ops"]),
            most=int(doc["most"]),
            window_ns=doc.get("window_ns"),
            refill_per_s=doc.get("refill_per_s"),
            key=doc.get("key"),
            counted=frozenset(doc.get("counted") or ("ok",)),
            opened_by=None if doc.get("opened_by") is None else frozenset(doc["opened_by"]),
        )


def _ok(ops: Iterable[Operation], *names: str) -> list[Operation]:
    return [o for o in ops if o.status == "ok" and o.op in names]


def _sessions_of_tokens(ops: Sequence[Operation]) -> dict[str, str]:
    """Every token an answer handed out, to its session."""
    owner: dict[str, str] = {}
    for o in _ok(ops, "confirm", "refresh"):
        for key in ("access_token", "refresh_token"):
            if token := o.output.get(key):
                owner.setdefault(token, o.output.get("session_id", ""))
    return owner


def _answered_differently(
    invariant: str, groups: Mapping[K, Mapping[A, list[int]]], say: Callable[[K, Mapping[A, list[int]]], str]
) -> list[Violation]:
    """A violation for each group of calls (by key) whose answers (operation ids by answer) differ."""
    return [
        Violation(invariant, say(key, answers), tuple(sorted(i for ids in answers.values() for i in ids)))
        for key, answers in groups.items()
        if len(answers) > 1
    ]


def one_session_per_challenge(history: History) -> list[Violation]:
    """A confirmed challenge opened at most one session: every confirm of it answered the same session."""
    by_challenge: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for o in _ok(history.operations(), "confirm"):
        by_challenge[o.input.get("challenge_id", "")][o.output.get("session_id", "")].append(o.id)
    return _answered_differently(
        "one session per challenge",
        by_challenge,
        lambda challenge, sessions: f"challenge {challenge} opened {len(sessions)} sessions: {sorted(sessions)}",
    )


def no_token_accepted_after_revocation(history: History) -> list[Violation]:
    """Once an answer acknowledged that a session ended (a logout or a revoke that
    succeeded, a revoke-all that succeeded after the session was opened, a refresh
    answered INVALID_REFRESH_TOKEN or USER_DISABLED), no call made after that
    answer is accepted with one of its tokens."""
    ops = history.operations()
    owner = _sessions_of_tokens(ops)
    opened: dict[str, int] = {}
    user_of: dict[str, str] = {}
    for o in _ok(ops, "confirm", "refresh"):
        session = o.output.get("session_id", "")
        if o.completed is not None and (session not in opened or o.completed < opened[session]):
            opened[session] = o.completed
        user_of.setdefault(session, o.output.get("user_id", ""))
    ended: dict[str, tuple[int, Operation]] = {}  # session -> when, and which answer, first acknowledged its end

    def acknowledge(session: str | None, o: Operation) -> None:
        if session and o.completed is not None and (session not in ended or o.completed < ended[session][0]):
            ended[session] = (o.completed, o)

    for o in ops:
        if o.op == "logout" and o.status == "ok":
            acknowledge(owner.get(o.input.get("access_token", "")), o)
        elif o.op == "revoke" and o.status == "ok":
            acknowledge(o.input.get("session_id"), o)
        elif o.op == "refresh" and o.error in ("INVALID_REFRESH_TOKEN", "USER_DISABLED") and o.status == "fail":
            acknowledge(owner.get(o.input.get("refresh_token", "")), o)
        elif o.op == "revoke_all" and o.status == "ok":
            for session, user in user_of.items():
                if user == o.input.get("user_id") and opened.get(session, o.invoked) < o.invoked:
                    acknowledge(session, o)
    found = []
    for o in ops:
        token = o.input.get("refresh_token" if o.op == "refresh" else "access_token", "")
        session = owner.get(token) if o.op in (*_TOKEN_OPS, "refresh") and o.status == "ok" else None
        if session is None or session not in ended:
            continue
        at, end = ended[session]
        if o.invoked > at:
            found.append(
                Violation(
                    "no token accepted after its session's end was acknowledged",
                    f"{o.op} #{o.id} was accepted with a token of session {session}, "
                    f"invoked {(o.invoked - at) / 1e6:.1f} ms after {end.op} #{end.id} answered "
                    f"{end.status}{' ' + end.error if end.error else ''}",
                    (end.id, o.id),
                )
            )
    return found


def retries_answered_alike(history: History) -> list[Violation]:
    """Calls with the same inputs that succeeded got the same session and refresh
    token (``contracts/tokens.md``, "Retries"): each refresh of one token the same
    successor, each confirm of one challenge and code the same session and first token."""
    groups: dict[tuple[str, ...], dict[tuple[str, str], list[int]]] = defaultdict(lambda: defaultdict(list))
    for o in _ok(history.operations(), "confirm", "refresh"):
        key = (o.op, o.input.get("challenge_id", ""), o.input.get("code", ""), o.input.get("refresh_token", ""))
        groups[key][(o.output.get("session_id", ""), o.output.get("refresh_token", ""))].append(o.id)
    return _answered_differently(
        "retries answered alike",
        groups,
        lambda key, answers: f"{key[0]} with the same inputs answered {len(answers)} different session/refresh tokens",
    )


def each_accepted_start_mailed_once(history: History, delivered: Iterable[str]) -> list[Violation]:
    """Every login start that succeeded was mailed exactly once, and no login was mailed twice.
    ``delivered`` holds the challenge id of every message the mail service accepted, one per message."""
    count = Counter(delivered)
    found = [
        Violation("each accepted start mailed once", f"challenge {cid} was mailed {n} times")
        for cid, n in count.items()
        if n > 1
    ]
    for o in _ok(history.operations(), "start"):
        cid = o.output.get("challenge_id", "")
        if count[cid] == 0:
            found.append(Violation("each accepted start mailed once", f"challenge {cid} was never mailed", (o.id,)))
    return found


def _indeterminate(o: Operation) -> bool:
    """No answer the client can rely on: it may or may not have been carried out."""
    return o.status == "unknown" or o.error == "DEPENDENCY_UNAVAILABLE"


def no_orphan_sessions(history: History, live_sessions: Iterable[str]) -> list[Violation]:
    """Every session live at the end (``live_sessions``, read from the keyspace) is one a
    client was handed tokens for, but those a lost answer explains: a challenge
    whose confirm got no answer the client could rely on, and no confirm answered
    ok, may have opened one, unless a confirm of it with the same code was answered
    surely within the retry window (``params["retry_grace_ns"]``) of the lost one,
    which would have handed it out. A violation names the confirms that may have
    opened such sessions: those of challenges no confirm was answered ok for, some unanswered."""
    ops = history.operations()
    handed = {o.output.get("session_id") for o in _ok(ops, "confirm", "refresh")}
    orphans = sorted(set(live_sessions) - handed)
    if not orphans:
        return []
    answered = {o.input.get("challenge_id") for o in _ok(ops, "confirm")}
    suspects = tuple(
        o.id for o in ops if o.op == "confirm" and not o.answered and o.input.get("challenge_id") not in answered
    )
    grace = int(history.params.get("retry_grace_ns", 0) or 0)
    slack = int(history.params.get("clock_slack_ns", 0) or 0)
    explained = 0
    by_challenge: dict[str, list[Operation]] = defaultdict(list)
    for o in ops:
        if o.op == "confirm" and o.input.get("challenge_id") not in answered:
            by_challenge[o.input.get("challenge_id", "")].append(o)
    for confirms in by_challenge.values():
        lost = [o for o in confirms if _indeterminate(o)]
        if not lost:
            continue
        first = min(lost, key=lambda o: o.invoked)
        recovered = any(
            o.answered
            and not _indeterminate(o)
            and o.input.get("code") == first.input.get("code")
            and first.invoked <= o.invoked
            and o.invoked + slack < first.invoked + grace
            for o in confirms
        )
        explained += not recovered
    if len(orphans) <= explained:
        return []
    cause = (
        f"; {len(suspects)} confirms whose answer was lost were never retried to an answer and may have opened them"
        if suspects
        else ""
    )
    note = f"; {explained} of them may be left by answers lost beyond retrying, no more" if explained else ""
    return [
        Violation(
            "no session nobody holds tokens for",
            f"{len(orphans)} live sessions no answer handed tokens for: {', '.join(orphans)}{cause}{note}",
            suspects,
        )
    ]


def no_session_outlives_its_users_disable(history: History, session_owners: Mapping[str, str]) -> list[Violation]:
    """No session of a user is live at the end (``session_owners``: each live session's
    user, read from the keyspace) once the user was disabled and a revoke-all of the
    user invoked after that succeeded (``contracts/tokens.md``, "Revoking every session
    of a user": no session of a disabled user outlives the call's success)."""
    ops = history.operations()
    disabled = {o.input.get("user_id"): o for o in _ok(ops, "disable_user") if o.completed is not None}
    found = []
    for o in _ok(ops, "revoke_all"):
        user = o.input.get("user_id")
        disable = disabled.get(user)
        if disable is None or disable.completed is None or o.invoked < disable.completed:
            continue
        live = sorted(sid for sid, owner in session_owners.items() if owner == user)
        if live:
            opened = tuple(c.id for c in _ok(ops, "confirm") if c.output.get("session_id") in live)
            found.append(
                Violation(
                    "no session outlives its user's disable",
                    f"user {user} was disabled (#{disable.id}) and every session revoked (#{o.id}), yet "
                    f"{len(live)} of its sessions are live at the end: {', '.join(live)}",
                    (disable.id, o.id, *opened),
                )
            )
            del disabled[user]
    return found


def _epochs(ops: list[Operation], wipes: Sequence[Operation]) -> list[tuple[list[Operation], list[Operation]]]:
    """``ops`` split by the wipes: for each stretch between two, the calls that may have reached
    the store in it and those surely made within it (the latter a part of the former)."""
    bounds = [
        (w.invoked, w.completed if w.completed is not None else 2**63) for w in sorted(wipes, key=lambda w: w.invoked)
    ]
    edges = [(-(2**63), -(2**63)), *bounds, (2**63, 2**63)]
    found = []
    for (_, begin), (end, _) in itertools.pairwise(edges):
        reach = [o for o in ops if (o.completed if o.completed is not None else 2**63) >= begin and o.invoked <= end]
        within = [o for o in reach if o.invoked >= begin and o.completed is not None and o.completed <= end]
        found.append((reach, within))
    return found


def limits_held(history: History, limits: Sequence[Limit]) -> list[Violation]:
    """No limit let more calls through than it allows (:class:`Limit`)."""
    all_ops = history.operations()
    wipes = [o for o in all_ops if o.op == "wipe"]
    found = []
    for limit in limits:
        callers = limit.counted | (limit.opened_by or frozenset())
        by_key: dict[str, list[Operation]] = defaultdict(list)
        for o in all_ops:
            if o.op in limit.ops and o.status in callers:
                by_key[str(o.input.get(limit.key)) if limit.key else "*"].append(o)
        for key, calls in by_key.items():
            for reach, within in _epochs(calls, wipes):
                ops = sorted((o for o in within if o.status in limit.counted), key=lambda o: o.invoked)
                if limit.refill_per_s is not None:
                    over = _over_bucket(ops, limit)
                elif limit.opened_by is not None:
                    over = _over_opened_window(sorted(reach, key=lambda o: o.invoked), ops, limit)
                else:
                    over = _over_window(ops, limit)
                if over:
                    found.append(
                        Violation(
                            f"limit {limit.name}",
                            f"{len(over)} calls for {limit.key or 'all'}={key} within one "
                            f"{'window' if limit.window_ns is not None else 'span of the bucket'}; "
                            f"it allows {limit.most}",
                            tuple(o.id for o in over),
                        )
                    )
                    break
    return found


def _over_opened_window(calls: list[Operation], counted: list[Operation], limit: Limit) -> list[Operation]:
    """The counted calls surely within one fixed window that any of ``calls`` may have
    opened, if more than allowed. Window k opens at o_k, between a lower bound L (no
    call before the first that may reach the store, and each window after the last
    one's end) and an upper bound U (the first counted answer surely not in an earlier
    window had reached the store by then); a counted call invoked after U and answered
    before L + W is surely within it."""
    assert limit.window_ns is not None
    window = limit.window_ns
    never = 2**63

    def reached_by(o: Operation) -> int:
        """The latest the call may have reached the counter: its answer, or never for a call with no
        answer a client can rely on (a server may go on with it after the client gave up)."""
        return never if _indeterminate(o) or o.completed is None else o.completed

    if not calls or not counted:
        return []
    lower = calls[0].invoked
    upper = min(reached_by(o) for o in counted)
    first = True
    while upper < never:
        inside = [o for o in counted if (first or o.invoked >= upper) and reached_by(o) < lower + window]
        if len(inside) > limit.most:
            return inside
        ends = lower + window
        later = [o.invoked for o in calls if reached_by(o) >= ends]
        lower = max(ends, min(later)) if later else never
        upper = min((reached_by(o) for o in counted if o.invoked >= upper + window), default=never)
        first = False
    return []


def _over_window(ops: list[Operation], limit: Limit) -> list[Operation]:
    """The counted calls surely within the fixed window of the first, if more than allowed."""
    assert limit.window_ns is not None
    start = 0
    while start < len(ops):
        opens = ops[start].invoked  # the window opened no earlier than the call that opened it
        inside = [o for o in ops[start:] if o.completed is not None and o.completed < opens + limit.window_ns]
        if len(inside) > limit.most:
            return inside
        closes = (ops[start].completed or opens) + limit.window_ns  # no later than this
        start = next((i for i in range(start + 1, len(ops)) if ops[i].invoked >= closes), len(ops))
    return []


def _over_bucket(ops: list[Operation], limit: Limit) -> list[Operation]:
    """The counted calls of a span that took more than the bucket holds plus what it refilled."""
    assert limit.refill_per_s is not None
    for i in range(len(ops)):
        latest = 0
        for j in range(i, len(ops)):
            latest = max(latest, ops[j].completed or 0)
            allowed = limit.most + limit.refill_per_s * (latest - ops[i].invoked) / 1e9
            if j - i + 1 > allowed:
                return ops[i : j + 1]
            if allowed >= len(ops) - i:
                break  # the bucket holds every call left from here
    return []


def check_invariants(
    history: History,
    *,
    delivered: Iterable[str] | None = None,
    live_sessions: Iterable[str] | None = None,
    session_owners: Mapping[str, str] | None = None,
    limits: Sequence[Limit] = (),
) -> list[Violation]:
    """Every invariant the data allows: those over the history alone, the mail one given
    ``delivered``, the orphan one given ``live_sessions``, the disabled users' one given
    ``session_owners``, and ``limits``."""
    found = one_session_per_challenge(history)
    found += no_token_accepted_after_revocation(history)
    found += retries_answered_alike(history)
    if delivered is not None:
        found += each_accepted_start_mailed_once(history, delivered)
    if live_sessions is not None:
        found += no_orphan_sessions(history, live_sessions)
    if session_owners is not None:
        found += no_session_outlives_its_users_disable(history, session_owners)
    return found + limits_held(history, limits)
