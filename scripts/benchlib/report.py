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


def _blocks(text: str) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """A report's header lines and its ``## `` sections (title, lines), in order."""
    head: list[str] = []
    blocks: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("## "):
            blocks.append((line[3:], []))
        elif blocks:
            blocks[-1][1].append(line)
        else:
            head.append(line)
    return head, blocks


def _header_value(head: Sequence[str], name: str) -> str:
    for line in head:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] == name:
            return cells[1]
    return "?"


def keep_earlier(
    earlier: str, head: list[str], goal_rows: list[list[str]], blocks: list[tuple[str, list[str]]]
) -> tuple[list[str], list[list[str]], list[tuple[str, list[str]]]]:
    """This run's header, goals and sections merged into the report ``earlier``: each
    section of this run replaces the one of the same title (or comes last), the
    others stay as they were; the goals of this run replace theirs, the rest stay;
    the header says which sections were kept from which run."""
    old_head, old_blocks = _blocks(earlier)
    old = {title: [*"\n".join(lines).strip("\n").splitlines(), ""] for title, lines in old_blocks}
    goals: list[list[str]] = []
    for line in old.pop("Goals", []):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("goal", "---") and not set(cells[0]) <= set("- "):
            goals.append(cells)
    old.pop("How to reproduce", None)
    new_goals = {row[0] for row in goal_rows}
    mine = dict(blocks)
    merged = [(title, mine.pop(title, lines)) for title, lines in old.items()] + list(mine.items())
    when = f"{_header_value(old_head, 'date')} (commit {_header_value(old_head, 'git commit')})"
    measured = _kept_from(old_head)  # what the earlier report itself kept, from the run that measured it
    by_run: dict[str, list[str]] = {}
    for title in old:
        if title not in dict(blocks):
            by_run.setdefault(measured.get(title, when), []).append(title)
    head = [line.replace("measured in the run described here.", _KEPT) for line in head]
    for run, kept in by_run.items():
        head += [f"{_KEPT_FROM}{run}, with its goals, as it measured them: {'; '.join(kept)}.", ""]
    return head, goal_rows + [g for g in goals if g[0] not in new_goals], merged


_KEPT_FROM = "Kept from the run of "


def _kept_from(head: Sequence[str]) -> dict[str, str]:
    """The sections a report's header says it kept, each with the run (date and commit) that measured it."""
    found: dict[str, str] = {}
    for line in head:
        if line.startswith(_KEPT_FROM) and ", with its goals, as it measured them: " in line:
            run, titles = line[len(_KEPT_FROM) :].split(", with its goals, as it measured them: ", 1)
            found.update(dict.fromkeys(titles.removesuffix(".").split("; "), run))
    return found


_KEPT = "measured in the run described here, but for the sections kept from an earlier run, named below the table."
