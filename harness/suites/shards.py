"""Split a test run into N shards balanced by recorded durations, for runs
fanned out over several machines (``--shard K/N``) or under Bazel's test
sharding protocol (``TEST_TOTAL_SHARDS``, ``TEST_SHARD_INDEX``,
``TEST_SHARD_STATUS_FILE``, ``XML_OUTPUT_FILE``).

A test's shard depends only on its node id and the recorded durations, never
on the collection order: shards run as separate jobs, each with its own
random order (pytest-randomly), and must still add up to the whole suite,
each test exactly once. The assignment is the longest-first greedy one: the
tests by recorded duration, longest first (node id breaking ties), each into
the shard with the least work so far. A test with no recorded duration
counts as the median of those recorded.

Durations are recorded with ``--record-durations``: the run writes each
test's setup + call + teardown time, by node id, to the durations file
(``--durations-file``, default each suite's ``<suite>/durations.json``).
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BAZEL_ENV", "Plan", "bazel_shard", "load_durations", "parse_shard", "plan"]

BAZEL_ENV = ("TEST_TOTAL_SHARDS", "TEST_SHARD_INDEX", "TEST_SHARD_STATUS_FILE", "XML_OUTPUT_FILE")
DEFAULT_DURATION = 0.1  # seconds, for a test when no duration is recorded at all


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` (1 ≤ K ≤ N) as ``(K, N)``."""
    k, sep, n = text.partition("/")
    try:
        shard, total = int(k), int(n)
    except ValueError:
        shard = total = 0
    if not sep or not 1 <= shard <= total:
        raise ValueError(f"--shard {text!r}: want K/N with 1 <= K <= N, for example 2/4")
    return shard, total


def bazel_shard(env: Mapping[str, str] = os.environ) -> tuple[int, int] | None:
    """The shard Bazel asks for (``TEST_SHARD_INDEX`` counts from 0), or None."""
    total = env.get("TEST_TOTAL_SHARDS")
    if not total:
        return None
    index = env.get("TEST_SHARD_INDEX", "")
    try:
        shard, count = int(index) + 1, int(total)
    except ValueError:
        raise ValueError(f"TEST_TOTAL_SHARDS={total!r} TEST_SHARD_INDEX={index!r}: want integers") from None
    if not 1 <= shard <= count:
        raise ValueError(f"TEST_SHARD_INDEX={index} is outside TEST_TOTAL_SHARDS={total}")
    return shard, count


def load_durations(path: Path | None) -> dict[str, float]:
    if path is None or not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {str(k): float(v) for k, v in data.items()}


@dataclass(frozen=True)
class Plan:
    shards: list[list[str]]  # node ids, per shard
    loads: list[float]  # estimated seconds, per shard

    @property
    def imbalance(self) -> float:
        """The busiest shard's estimate over the mean (1.0: perfectly even)."""
        mean = sum(self.loads) / len(self.loads)
        return max(self.loads) / mean if mean else 1.0


def plan(node_ids: Sequence[str], total: int, durations: Mapping[str, float]) -> Plan:
    """Each test into one of ``total`` shards (see the module's docstring)."""
    known = [durations[n] for n in node_ids if n in durations]
    fallback = statistics.median(known) if known else DEFAULT_DURATION
    weighted = sorted(((durations.get(n, fallback), n) for n in set(node_ids)), key=lambda t: (-t[0], t[1]))
    shards: list[list[str]] = [[] for _ in range(total)]
    loads = [0.0] * total
    for seconds, node in weighted:
        least = min(range(total), key=lambda i: (loads[i], i))
        shards[least].append(node)
        loads[least] += seconds
    return Plan(shards, loads)
