"""The failure timeline (harness.forensics.timeline, harness.forensics.timeline_html), the failure
bundle (harness.forensics.bundle) and the Redis command records they are built from."""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path

import pytest
import redis

from harness.forensics.bundle import Evidence, clear_bundles, goroutine_dump, sanitise, write_bundle
from harness.forensics.timeline import Hop, Timeline, attribute, json_lines, parse_time, render_text, subjects
from harness.forensics.timeline_html import render_html
from harness.redis.backends import FakeRedisServer, RedisServerProcess, redis_server_binary
from harness.redis.commands import parse_monitor_line, reply_summary

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
OTHER = "52c7e234e06f286eba3bbaf670e17b0f"
T0 = 1_796_000_000.0


def login_hops() -> list[Hop]:
    """A login whose confirm is refused: the hops a suite would read, out of order."""
    return [
        Hop(T0 + 0.010, "gateway", "authsession", "gRPC StartEmailLogin", "OK", 0.020, TRACE),
        Hop(T0 + 0.000, "test", "gateway", "POST /v1/auth/email/start", "200", 0.040, TRACE),
        Hop(T0 + 0.015, "authsession", "redis", "HSET galaxy:challenge:x", "ok", 0.001),
        Hop(T0 + 0.020, "authsession", "mail", "POST /v1/messages", "202", 0.002, TRACE),
        Hop(T0 + 0.100, "test", "gateway", "POST /v1/auth/email/confirm", "503", 0.030, TRACE, error=True),
        Hop(T0 + 0.105, "gateway", "authsession", "gRPC ConfirmEmailLogin", "Unavailable", 0.020, TRACE, error=True),
        Hop(T0 + 0.050, "gateway", "authsession", "gRPC Check", "OK", 0.001, OTHER),
    ]


def test_the_timeline_is_in_time_order_and_blames_the_first_error_of_the_last_call() -> None:
    timeline = Timeline.merge(login_hops(), failed_at=T0 + 0.2, trace_id=TRACE)

    assert [h.start for h in timeline.hops] == sorted(h.start for h in timeline.hops)
    assert timeline.failing is not None
    assert timeline.hops[timeline.failing].operation == "gRPC ConfirmEmailLogin"
    assert timeline.participants == ["test", "gateway", "authsession", "redis", "mail"]
    assert [t for t, _ in timeline.traces()] == [TRACE, OTHER]


def test_without_an_error_the_last_call_of_the_test_is_the_failing_step() -> None:
    hops = [h for h in login_hops() if not h.error]
    hops.append(Hop(T0 + 0.300, "test", "gateway", "GET /v1/me", "200", 0.01, TRACE))
    hops.append(Hop(T0 + 0.305, "gateway", "redis", "HGETALL galaxy:session:s", "ok", 0.001))
    timeline = Timeline.merge(hops, failed_at=T0 + 0.4)

    assert timeline.failing is not None
    assert timeline.hops[timeline.failing].operation == "GET /v1/me"
    # a hop begun after the failure is never blamed
    assert Timeline.merge(hops, failed_at=T0 + 0.301).hops[-1].operation.startswith("HGETALL")
    assert Timeline.merge(hops, failed_at=T0 - 1).failing is None


def test_a_hop_without_a_trace_takes_the_trace_of_the_call_its_source_was_serving() -> None:
    hops = attribute(login_hops())
    [redis_hop] = [h for h in hops if h.target == "redis"]
    assert redis_hop.trace_id == TRACE
    lone = attribute([Hop(T0 + 9, "authsession", "redis", "GET k", "ok")])
    assert lone[0].trace_id is None


