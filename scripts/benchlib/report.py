"""What a section reports: samples and their statistics, the Markdown formatting of figures and
tables, and the section itself with its goals."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Self

TIMES, EN_DASH, MINUS = "\u00d7", "\u2013", "\u2212"  # for the Markdown: times sign, en dash, minus sign


@dataclass(frozen=True)
class Stats:
    """Samples in seconds; p95 is the nearest-rank percentile."""

    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> Self:
        if not values:
            raise ValueError("no samples")
        return cls(tuple(values))

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def p50(self) -> float:
        return statistics.median(self.values)

    @property
    def p95(self) -> float:
        ordered = sorted(self.values)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def max(self) -> float:
        return max(self.values)


def ms(seconds: float) -> str:
    value = seconds * 1000
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"


def secs(seconds: float) -> str:
    return f"{seconds:.2f} s"


def span(stats: Stats, fmt: Callable[[float], str]) -> str:
    return f"{fmt(stats.min)} {EN_DASH} {fmt(stats.max)}"


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}{TIMES}" if denominator > 0 else "n/a"


def verdict(met: bool) -> str:
    return "**met**" if met else "**not met**"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


@dataclass
class Goal:
    goal: str
    measured: str
    met: bool | None  # None: not judged (not measured, or measured with failing runs)


@dataclass
class Section:
    title: str
    lines: list[str] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    failed: bool = False
