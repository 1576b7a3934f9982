"""The ``forensics`` section: what the failure forensics cost. A passing test pays only
for the Redis command record (the fakeredis host's ring buffer), measured as a
suite-like scenario with the record on and off; a failing test also pays for its
timeline (read as it fails) and its bundle (written after its teardown)."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from benchlib.common import Options, say
from benchlib.report import Section, Stats, ms, table
from benchlib.runs import service_binaries

if TYPE_CHECKING:  # imported at run time only once sys.path holds the project root
    from gatewayauthsession.stack import Stack
    from harness.builds.binary import Binary

LOGINS = 3


def _scenario(stack: Stack, index: int) -> None:
    """What a suite scenario does: logins over both transports, a refresh, the listing."""
    for n in range(LOGINS):
        api = stack.api("http" if n % 2 == 0 else "grpc")
        email = f"bench{index}-{n}@example.com"
        challenge = api.start_email_login(email)
        login = api.confirm_email_login(challenge.challenge_id, stack.mail.last_code(email))
        api.me(login.access_token)
        api.list_sessions(login.access_token)
        api.refresh_session(login.refresh_token)


@dataclass
class _Sample:
    scenario: float  # the scenario alone
    whole: float  # start_stack + scenario + stop, without the failure's own steps
    report: float | None = None  # the timeline of a failing test's report
    bundle: float | None = None  # its bundle: kept before the stop, written after
    commands: int = 0


def _iteration(binaries: dict[str, Binary], record: int, index: int, fail: bool) -> _Sample:
    """One stack and scenario; with ``fail``, also what a failure of it would cost."""
    from gatewayauthsession.stack import start_stack
    from harness.forensics.bundle import write_bundle
    from harness.forensics.timeline import Timeline, render_text
    from harness.redis.backends import FakeRedisServer
    from harness.topology.recorder import Recorder

    with tempfile.TemporaryDirectory(prefix="bench-forensics-") as tmp:
        started = time.perf_counter()
        stack = start_stack(Path(tmp), binaries, redis=FakeRedisServer(record=record))
        recorder = Recorder(stack)
        failure = 0.0
        try:
            t0 = time.perf_counter()
            _scenario(stack, index)
            sample = _Sample(time.perf_counter() - t0, 0.0)
            stack.check_stubs()
            if fail:
                t1 = time.perf_counter()
                evidence = recorder.evidence(for_bundle=False)
                render_text(Timeline.merge(evidence.hops, chatter=evidence.chatter, failed_at=time.time()))
                sample.report = time.perf_counter() - t1
                t2 = time.perf_counter()
                recorder.snapshot()
                failure = time.perf_counter() - t2
                sample.commands = len(stack.redis.commands())
        finally:
            stack.stop()
        sample.whole = time.perf_counter() - started - failure - (sample.report or 0.0)
        if fail:
            t3 = time.perf_counter()
            evidence = recorder.evidence()
            write_bundle(
                Path(tmp) / "bundle",
                nodeid=f"bench::scenario[{index}]",
                timeline=Timeline.merge(evidence.hops, chatter=evidence.chatter, trace_id=evidence.trace_id),
                evidence=evidence,
                log_dirs=[Path(tmp)],
                rerun=["true"],
            )
            sample.bundle = time.perf_counter() - t3 + failure
        return sample


def _per_command(record: int, count: int) -> float:
    """Seconds per command of ``count`` SET and GET pairs from redis-py to a fresh fakeredis server."""
    from harness.redis.backends import FakeRedisServer

    with FakeRedisServer(record=record) as server:
        client = server.client()
        client.ping()
        started = time.perf_counter()
        for n in range(count):
            client.set(f"galaxy:k{n}", "v")
            client.get(f"galaxy:k{n}")
        took = time.perf_counter() - started
        client.close()
    return took / (2 * count)


def bench_forensics(opts: Options) -> Section:
    from harness.redis.fakeredis_host import DEFAULT_RECORD

    section = Section("Failure forensics: the cost of recording, of a timeline and of a bundle")
    binaries = service_binaries()
    variants = {"record on": DEFAULT_RECORD, "record off": 0}
    samples: dict[str, list[_Sample]] = {name: [] for name in variants}
    per_command: dict[str, list[float]] = {name: [] for name in variants}
    total = opts.warmup + opts.iterations
    say(f"forensics: {total} stacks per variant ({', '.join(variants)}), interleaved, each first in turn")
    for i in range(total):
        order = list(variants.items()) if i % 2 == 0 else list(reversed(variants.items()))
        for name, record in order:
            sample = _iteration(binaries, record, i, fail=False)
            per = _per_command(record, opts.redis_ops)
            if i >= opts.warmup:
                samples[name].append(sample)
                per_command[name].append(per)
    say(f"forensics: {opts.iterations} more stacks that fail, for a timeline and a bundle each")
    failing = [_iteration(binaries, DEFAULT_RECORD, total + i, fail=True) for i in range(opts.iterations)]
    scenario = {name: [s.scenario for s in got] for name, got in samples.items()}
    whole = {name: [s.whole for s in got] for name, got in samples.items()}
    report = [s.report for s in failing if s.report is not None]
    bundle = [s.bundle for s in failing if s.bundle is not None]
    commands = [float(s.commands) for s in failing]
    rows = []
    for name in variants:
        s, w, c = Stats.of(scenario[name]), Stats.of(whole[name]), Stats.of(per_command[name])
        rows.append([name, ms(s.p50), ms(s.p95), ms(w.p50), ms(w.p95), f"{c.p50 * 1e6:.0f} µs"])
    on, off = Stats.of(scenario["record on"]).p50, Stats.of(scenario["record off"]).p50
    c_on, c_off = Stats.of(per_command["record on"]).p50, Stats.of(per_command["record off"]).p50
    say(f"  scenario p50: record on {on * 1000:.1f}ms, off {off * 1000:.1f}ms")
    r, b = Stats.of(report), Stats.of(bundle)
    section.lines += [
        f"A fresh `start_stack` per iteration and variant ({opts.iterations} after {opts.warmup} warm-up; the "
        "variants interleaved, each first in every other iteration), then a suite-like scenario: "
        f"{LOGINS} logins over HTTP and gRPC in turn, each followed by me, the listing and a refresh "
        f"(about {int(Stats.of(commands).p50)} Redis commands). The fakeredis servers record every command in a "
        f"ring buffer of {DEFAULT_RECORD} (`FakeRedisServer(record=...)`); a passing test pays for nothing else. "
        f"Per command: {opts.redis_ops} SET + GET pairs from redis-py to a fresh server of each variant, "
        "beside each stack.",
        "",
        *table(
            ["variant", "scenario p50", "scenario p95", "stack + scenario + stop p50", "p95", "per command p50"],
            rows,
        ),
        "",
        f"Record on against off: scenario p50 {(on - off) * 1000:+.2f} ms ({(on / off - 1) * 100:+.1f} %), "
        f"per command {(c_on - c_off) * 1e6:+.1f} µs.",
        "",
        f"What a failing test pays on top ({opts.iterations} more stacks, each failing after the scenario):",
        "",
        *table(
            ["step", "p50", "p95"],
            [
                ["timeline for the report (logs, journals, Redis commands read and merged)", ms(r.p50), ms(r.p95)],
                [
                    "bundle: Redis record and keyspace kept before the stop, then written after it "
                    "(timeline.html, logs, journals, binaries' hashes)",
                    ms(b.p50),
                    ms(b.p95),
                ],
            ],
        ),
    ]
    return section
