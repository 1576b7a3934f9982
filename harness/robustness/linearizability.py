"""Per-session linearizability of a history (:mod:`harness.robustness.history`)
against the session model of ``contracts/tokens.md``, judged by ``histcheck``:
a small Go tool of this repository (``harness/robustness/histcheck``, built and
pinned by :mod:`harness.builds.tools`) around porcupine, which reads the JSON
history, partitions it by login challenge, checks each partition, shrinks a
failing one to the fewest operations that still break the model and draws
porcupine's visualization of it. What the model says, and what it cannot
judge, is in ``histcheck/README.md``."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.builds.tools import go_tool

__all__ = ["CheckerError", "LinearizabilityReport", "PartitionVerdict", "check_linearizability"]


class CheckerError(RuntimeError):
    """histcheck could not judge the history (a bad history, a crash); carries its output."""


@dataclass(frozen=True)
class PartitionVerdict:
    """One login challenge and its session: ``ok``, ``illegal`` or ``unknown`` (the check timed out).
    A failing one names its ``minimal`` operations (history ids) and tells them as a ``story``."""

    key: str
    session_id: str
    user_id: str
    result: str
    operations: tuple[int, ...]
    minimal: tuple[int, ...] = ()
    story: tuple[str, ...] = ()
    visualization: Path | None = None
    full_visualization: Path | None = None

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> PartitionVerdict:
        return cls(
            key=doc["key"],
            session_id=doc.get("session_id", ""),
            user_id=doc.get("user_id", ""),
            result=doc["result"],
            operations=tuple(doc.get("operations") or ()),
            minimal=tuple(doc.get("minimal") or ()),
            story=tuple(doc.get("story") or ()),
            visualization=Path(doc["visualization"]) if doc.get("visualization") else None,
            full_visualization=Path(doc["full_visualization"]) if doc.get("full_visualization") else None,
        )


@dataclass(frozen=True)
class LinearizabilityReport:
    """The verdict on a whole history: ``ok`` when every partition is."""

    result: str
    operations: int
    partitions: tuple[PartitionVerdict, ...]
    unattributed: tuple[int, ...]  # operations naming no token or session any answer handed out
    seconds: float

    @property
    def failing(self) -> list[PartitionVerdict]:
        return [p for p in self.partitions if p.result == "illegal"]


def check_linearizability(
    history: Path, *, html_dir: Path | None = None, timeout: float = 60.0, shrink: bool = True
) -> LinearizabilityReport:
    """Judge the history file ``history``; porcupine's pages of failing partitions go to ``html_dir``.
    ``timeout`` bounds each partition's check (past it, that partition is ``unknown``)."""
    command = [str(go_tool("histcheck")), f"-timeout={timeout}s", f"-shrink={str(shrink).lower()}"]
    if html_dir is not None:
        command.append(f"-html={html_dir}")
    proc = subprocess.run([*command, str(history)], capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 1, 3):
        raise CheckerError(f"{' '.join(command)} {history}: exit code {proc.returncode}\n{proc.stderr.strip()}")
    doc = json.loads(proc.stdout)
    return LinearizabilityReport(
        result=doc["result"],
        operations=doc["operations"],
        partitions=tuple(PartitionVerdict.from_json(p) for p in doc["partitions"]),
        unattributed=tuple(doc.get("unattributed") or ()),
        seconds=float(doc["check_seconds"]),
    )