def test_the_terminal_timeline_has_one_line_per_hop_and_marks_the_failing_step() -> None:
    text = render_text(Timeline.merge(login_hops(), failed_at=T0 + 0.2, trace_id=TRACE, chatter={"grpc-go debug": 7}))
    lines = text.splitlines()

    [failing] = [line for line in lines if line.startswith(">>")]
    assert "gateway -> authsession" in failing
    assert "ConfirmEmailLogin" in failing
    assert "Unavailable" in failing
    assert "<- failing step" in failing
    assert [line for line in lines if line.startswith("!!")] == [
        next(line for line in lines if "POST /v1/auth/email/confirm" in line)
    ]
    assert re.search(r"\+\s*0\.020s\s+authsession -> mail\s+POST /v1/messages\s+202\s+2\.0ms", text), text
    assert f"trace {TRACE} (this test's): 6 hop(s)" in text
    assert lines[-1] == "folded: 7 grpc-go debug"


def test_a_run_of_uneventful_hops_between_two_parts_prints_as_one_line() -> None:
    hops = [Hop(T0 + i / 1000, "authsession", "redis", f"CMD{i} k", "ok", 0.001, TRACE) for i in range(10)]
    text = render_text(Timeline.merge(hops, failed_at=T0 - 1))
    assert "10 calls: CMD0, CMD1" in text
    assert text.splitlines()[2:] == [
        next(x for x in text.splitlines() if "10 calls" in x),
        "(no hop began before the failure)",
    ]


def test_a_long_timeline_is_cut_around_the_failing_step() -> None:
    hops = [Hop(T0 + i, "test", "gateway", f"GET /v1/op{i}", "200", 0.5, TRACE) for i in range(100)]
    text = render_text(Timeline.merge(hops, failed_at=T0 + 50.2), limit=10)
    assert "(90 hops far from the failing step are left out here" in text
    assert ">> " in text
    assert "GET /v1/op50 " in text
    assert "GET /v1/op10 " not in text


def test_a_failure_lists_every_call_about_the_keys_its_failing_step_read() -> None:
    key = "galaxy:challenge:x"
    hops = [
        Hop(T0, "test", "gateway", "POST /v1/auth/email/start", "200", 0.040, TRACE),
        Hop(T0 + 0.01, "authsession", "redis", f"HSET {key}", "ok", 0.001, None, False, "", f"HSET {key} -> 5", key),
        Hop(T0 + 0.011, "authsession", "redis", "PEXPIREAT", "ok", 0.001, None, False, "", "PEXPIREAT -> 1", key),
        Hop(T0 + 0.02, "authsession", "redis", "GET galaxy:other", "ok", 0.001, None, False, "", "", "galaxy:other"),
        Hop(T0 + 0.05, "janitor", "redis", f"DEL {key}", "ok", 0.001, OTHER, False, "", f"DEL {key} -> 1", key),
        Hop(T0 + 0.1, "test", "gateway", "POST /v1/auth/email/confirm", "404", 0.03, TRACE, error=True),
        Hop(T0 + 0.105, "gateway", "authsession", "gRPC ConfirmEmailLogin", "NotFound", 0.02, TRACE),
        Hop(T0 + 0.11, "authsession", "redis", "HGETALL", "ok", 0.001, None, False, "", f"HGETALL {key} -> empty", key),
    ]
    timeline = Timeline.merge(hops, failed_at=T0 + 0.2, trace_id=TRACE)
    failing = timeline.hops[timeline.failing or 0]
    assert failing.operation == "POST /v1/auth/email/confirm"

    # only the key read within the failing step is followed, through every call about it, whoever made it
    named = subjects(timeline)
    assert list(named) == [key]
    assert [timeline.hops[i].source for i in named[key]] == ["authsession", "authsession", "janitor", "authsession"]

    text = render_text(timeline)
    section = text[text.index("what the failing step's calls were about") :].splitlines()
    assert section[1] == f"  {key}: 4 call(s)"
    assert [line.split("  ")[-1] for line in section[2:6]] == [
        f"HSET {key} -> 5",
        "PEXPIREAT -> 1",
        f"DEL {key} -> 1",
        f"HGETALL {key} -> empty",
    ]
    assert section[5].startswith("  >> ")  # the read within the failing step
    assert not section[4].startswith("  >> ")
    assert "galaxy:other" not in "\n".join(section)
    # a failure whose step read nothing keyed lists nothing more
    assert "were about" not in render_text(Timeline.merge(hops[:1], failed_at=T0 + 0.2, trace_id=TRACE))


