"""The robustness runner (harness/robustness/runner.py) and its nemesis: a plan is
a function of its seed, every fault kind applies to a real stack and heals, a
short run on a real stack checks clean and replays its faults from its seed,
and a planted bug (a client wrapper that answers a stale token) is caught."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.gatewayv1 import Login
from gatewayauthsession import robustness as workload
from gatewayauthsession.topology import TOPOLOGY
from harness.builds.binary import build
from harness.faults.toxiproxy import ToxiproxyServer
from harness.redis.backends import RedisServerProcess, redis_server_binary
from harness.robustness.history import read_history
from harness.robustness.nemesis import (
    LINK_KINDS,
    PROCESS_KINDS,
    REDIS_ERROR_KINDS,
    REDIS_KINDS,
    SCHEDULES,
    Fault,
    Nemesis,
    Targets,
    heal_everything,
    plan,
)
from harness.robustness.runner import EXIT_FAILED, EXIT_OK, Options, run
from harness.topology.stack import Stack, start_stack

TARGETS = Targets(
    links=("a->b", "b->c", "test->a/http"),
    services=("a", "b"),
    redis="owned",
)


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
def test_a_plan_is_a_function_of_its_seed(schedule: str) -> None:
    first = plan(7, schedule, TARGETS, 20.0)
    assert first == plan(7, schedule, TARGETS, 20.0), "the same seed gives the same plan"
    if schedule == "none":
        assert first == []
        return
    assert first, f"{schedule} planned nothing in 20 s"
    assert first != plan(8, schedule, TARGETS, 20.0), "another seed gives another plan"
    assert all(f.at > 0 and f.at + f.hold < 20.0 for f in first), "every fault begins and heals within the run"
    for stream in {f.stream for f in first}:
        steps = [f for f in first if f.stream == stream]
        assert all(a.at + a.hold <= b.at for a, b in itertools.pairwise(steps)), "one at a time per stream"


def test_the_random_schedule_breaks_every_edge_and_overlaps_its_streams() -> None:
    faults = plan(3, "random", TARGETS, 30.0)
    assert {f.target for f in faults if f.kind in LINK_KINDS} == set(TARGETS.links), "a deck deals every edge"
    assert {f.stream for f in faults} == {0, 1}, "the network and the processes are broken side by side"
    kinds = {f.kind for f in plan(3, "random", TARGETS, 600.0)}
    assert kinds == set(TARGETS.kinds()), "a long enough run draws every kind the targets take"
    assert not {f.kind for f in plan(3, "random", Targets(("a->b",), ("a",), "fake"), 600.0)} & set(REDIS_ERROR_KINDS)


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[ToxiproxyServer]:
    with ToxiproxyServer(tmp_path / "toxiproxy") as server:
        yield server


def _stack(tmp_path: Path, proxy: ToxiproxyServer, redis: Any = None) -> Stack:
    binaries = {s.name: build(s.command) for s in TOPOLOGY.services}
    return start_stack(TOPOLOGY, tmp_path / "stack", binaries, redis=redis, proxy=proxy, links="all")


def _serves(stack: Stack, email: str) -> None:
    api = stack.client("http")  # type: ignore[attr-defined]  # the suite's Stack
    challenge = api.start_email_login(email)
    login: Login = api.confirm_email_login(challenge.challenge_id, stack.mail.last_code(email))  # type: ignore[attr-defined]
    assert api.me(login.access_token).session_id == login.session_id


def _every_kind(targets: Targets) -> list[Fault]:
    faults, at = [], 0.05
    for kind in targets.kinds():
        target = targets.for_kind(kind)[-1]
        params = {"ms": 50, "jitter": 0, "direction": "both"} if kind == "latency" else {}
        params |= {"direction": "both"} if kind in ("blackhole", "reset") else {}
        faults.append(Fault(round(at, 2), kind, target, 0.15, params))
        at += 0.4
    return faults


def _apply_every_kind(stack: Stack) -> Nemesis:
    targets = Targets.of(stack)
    faults = _every_kind(targets)
    nemesis = Nemesis(stack, faults).start()
    try:
        nemesis._idle[0].wait(timeout=60)
        assert nemesis.errors == []
        assert [e.fault.kind for e in nemesis.log] == [f.kind for f in faults]
        assert all(e.healed is not None for e in nemesis.log)
        assert heal_everything(stack) == [], "every fault was healed by the nemesis itself"
        _serves(stack, "after-the-nemesis@example.com")
    finally:
        stack.stop()
        nemesis.close()
    return nemesis


def test_every_fault_kind_applies_to_a_real_stack_and_heals(tmp_path: Path, proxy: ToxiproxyServer) -> None:
    stack = _stack(tmp_path, proxy)
    assert Targets.of(stack).redis == "fake"
    assert set(Targets.of(stack).links) == {e.name for e in TOPOLOGY.edges()}
    nemesis = _apply_every_kind(stack)
    assert set(nemesis.counts()) == {*LINK_KINDS, *PROCESS_KINDS, *REDIS_KINDS}
    drains = [n for e in nemesis.log if e.fault.kind == "drain" for n in e.notes]
    assert drains, "the drain's figures are kept"
    assert drains[0].startswith("drain: ")


def test_an_owned_redis_takes_its_error_modes_too(tmp_path: Path, proxy: ToxiproxyServer) -> None:
    if redis_server_binary() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no redis-server on PATH (.ci/install-packages installs it)")
        pytest.skip("no redis-server on PATH: the error modes need a redis-server of the test's own")
    assert TOPOLOGY.redis is not None
    redis = RedisServerProcess(tmp_path / "redis", key_prefix=TOPOLOGY.redis.prefix)
    stack = _stack(tmp_path, proxy, redis)
    assert Targets.of(stack).redis == "owned"
    nemesis = _apply_every_kind(stack)
    assert set(REDIS_ERROR_KINDS) <= set(nemesis.counts())


def _options(tmp_path: Path, seed: int, **overrides: Any) -> Options:
    given: dict[str, Any] = {
        "suite": "gatewayauthsession",
        "seed": seed,
        "clients": 3,
        "seconds": 6.0,
        "profiles": ("retries",),
        "floor": 0.0,
        "settle": 5.0,
        "out": tmp_path / "reports",
    }
    return Options(**(given | overrides))


def _summary(options: Options) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads((options.out / "gatewayauthsession" / "summary.json").read_text())
    return summary


def _by_stream(faults: list[dict[str, Any]]) -> dict[int, list[tuple[float, str, str, str]]]:
    """Faults (as the plan or the log has them) by stream, each stream's in planned order."""
    streams: dict[int, list[tuple[float, str, str, str]]] = {}
    for f in sorted(faults, key=lambda f: (f["stream"], f["at"])):
        streams.setdefault(f["stream"], []).append(
            (f["at"], f["kind"], f["target"], json.dumps(f["params"], sort_keys=True))
        )
    return streams


