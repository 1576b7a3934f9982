"""The ``build`` section: ``harness.builds.binary.build`` into a fresh cache directory (cold), then again (cached)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchlib.common import SERVICES, Options, say
from benchlib.report import EN_DASH, Section, Stats, ms, secs, span, table


def bench_build(opts: Options) -> Section:
    from harness.builds.binary import build

    section = Section("Build (`harness.builds.binary.build`)")
    cold: dict[str, list[float]] = {s: [] for s in SERVICES}
    cached: dict[str, list[float]] = {s: [] for s in SERVICES}
    anomalies: list[str] = []
    for repeat in range(opts.repeats):
        for service in SERVICES:
            with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
                say(f"build {service}: cold into a fresh cache dir (repeat {repeat + 1}/{opts.repeats})")
                started = time.perf_counter()
                first = build(service, cache_dir=Path(tmp))
                cold[service].append(time.perf_counter() - started)
                started = time.perf_counter()
                second = build(service, cache_dir=Path(tmp))
                cached[service].append(time.perf_counter() - started)
                if first.cached or not second.cached:
                    anomalies.append(
                        f"{service} repeat {repeat + 1}: first call cached={first.cached}, "
                        f"second cached={second.cached}"
                    )
                say(f"  {service}: cold {cold[service][-1]:.2f}s, cached {cached[service][-1] * 1000:.1f}ms")
    rows = []
    for service in SERVICES:
        c, h = Stats.of(cold[service]), Stats.of(cached[service])
        rows.append([f"`{service}`", secs(c.p50), span(c, secs), ms(h.p50), span(h, ms), str(c.n)])
    section.lines += [
        "Cold: `build(service, cache_dir=<fresh temporary dir>)`: the harness cache misses and `go build` "
        "runs. Go's own build cache (`GOCACHE`) is left as it is and already holds these sources' packages, "
        "so `go build` mostly links; a changed package adds its compile time, and a first-ever build "
        "(empty `GOCACHE`) compiles every dependency (not measured). Cached: the same call again "
        "(hashes the workspace, finds the binary). No goal; for information.",
        "",
        *table(
            ["service", "cold p50", f"cold min {EN_DASH} max", "cached p50", f"cached min {EN_DASH} max", "runs"], rows
        ),
    ]
    if anomalies:
        section.lines += ["", "Unexpected cache states (a source changed during the run?): " + "; ".join(anomalies)]
    return section
