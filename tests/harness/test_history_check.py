"""The checker proven on hand-made histories: linearizable ones pass, each
non-linearizable one is judged so and shrunk to its minimal story, each
invariant holds or is broken as the history says, and a failure gets its page."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from histories import MS, HandMade, pair

from harness.robustness.check import check, main, story_timeline
from harness.robustness.history import read_history
from harness.robustness.invariants import (
    Limit,
    each_accepted_start_mailed_once,
    limits_held,
    no_orphan_sessions,
    no_session_outlives_its_users_disable,
    no_token_accepted_after_revocation,
    one_session_per_challenge,
    retries_answered_alike,
)
from harness.robustness.linearizability import CheckerError, check_linearizability

ME = {"session_id": "S1", "user_id": "u1"}


def _refresh(token: str) -> dict[str, str]:
    return {"refresh_token": token}


def _token(access: str) -> dict[str, str]:
    return {"access_token": access}


def _error(code: str) -> dict[str, str]:
    return {"error": code}


LINEARIZABLE: dict[str, Callable[[], HandMade]] = {
    "one client, one call at a time": lambda: (
        HandMade()
        .login(0, "c1", "S1", "T0", "A0", 0, 10)
        .op(0, "refresh", _refresh("T0"), 20, 30, "ok", pair("S1", "T1", "A1"))
        .op(0, "me", _token("A1"), 40, 50, "ok", ME)
        .op(0, "logout", _token("A1"), 60, 70, "ok")
        .op(0, "me", _token("A0"), 80, 90, "fail", _error("UNAUTHENTICATED"))
    ),
    "two refreshes of one token at once, the second a retry answered alike": lambda: (
        HandMade()
        .login(0, "c1", "S1", "T0", "A0", 0, 10)
        .op(0, "refresh", _refresh("T0"), 20, 40, "ok", pair("S1", "T1", "A1"))
        .op(1, "refresh", _refresh("T0"), 21, 41, "ok", pair("S1", "T1", "A1b"))
    ),
    "a refresh whose answer was lost, retried": lambda: (
        HandMade()
        .login(0, "c1", "S1", "T0", "A0", 0, 10)
        .op(0, "refresh", _refresh("T0"), 20, None)
        .op(0, "refresh", _refresh("T0"), 3000, 3010, "ok", pair("S1", "T1", "A1"))
        .op(0, "me", _token("A1"), 3020, 3030, "ok", ME)
    ),
    "a confirm answered 503 at its deadline, retried": lambda: (
        HandMade()
        .op(0, "confirm", {"challenge_id": "c1", "code": "123456"}, 0, 500, "fail", _error("DEPENDENCY_UNAVAILABLE"))
        .op(0, "confirm", {"challenge_id": "c1", "code": "123456"}, 600, 610, "ok", pair("S1", "T0", "A0"))
    ),
    "a use racing its logout": lambda: (
        HandMade()
        .login(0, "c1", "S1", "T0", "A0", 0, 10)
        .op(0, "logout", _token("A0"), 20, 60, "ok")
        .op(1, "me", _token("A0"), 30, 70, "ok", ME)
    ),
    "with no retry window, the second refresh is a replay": lambda: (
        HandMade(grace_ns=0)
        .login(0, "c1", "S1", "T0", "A0", 0, 10)
        .op(0, "refresh", _refresh("T0"), 20, 40, "ok", pair("S1", "T1", "A1"))
        .op(1, "refresh", _refresh("T0"), 21, 41, "fail", _error("INVALID_REFRESH_TOKEN"))
        .op(0, "me", _token("A1"), 50, 60, "fail", _error("UNAUTHENTICATED"))
    ),
}

# Each with the ids of its minimal story: the operations that break the model, and what handed out their tokens.
NON_LINEARIZABLE: dict[str, tuple[Callable[[], HandMade], tuple[int, ...]]] = {
    "two refreshes of one token both rotating to different successors": (
        lambda: (
            HandMade()
            .login(0, "c1", "S1", "T0", "A0", 0, 10)
            .op(2, "me", _token("A0"), 12, 18, "ok", ME)
            .op(0, "refresh", _refresh("T0"), 20, 40, "ok", pair("S1", "T1", "A1"))
            .op(1, "refresh", _refresh("T0"), 21, 41, "ok", pair("S1", "T1x", "A1x"))
        ),
        (1, 3, 4),
    ),
    "a token accepted after an acknowledged logout": (
        lambda: (
            HandMade()
            .login(0, "c1", "S1", "T0", "A0", 0, 10)
            .op(0, "me", _token("A0"), 20, 30, "ok", ME)
            .op(0, "logout", _token("A0"), 40, 50, "ok")
            .op(1, "me", _token("A0"), 60, 70, "ok", ME)
        ),
        (1, 3, 4),
    ),
    "a retry answered with a different successor": (
        lambda: (
            HandMade()
            .login(0, "c1", "S1", "T0", "A0", 0, 10)
            .op(0, "refresh", _refresh("T0"), 20, None)
            .op(0, "refresh", _refresh("T0"), 1000, 1010, "ok", pair("S1", "T1", "A1"))
            .op(1, "refresh", _refresh("T0"), 1020, 1030, "ok", pair("S1", "T2", "A2"))
        ),
        # The unanswered refresh stays: without it, the last refresh could not have been
        # refused, and with it, it could (that refresh may have landed late, as a replay).
        (1, 2, 3, 4),
    ),
    "a second session for one challenge": (
        lambda: (
            HandMade()
            .login(0, "c1", "S1", "T0", "A0", 0, 10)
            .op(1, "confirm", {"challenge_id": "c1", "code": "123456"}, 5, 15, "ok", pair("S2", "U0", "B0"))
        ),
        (1, 2),
    ),
}


def _judged(tmp_path: Path, made: HandMade) -> tuple[Path, object]:
    path = made.write(tmp_path / "history.jsonl")
    return path, check_linearizability(path, html_dir=tmp_path / "porcupine")


@pytest.mark.parametrize("name", LINEARIZABLE)
def test_a_linearizable_history_passes(tmp_path: Path, name: str) -> None:
    path = LINEARIZABLE[name]().write(tmp_path / "history.jsonl")
    report = check_linearizability(path)
    assert report.result == "ok", report
    assert report.failing == []
    assert report.unattributed == ()
    assert [p.result for p in report.partitions] == ["ok"]


@pytest.mark.parametrize("name", NON_LINEARIZABLE)
def test_a_non_linearizable_history_fails_with_its_minimal_story(tmp_path: Path, name: str) -> None:
    made, minimal = NON_LINEARIZABLE[name]
    path = made().write(tmp_path / "history.jsonl")
    report = check_linearizability(path, html_dir=tmp_path / "porcupine")
    assert report.result == "illegal"
    [failing] = report.failing
    assert failing.minimal == minimal, "\n".join(failing.story)
    assert len(failing.story) == len(minimal)
    assert failing.visualization is not None
    assert failing.visualization.is_file()
    assert failing.full_visualization is not None
    assert failing.full_visualization.is_file()


def test_the_shrinker_keeps_only_the_story_that_breaks_the_model(tmp_path: Path) -> None:
    made = HandMade().login(0, "c1", "S1", "T0", "A0", 0, 10)  # 1
    for n in range(15):  # 2..16: harmless reads by three clients
        made.op(n % 3, "me", _token("A0"), 20 + 10 * n, 25 + 10 * n, "ok", ME)
    made.op(0, "refresh", _refresh("T0"), 200, 210, "ok", pair("S1", "T1", "A1"))  # 17
    made.op(1, "logout", _token("A1"), 220, 230, "ok")  # 18
    made.op(2, "me", _token("A0"), 240, 250, "ok", ME)  # 19: a token of the ended session accepted
    made.op(2, "me", _token("A1"), 260, 270, "fail", _error("UNAUTHENTICATED"))  # 20
    made.login(1, "c2", "S2", "U0", "B0", 0, 10)  # 21: another session, fine all along
    report = check_linearizability(made.write(tmp_path / "history.jsonl"))
    [failing] = report.failing
    assert len(failing.operations) == 20
    assert failing.minimal == (1, 17, 18, 19), "\n".join(failing.story)
    assert [re.sub(r"^#\d+ client \d+: ", "", s).split("(")[0] for s in failing.story] == [
        "confirm",
        "refresh",
        "logout",
        "me",
    ]
    assert [p.result for p in report.partitions] == ["illegal", "ok"]


def test_operations_naming_nothing_handed_out_are_left_out(tmp_path: Path) -> None:
    made = HandMade().op(0, "me", _token("forged"), 0, 10, "ok", ME)
    report = check_linearizability(made.write(tmp_path / "history.jsonl"))
    assert (report.result, report.partitions, report.unattributed) == ("ok", (), (1,))


def test_a_history_the_checker_cannot_read_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text('{"type":"history","format":1,"params":{}}\n')
    with pytest.raises(CheckerError, match="retry_grace_ns"):
        check_linearizability(path)


# ------------------------------------------------------------ invariants


def test_one_session_per_challenge() -> None:
    made, _ = NON_LINEARIZABLE["a second session for one challenge"]
    [found] = one_session_per_challenge(made().history)
    assert found.operations == (1, 2)
    assert "opened 2 sessions" in found.message
    assert one_session_per_challenge(LINEARIZABLE["a confirm answered 503 at its deadline, retried"]().history) == []


def test_no_token_accepted_after_revocation() -> None:
    made, _ = NON_LINEARIZABLE["a token accepted after an acknowledged logout"]
    [found] = no_token_accepted_after_revocation(made().history)
    assert found.operations == (3, 4)
    assert "me #4 was accepted with a token of session S1" in found.message
    assert no_token_accepted_after_revocation(LINEARIZABLE["a use racing its logout"]().history) == []
    after_revoke_all = (
        HandMade()
        .login(0, "c1", "S1", "T0", "A0", 0, 10)
        .op(1, "revoke_all", {"user_id": "u1"}, 20, 30, "ok")
        .op(0, "refresh", _refresh("T0"), 40, 50, "ok", pair("S1", "T1", "A1"))
    )
    assert [v.operations for v in no_token_accepted_after_revocation(after_revoke_all.history)] == [(2, 3)]
    opened_during = (
        HandMade()
        .op(1, "revoke_all", {"user_id": "u1"}, 0, 30, "ok")
        .login(0, "c1", "S1", "T0", "A0", 10, 20)
        .op(0, "me", _token("A0"), 40, 50, "ok", ME)
    )
    assert no_token_accepted_after_revocation(opened_during.history) == [], "a session opened during it may survive"


def test_retries_answered_alike() -> None:
    made, _ = NON_LINEARIZABLE["a retry answered with a different successor"]
    [found] = retries_answered_alike(made().history)
    assert found.operations == (3, 4)
    alike = LINEARIZABLE["two refreshes of one token at once, the second a retry answered alike"]()
    assert retries_answered_alike(alike.history) == []


def test_each_accepted_start_mailed_once() -> None:
    made = (
        HandMade()
        .op(0, "start", {"email": "a@example.com"}, 0, 10, "ok", {"challenge_id": "c1"})
        .op(1, "start", {"email": "b@example.com"}, 0, 10, "ok", {"challenge_id": "c2"})
        .op(2, "start", {"email": "c@example.com"}, 0, 10, "ok", {"challenge_id": "c3"})
    )
    found = each_accepted_start_mailed_once(made.history, ["c1", "c2", "c2", "c9"])
    assert sorted(v.message for v in found) == ["challenge c2 was mailed 2 times", "challenge c3 was never mailed"]
    assert each_accepted_start_mailed_once(made.history, ["c3", "c2", "c1"]) == []


def test_no_orphan_sessions() -> None:
    made = (
        HandMade()
        .login(0, "c1", "S1", "T0", "A0", 0, 10)
        .op(0, "confirm", {"challenge_id": "c1", "code": "123456"}, 0, None)  # 2: answered by its retry (1)
        .op(1, "confirm", {"challenge_id": "c2", "code": "654321"}, 0, None)  # 3: never answered
    )
    [found] = no_orphan_sessions(made.history, ["S1", "S7", "S8"])
    assert found.message.startswith("2 live sessions no answer handed tokens for: S7, S8; 1 confirms")
    assert found.operations == (3,), "the confirm never retried to an answer is named as the likely cause"
    assert no_orphan_sessions(made.history, ["S1"]) == []


@pytest.mark.parametrize(
    ("grace_ms", "retried_at_ms", "orphans", "explained"),
    [
        (0, None, ["S1", "S7"], True),  # no retry window: a lost answer leaves its session to nobody
        (0, None, ["S1", "S7", "S8"], False),  # one lost answer explains one orphan, not two
        (30_000, 100, ["S1", "S7"], False),  # retried within the window: the retry had to hand it out
        (30_000, 40_000, ["S1", "S7"], True),  # retried past the window: refused, as tokens.md says
    ],
    ids=["no-window", "one-too-many", "retried-within", "retried-past"],
)
def test_an_orphan_is_explained_only_by_an_answer_lost_beyond_retrying(
    grace_ms: int, retried_at_ms: int | None, orphans: list[str], explained: bool
) -> None:
    made = (
        HandMade(grace_ns=grace_ms * MS)
        .login(0, "c1", "S1", "T0", "A0", 0, 10)
        .op(1, "confirm", {"challenge_id": "c2", "code": "654321"}, 0, None)  # its answer lost
    )
    if retried_at_ms is not None:
        retry = {"challenge_id": "c2", "code": "654321"}
        made.op(1, "confirm", retry, retried_at_ms, retried_at_ms + 10, "fail", _error("CHALLENGE_NOT_FOUND"))
    found = no_orphan_sessions(made.history, orphans)
    assert (found == []) == explained, found


def test_no_session_outlives_its_users_disable() -> None:
    made = (
        HandMade()
        .login(0, "c1", "S1", "T0", "A0", 0, 10)
        .op(1, "disable_user", {"user_id": "u1"}, 20, 21, "ok", {})
        .op(1, "revoke_all", {"user_id": "u1"}, 30, 40, "ok", {})
        .op(2, "revoke_all", {"user_id": "u2"}, 30, 40, "ok", {})  # u2 was never disabled
    )
    [found] = no_session_outlives_its_users_disable(made.history, {"S1": "u1", "S9": "u2"})
    assert found.operations == (2, 3, 1), "the disable, the revoke-all and the confirm that opened the session"
    assert "S1" in found.message
    assert no_session_outlives_its_users_disable(made.history, {"S9": "u2"}) == []
    early = (
        HandMade()
        .op(1, "revoke_all", {"user_id": "u1"}, 0, 5, "ok", {})
        .op(1, "disable_user", {"user_id": "u1"}, 20, 21, "ok", {})
    )
    assert no_session_outlives_its_users_disable(early.history, {"S1": "u1"}) == [], "a revoke-all before the disable"


STARTS_ANY_CALL_OPENS = Limit(
    "starts", frozenset({"start"}), most=2, window_ns=1000 * MS, opened_by=frozenset({"ok", "fail", "unknown"})
)
"""Two starts a second, the window opened by any start that may have reached the counter, whatever its answer."""


def test_a_window_any_call_may_open_is_judged_from_the_calls_around_it() -> None:
    """Every start counts against the limit, refused or not: the window is opened by the
    first one that reached the counter, whatever it was answered."""
    made = (
        HandMade()
        .op(0, "start", {"email": "a"}, 0, 10, "fail", _error("DEPENDENCY_UNAVAILABLE"))  # may have opened it
        .op(0, "start", {"email": "b"}, 900, 910, "ok", {"challenge_id": "c1"})
        .op(0, "start", {"email": "c"}, 950, 960, "ok", {"challenge_id": "c2"})
        .op(0, "start", {"email": "d"}, 1010, 1020, "ok", {"challenge_id": "c3"})
        .op(0, "start", {"email": "e"}, 1030, 1040, "ok", {"challenge_id": "c4"})
    )
    limit = STARTS_ANY_CALL_OPENS
    assert limits_held(made.history, [limit]) == [], "two windows of two, the first opened by the refused call"
    assert Limit.from_json(limit.to_json()) == limit
    crowded = made.op(0, "start", {"email": "f"}, 960, 970, "ok", {"challenge_id": "c5"})
    [found] = limits_held(crowded.history, [limit])
    assert found.operations == (2, 3, 6)


def test_a_call_with_no_answer_may_open_a_window_any_time_after_its_invoke() -> None:
    """A start whose answer was lost may reach the counter long after the client gave up on it,
    and open the next window then: the calls after it are not judged as one window from the next."""
    made = (
        HandMade()
        .op(0, "start", {"email": "a"}, 0, 5, "ok", {"challenge_id": "c1"})
        .op(1, "start", {"email": "b"}, 100, 110, "unknown", {"reason": "timeout"})
        .op(0, "start", {"email": "c"}, 1500, 1510, "ok", {"challenge_id": "c2"})
        .op(0, "start", {"email": "d"}, 1600, 1610, "ok", {"challenge_id": "c3"})
        .op(0, "start", {"email": "e"}, 2300, 2310, "ok", {"challenge_id": "c4"})
        .op(0, "start", {"email": "f"}, 2400, 2410, "ok", {"challenge_id": "c5"})
    )
    limit = STARTS_ANY_CALL_OPENS
    assert limits_held(made.history, [limit]) == [], "the lost one may have opened [1000, 2000): c2, c3; then c4, c5"


def test_a_wipe_starts_the_limits_afresh() -> None:
    made = HandMade()
    for n in range(2):
        made.op(n, "start", {"email": "a"}, 10 * n, 10 * n + 5, "ok", {"challenge_id": f"c{n}"})
    before = [Limit("starts", frozenset({"start"}), most=3, window_ns=3600_000 * MS)]
    made.op(-1, "wipe", {}, 30, 40, "ok", {})
    for n in range(2, 4):
        made.op(n, "start", {"email": "a"}, 10 * n + 30, 10 * n + 35, "ok", {"challenge_id": f"c{n}"})
    assert limits_held(made.history, before) == [], "two before the wipe, two after"
    unwiped = HandMade()
    for n in range(4):
        unwiped.op(n, "start", {"email": "a"}, 10 * n, 10 * n + 5, "ok", {"challenge_id": f"c{n}"})
    assert len(limits_held(unwiped.history, before)) == 1


def test_limits_held() -> None:
    made = HandMade()
    for n in range(6):
        made.op(n, "start", {"email": "a@example.com"}, 100 * n, 100 * n + 10, "ok", {"challenge_id": f"c{n}"})
    made.op(9, "start", {"email": "b@example.com"}, 0, 10, "ok", {"challenge_id": "c9"})
    per_email = Limit("starts per email", frozenset({"start"}), most=5, window_ns=3600_000 * MS, key="email")
    [found] = limits_held(made.history, [per_email])
    assert found.operations == (1, 2, 3, 4, 5, 6)
    assert "6 calls for email=a@example.com" in found.message
    everyone = Limit("starts", frozenset({"start"}), most=6, window_ns=3600_000 * MS)
    assert [len(v.operations) for v in limits_held(made.history, [everyone])] == [7], "seven in all are over six"
    short = Limit("starts per email", frozenset({"start"}), most=5, window_ns=250 * MS, key="email")
    assert limits_held(made.history, [short]) == [], "250 ms windows hold three at most"
    # Two at once, then one every 100 ms: by 310 ms five went through a bucket of four refilled at two a second.
    bucket = Limit("login burst", frozenset({"start"}), most=4, refill_per_s=2.0)
    assert [v.operations for v in limits_held(made.history, [bucket])] == [(1, 7, 2, 3, 4)]
    assert limits_held(made.history, [Limit("login burst", frozenset({"start"}), most=7, refill_per_s=1.0)]) == []


def test_a_limit_needs_a_window_or_a_refill() -> None:
    with pytest.raises(ValueError, match="exactly one of window_ns and refill_per_s"):
        Limit("x", frozenset({"start"}), most=1)
    limit = Limit("x", frozenset({"start"}), most=3, refill_per_s=0.5, key="email")
    assert Limit.from_json(limit.to_json()) == limit


# ------------------------------------------------------------ the verdict, its page and the command


def _failing_history(tmp_path: Path) -> Path:
    made, _ = NON_LINEARIZABLE["a token accepted after an acknowledged logout"]
    history = made().history
    history.meta["replay"] = "./noxw -s robustness -- --seed 1234"
    history.evidence["live_sessions"] = ["S1", "S9"]
    return history.write(tmp_path / "history.jsonl")


def test_a_failure_gets_a_page_with_its_story_and_the_seed(tmp_path: Path) -> None:
    verdict = check(_failing_history(tmp_path), out_dir=tmp_path / "check")
    assert not verdict.passed
    assert verdict.linearizability.result == "illegal"
    assert sorted(v.invariant for v in verdict.violations) == [
        "no session nobody holds tokens for",
        "no token accepted after its session's end was acknowledged",
    ]
    assert verdict.page is not None
    page = verdict.page.read_text()
    assert "seed <code>1234</code>" in page
    assert "./noxw -s robustness -- --seed 1234" in page
    assert "python -m harness.robustness.check" in page
    assert "story-1.html" in page
    assert "porcupine" in page
    story = (verdict.page.parent / "story-1.html").read_text()
    assert "client 1" in story
    assert "#4 me(access_token=A0)" in story
    assert "failing step" in story, "the last operation of the story is marked"
    assert "S9" in verdict.describe()


def test_the_story_timeline_has_a_lifeline_per_client() -> None:
    made, _ = NON_LINEARIZABLE["a token accepted after an acknowledged logout"]
    timeline = story_timeline(made().history, [1, 3, 4], "story")
    assert timeline.participants == ["client 0", "service", "client 1"]
    assert [h.operation.split("(")[0] for h in timeline.hops] == ["#1 confirm", "#3 logout", "#4 me"]
    assert timeline.failing == 2
    assert timeline.hops[2].duration == pytest.approx(10 * MS / 1e9)


def test_a_stored_history_is_checked_again_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failing = _failing_history(tmp_path)
    assert main([str(failing)]) == 1
    out = capsys.readouterr().out
    assert "FAILED (seed 1234)" in out
    assert "challenge:c1 (session S1) breaks the session model" in out
    assert (tmp_path / "history-check" / "index.html").is_file(), "the page goes beside the history by default"
    passing = LINEARIZABLE["one client, one call at a time"]().write(tmp_path / "ok.jsonl")
    assert main([str(passing)]) == 0
    assert "passed" in capsys.readouterr().out
    assert not (tmp_path / "ok-check").exists(), "a passing history gets no page"
    assert read_history(passing).seed == 1234