def _follows_its_plan(path: Path) -> None:
    """Each stream applied its plan's faults in order, every one but those the end of the traffic cut off."""
    history = read_history(path)
    planned, applied = _by_stream(history.meta["plan"]), _by_stream(history.evidence["faults"])
    assert applied, "the nemesis applied nothing"
    for stream, done in applied.items():
        assert done == planned[stream][: len(done)], f"stream {stream} strayed from its plan"


def test_a_short_run_checks_clean_and_its_seed_replays_its_faults(tmp_path: Path) -> None:
    first = _options(tmp_path / "first", 11)
    assert run(first) == EXIT_OK
    [round_] = _summary(first)["rounds"]
    assert round_["passed"], round_
    assert round_["total_operations"] > 30, "clients called the stack"
    assert {"start", "confirm"} <= set(round_["operations"]), "they logged in"
    assert {"refresh", "me", "list", "logout", "revoke"} & set(round_["operations"]), "and used their sessions"
    assert round_["faults"], "the nemesis broke something"
    history = Path(round_["history"])
    header = read_history(history)
    assert header.seed == 11
    assert header.params["retry_grace_ns"] == 30_000_000_000, "the services' own window, as documented"
    assert {"delivered", "live_sessions", "session_owners", "faults"} <= set(header.evidence)
    assert "--seed 11" in header.meta["replay"]

    again = _options(tmp_path / "again", 11)
    assert run(again) == EXIT_OK
    replayed = Path(_summary(again)["rounds"][0]["history"])
    assert read_history(replayed).meta["plan"] == header.meta["plan"], "the same faults at the same times"
    _follows_its_plan(history)
    _follows_its_plan(replayed)


class StaleRefreshes:
    """A client wrapper with a planted bug: a refresh is answered with the pair the
    session got before it (a stale token, served from a cache), its token the one presented. One client's
    wrappers, one per transport, share the cache: a session logged in over one and refreshed over the other
    is served stale too."""

    def __init__(self, api: Any, last: dict[str, Login]) -> None:
        self.api = api
        self.last = last
        self.stale = 0

    def confirm_email_login(self, challenge_id: str, code: str) -> Login:
        login: Login = self.api.confirm_email_login(challenge_id, code)
        self.last[login.session_id] = login
        return login

    def refresh_session(self, refresh_token: str) -> Login:
        login: Login = self.api.refresh_session(refresh_token)
        earlier = self.last.get(login.session_id)
        self.last[login.session_id] = login
        if earlier is not None and earlier.refresh_token == refresh_token:
            self.stale += 1
            return earlier
        return login

    def __getattr__(self, name: str) -> Any:
        return getattr(self.api, name)


def test_a_planted_stale_token_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wrappers: dict[int, StaleRefreshes] = {}
    caches: dict[int, dict[str, Login]] = {}
    made = workload.GatewayRound._client

    def client(self: workload.GatewayRound, client: int, transport: str) -> Any:
        api = made(self, client, transport)
        if transport == "authsession":
            return api
        with self.clients_lock:
            if id(api) not in wrappers:
                wrappers[id(api)] = StaleRefreshes(api, caches.setdefault(client, {}))
            return wrappers[id(api)]

    monkeypatch.setattr(workload.GatewayRound, "_client", client)
    options = _options(tmp_path, 5, schedule="none")
    verdict = run(options)
    assert sum(w.stale for w in wrappers.values()) > 0, "the wrapper served a stale token"
    assert verdict == EXIT_FAILED
    [round_] = _summary(options)["rounds"]
    assert round_["failing_sessions"], "the checker named the sessions whose refresh got a stale token"
    assert round_["page"], "with a page of their minimal stories"
    assert Path(round_["page"]).is_file()