def test_a_reply_is_summed_up_enough_to_tell_an_empty_answer() -> None:
    assert [reply_summary(r) for r in (None, 5, b"OK", "x" * 50, [], {}, [b"a", b"b"], {b"f": b"v"})] == [
        "nil",
        "5",
        "'OK'",
        f"'{'x' * 40}'... (50 chars)",
        "empty",
        "empty",
        "2 items",
        "1 items",
    ]


def test_json_lines_and_times_are_read_as_go_writes_them() -> None:
    log = '{"time":"2026-12-01T13:26:05.930892013Z","msg":"a"}\nSIGQUIT: quit\n{"broken\n[1]\n'
    assert [r["msg"] for r in json_lines(log)] == ["a"]
    assert parse_time("2026-12-01T13:26:05.930892013Z") == pytest.approx(1796131565.930892)
    assert parse_time("2026-12-01T13:26:05Z") == pytest.approx(1796131565.0)
    assert parse_time("yesterday") is None


def test_the_page_is_self_contained_and_names_every_hop() -> None:
    timeline = Timeline.merge(login_hops(), failed_at=T0 + 0.2, trace_id=TRACE, title="t::x")
    page = render_html(timeline)
    assert not re.search(r"""(?:src|href)\s*=|url\(|@import|https?://(?!www\.w3\.org/2000/svg)""", page)
    for hop in timeline.hops:
        assert hop.operation in page
    assert page.count('class="hop error failing"') == 1
    assert "<script>" in page
    assert "<style>" in page


def test_sanitised_ids_are_directory_names_and_long_ones_stay_apart_and_readable() -> None:
    assert sanitise("gatewayauthsession/test_login.py::test_x[http]") == "gatewayauthsession_test_login.py_test_x_http"
    long_id = "gatewayauthsession/test_faults.py::test_a_fault_gives_bounded_errors_naming_the_dependency_and_loses_"
    faulty = long_id + "nothing[gateway->authsession slower-than-the-deadline]"
    assert sanitise(faulty) == (
        "gatewayauthsession_test_faults.py_test_a_fault_gives_bounded_errors_naming_the_dependency_and_loses_"
        f"nothing_gateway-_authsession_slower-than-the-deadline-{hashlib.sha256(faulty.encode()).hexdigest()[:12]}"
    ), "a long id is kept whole; a parameter with characters of its own (an arrow, a space) adds the id's hash"
    assert sanitise("t.py::test_path[POST-/v1/auth//logout]") != sanitise("t.py::test_path[POST-/v1/auth/logout/]")
    a, b = sanitise("t.py::test_" + "a" * 300 + "[http-one]"), sanitise("t.py::test_" + "a" * 300 + "[grpc-one]")
    assert a != b
    assert len(a) == len(b) == 200
    assert a.endswith("aaa_http-one")
    assert b.endswith("aaa_grpc-one"), "the parameters that tell variants apart are kept"
    assert "/" not in a


