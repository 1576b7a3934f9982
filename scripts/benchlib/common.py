"""What every part of the bench shares: where the project is, which services it builds,
progress on the terminal, and the options of the run."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SERVICES = ("authsession", "gateway")

_started = time.perf_counter()


def elapsed() -> float:
    """Seconds since the bench started."""
    return time.perf_counter() - _started


def say(message: str) -> None:
    """Progress on the terminal."""
    print(f"bench [{elapsed():7.1f}s] {message}", flush=True)


@dataclass
class Options:
    """The command line's sizes and choices (``scripts/bench.py``'s ``parse_args``)."""

    iterations: int
    repeats: int
    warmup: int
    redis_ops: int
    only: tuple[str, ...]
    quick: bool
    nox_k: str
    nox_python: str | None
    output: Path

    def nox_command(self) -> list[str] | None:
        if self.nox_python:
            return [self.nox_python, "-m", "nox"]
        found = shutil.which("nox")
        return [found] if found else None
