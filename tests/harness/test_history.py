"""The history format: recorded as a run goes, read back, refused where it breaks the format."""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.robustness.history import FORMAT, HistoryError, Recorder, jsonable, read_history


def test_a_recorded_run_reads_back_operation_by_operation(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    with Recorder(path, seed=42, params={"retry_grace_ns": 5}, meta={"replay": "run it again"}) as rec:
        ok = rec.invoke(0, "refresh", {"refresh_token": "T0"})
        failed = rec.invoke(1, "me", {"access_token": "A0"})
        lost = rec.invoke(2, "confirm", {"challenge_id": "c1", "code": "123456"})
        cut = rec.invoke(3, "logout", {"access_token": "A0"})  # the run ended before its answer
        ok.ok({"refresh_token": "T1"})
        failed.fail("UNAUTHENTICATED")
        lost.unknown("timeout", after_s=3)
        rec.evidence("live_sessions", ["S1"])
    history = read_history(path)
    assert (history.seed, history.format, history.params, history.meta["replay"]) == (
        42,
        FORMAT,
        {"retry_grace_ns": 5},
        "run it again",
    )
    ops = {o.op: o for o in history.operations()}
    assert [o.id for o in history.operations()] == [ok.id, failed.id, lost.id, cut.id]
    assert (ops["refresh"].status, ops["refresh"].output) == ("ok", {"refresh_token": "T1"})
    assert (ops["me"].status, ops["me"].error, ops["me"].answered) == ("fail", "UNAUTHENTICATED", True)
    assert (ops["confirm"].status, ops["confirm"].output) == ("unknown", {"reason": "timeout", "after_s": 3})
    assert (ops["logout"].status, ops["logout"].completed, ops["logout"].answered) == ("unknown", None, False)
    for o in history.operations():
        assert o.completed is None or o.completed >= o.invoked >= history.started_ns
    assert history.evidence == {"live_sessions": ["S1"]}


def test_every_line_is_written_as_it_happens(tmp_path: Path) -> None:
    """A run killed mid-way leaves what it recorded so far, each line whole."""
    path = tmp_path / "history.jsonl"
    rec = Recorder(path, params={"retry_grace_ns": 0})
    rec.invoke(0, "me", {"access_token": "A0"}).ok({"session_id": "S1"})
    lines = path.read_text().splitlines()  # not closed: read as another process would
    assert [json.loads(line)["type"] for line in lines] == ["history", "invoke", "ok"]
    rec.close()


def test_concurrent_clients_get_unique_ids_and_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    with Recorder(path, params={"retry_grace_ns": 0}) as rec:

        def client(n: int) -> None:
            for i in range(50):
                rec.invoke(n, "me", {"access_token": f"A{n}-{i}"}).ok({"n": i})

        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    ops = read_history(path).operations()
    assert len(ops) == 400
    assert len({o.id for o in ops}) == 400
    assert all(o.status == "ok" and o.output["n"] == int(o.input["access_token"].rsplit("-", 1)[1]) for o in ops)


def test_an_operation_completes_once(tmp_path: Path) -> None:
    with Recorder(tmp_path / "h.jsonl", params={"retry_grace_ns": 0}) as rec:
        call = rec.invoke(0, "me", {})
        call.ok()
        with pytest.raises(RuntimeError, match="already completed as ok"):
            call.fail("UNAUTHENTICATED")


@dataclass
class _Login:
    session_id: str
    expires_at: datetime


def test_inputs_and_outputs_are_made_json_data() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert jsonable({"login": _Login("S1", at), "ids": ("a", "b"), "set": {"y", "x"}}) == {
        "login": {"session_id": "S1", "expires_at": "2026-01-01T00:00:00+00:00"},
        "ids": ["a", "b"],
        "set": ["x", "y"],
    }
    with pytest.raises(TypeError, match="not JSON data"):
        jsonable({"x": object()})


def test_what_json_cannot_hold_is_refused(tmp_path: Path) -> None:
    with Recorder(tmp_path / "h.jsonl", params={"retry_grace_ns": 0}) as rec:
        call = rec.invoke(0, "me", {})
        with pytest.raises(HistoryError, match="not JSON data"):
            call.ok({"ratio": math.nan})


def test_a_subset_keeps_only_the_operations_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    with Recorder(path, seed=7, params={"retry_grace_ns": 0}) as rec:
        ids = [rec.invoke(0, "me", {"n": n}).id for n in range(4)]
        rec.evidence("delivered", ["c1"])
    sub = read_history(path).subset(ids[1:3])
    assert [o.id for o in sub.operations()] == ids[1:3]
    assert (sub.seed, sub.evidence) == (7, {})
    assert [o.id for o in read_history(sub.write(tmp_path / "sub.jsonl")).operations()] == ids[1:3]


HEADER = '{"type":"history","format":1,"params":{"retry_grace_ns":0}}'


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "empty, no history header"),
        ('{"type":"invoke","id":1,"client":0,"op":"me","t":1,"input":{}}', "first line must be the history header"),
        ('{"type":"history","format":2}', "history format 2; this reader knows 1 to 1"),
        (HEADER + "\nnot json", ":2: not JSON"),
        (HEADER + '\n{"type":"ok","id":1,"client":0,"op":"me","t":1,"output":{}}', "operation 1 has [] before this ok"),
        (
            HEADER
            + '\n{"type":"invoke","id":1,"client":0,"op":"me","t":1,"input":{}}'
            + '\n{"type":"ok","id":1,"client":0,"op":"me","t":2,"output":{}}'
            + '\n{"type":"fail","id":1,"client":0,"op":"me","t":3,"output":{}}',
            "operation 1 has ['invoke', 'ok'] before this fail",
        ),
        (HEADER + '\n{"type":"invoke","id":1,"op":"me","t":1}', "an event needs id, client, op, t"),
        (HEADER + '\n{"type":"nemesis"}', "unknown line type 'nemesis'"),
    ],
    ids=[
        "empty",
        "no header",
        "newer format",
        "not json",
        "answer first",
        "answered twice",
        "no client",
        "unknown type",
    ],
)
def test_a_history_that_breaks_the_format_is_refused_saying_where(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(text)
    with pytest.raises(HistoryError) as info:
        read_history(path)
    assert error in str(info.value)