def test_a_bundle_holds_its_files_and_the_next_run_clears_only_bundles(tmp_path: Path) -> None:
    logs = tmp_path / "work"
    logs.mkdir()
    (logs / "svc.log").write_text('{"msg":"x"}\n')
    (logs / "svc.1.log").write_text(
        '{"msg":"before"}\nSIGQUIT: quit\nPC=0x1 m=0\n\ngoroutine 1 [running]:\nmain.main()\n'
    )
    root = tmp_path / "failures"
    evidence = Evidence(hops=login_hops(), trace_id=TRACE, files={"journals/mail.txt": "mail\n"})
    written = write_bundle(
        root / "t",
        nodeid="t.py::test_x",
        timeline=Timeline.merge(evidence.hops, trace_id=TRACE),
        evidence=evidence,
        log_dirs=[logs],
        seeds={"pytest-randomly seed": 123},
        rerun=["python", "-m", "pytest", "t.py::test_x"],
        rerun_cwd=tmp_path,
        failure="boom",
    )
    expected = {"timeline.html", "timeline.txt", "timeline.json", "failure.txt", "logs/svc.log", "logs/svc.1.log"}
    expected |= {"goroutines/svc.1.txt", "journals/mail.txt", "seed.txt", "rerun.sh", "bundle.json"}
    assert set(written) == expected
    assert (root / "t" / "goroutines" / "svc.1.txt").read_text().startswith("SIGQUIT: quit")
    assert "123" in (root / "t" / "seed.txt").read_text()
    assert json.loads((root / "t" / "bundle.json").read_text())["rerun"] == "python -m pytest t.py::test_x"
    assert (root / "t" / "rerun.sh").stat().st_mode & 0o100

    (root / "not-a-bundle").mkdir()
    clear_bundles(root)
    assert sorted(p.name for p in root.iterdir()) == ["not-a-bundle"]


@pytest.mark.parametrize(
    ("under", "left"),
    [
        pytest.param(None, [], id="all"),
        pytest.param(["s/t.py::test_x[http]"], ["s_t.py_test_x_grpc", "s_u.py_test_y", "t_v.py_test_z"], id="one-id"),
        pytest.param(["s/t.py::test_x"], ["s_u.py_test_y", "t_v.py_test_z"], id="its-variants"),
        pytest.param(["s/t.py", "t/v.py::test_z"], ["s_u.py_test_y"], id="a-file-and-an-id"),
        pytest.param(["s"], ["t_v.py_test_z"], id="a-folder"),
        pytest.param(
            ["s/t.py::test_xy"], ["s_t.py_test_x_grpc", "s_t.py_test_x_http", "s_u.py_test_y", "t_v.py_test_z"]
        ),
    ],
)
def test_a_run_clears_the_bundles_of_the_tests_it_names(
    tmp_path: Path, under: list[str] | None, left: list[str]
) -> None:
    for nodeid in ("s/t.py::test_x[http]", "s/t.py::test_x[grpc]", "s/u.py::test_y", "t/v.py::test_z"):
        evidence = Evidence()
        write_bundle(tmp_path / sanitise(nodeid), nodeid=nodeid, timeline=Timeline.merge([]), evidence=evidence)
    clear_bundles(tmp_path, under=under)
    assert sorted(p.name for p in tmp_path.iterdir()) == left


def test_goroutine_dumps_are_found_only_where_there_is_one() -> None:
    assert goroutine_dump('{"msg":"stopped"}\n') is None
    assert goroutine_dump("panic: boom\n\ngoroutine 1 [running]:\n") == "panic: boom\n\ngoroutine 1 [running]:\n"


def test_a_fake_server_records_its_commands_with_client_and_error() -> None:
    with FakeRedisServer() as server:
        client = server.client()
        client.set("galaxy:k", "v")
        with pytest.raises(Exception, match="unknown command"):
            client.execute_command("NOSUCH", "x")  # type: ignore[no-untyped-call]
        commands = server.commands()
        client.close()
    words = [c.words for c in commands]
    assert ("SET", "galaxy:k", "v") in words
    [bad] = [c for c in commands if c.words[0] == "NOSUCH"]
    assert bad.error is not None
    assert "unknown command" in bad.error
    assert all(re.fullmatch(r"127\.0\.0\.1:\d+", c.client) for c in commands)
    [set_] = [c for c in commands if c.words[0] == "SET"]
    assert (set_.reply, bad.reply) == ("'OK'", None)
    assert all(c.duration is not None and c.duration >= 0 for c in commands)
    assert server.commands() == []  # stopped: nothing left to ask


def test_a_fake_server_records_what_each_command_was_answered() -> None:
    with FakeRedisServer() as server:
        client = server.client()
        client.hset("galaxy:h", mapping={"a": "1", "b": "2"})
        client.hgetall("galaxy:h")
        client.hgetall("galaxy:gone")
        client.get("galaxy:gone")
        with client.pipeline(transaction=True) as pipe:
            pipe.hset("galaxy:t", "f", "v")
            pipe.pexpireat("galaxy:t", 4_102_444_800_000)
            pipe.execute()
        replies = [(c.words[0], c.words[1] if len(c.words) > 1 else "", c.reply) for c in server.commands()]
        client.close()
    assert replies[-8:] == [
        ("HSET", "galaxy:h", "2"),
        ("HGETALL", "galaxy:h", "4 items"),
        ("HGETALL", "galaxy:gone", "empty"),
        ("GET", "galaxy:gone", "nil"),
        ("MULTI", "", "'OK'"),
        ("HSET", "galaxy:t", "queued, then 1"),
        ("PEXPIREAT", "galaxy:t", "queued, then 1"),
        ("EXEC", "", "2 items"),
    ]


def test_a_queued_write_says_whether_its_transaction_applied_it() -> None:
    with FakeRedisServer() as server:
        client, other = server.client(), server.client()
        with client.pipeline(transaction=True) as pipe:
            pipe.watch("galaxy:w")  # type: ignore[no-untyped-call]
            pipe.multi()
            pipe.set("galaxy:w", "mine")
            other.set("galaxy:w", "theirs")  # the watched key changes before EXEC
            with pytest.raises(redis.WatchError):
                pipe.execute()
        with client.pipeline(transaction=True) as pipe:
            pipe.set("galaxy:d", "x")
            pipe.incr("galaxy:d")  # not a number once the SET ran: an error within the answer
            with pytest.raises(redis.ResponseError):
                pipe.execute()
        said = {(c.words[0], c.words[1] if len(c.words) > 1 else ""): c.reply for c in server.commands()}
        client.close()
        other.close()
    assert said[("SET", "galaxy:w")] == "queued, then discarded: a watched key changed"
    assert said[("SET", "galaxy:d")] == "queued, then 'OK'"
    assert str(said[("INCRBY", "galaxy:d")]).startswith("queued, then ERR value is not an integer")


def test_the_record_is_a_ring_and_can_be_off() -> None:
    with FakeRedisServer(record=3) as ring, FakeRedisServer(record=0) as off:
        for server in (ring, off):
            client = server.client()
            for i in range(10):
                client.set(f"k{i}", i)
            client.close()
        assert [c.words[1] for c in ring.commands()] == ["k7", "k8", "k9"]
        assert off.commands() == []


def test_monitor_lines_are_read_as_redis_writes_them() -> None:
    cmd = parse_monitor_line('+1339518083.107412 [0 127.0.0.1:60866] "SET" "a\\"b" "1"')
    assert cmd is not None
    assert (cmd.at, cmd.client, cmd.words) == (1339518083.107412, "127.0.0.1:60866", ("SET", 'a"b', "1"))
    assert parse_monitor_line("+OK") is None


@pytest.mark.skipif(redis_server_binary() is None, reason="no redis-server on PATH")
def test_a_redis_server_of_our_own_records_through_monitor(tmp_path: Path) -> None:
    server = RedisServerProcess(tmp_path)
    try:
        client = server.client()
        client.set("galaxy:k", "v")
        client.close()
        for _ in range(100):
            if any(c.words[:2] == ("SET", "galaxy:k") for c in server.commands()):
                break
            time.sleep(0.02)
        assert any(c.words[:2] == ("SET", "galaxy:k") for c in server.commands()), server.commands()
    finally:
        server.stop()
