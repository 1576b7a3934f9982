"""The harness's build cache: a directory made once however many processes
ask for it at the same time, and old entries pruned.

Used for the pinned Go tools (:mod:`harness.builds.tools`), the service binaries
(:mod:`harness.builds.binary`) and the trees of earlier commits (:mod:`harness.builds.refs`)."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

__all__ = ["make_once", "prune"]


def make_once(path: Path, lock: Path, make: Callable[[Path], None]) -> bool:
    """Make directory ``path`` unless it exists. Under an exclusive lock on
    the file ``lock``, ``make`` fills a temporary sibling that is then
    renamed into place, so ``path`` is either absent or complete, and of
    concurrent callers exactly one makes it. True when this call made it."""
    if path.exists():
        return False
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        if path.exists():  # made by another process while this one waited
            return False
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            make(tmp)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.rename(path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return True


def prune(root: Path, prefix: str, keep: Path, retain: int) -> None:
    """Drop all but the ``retain`` newest directories of ``root`` whose name
    starts with ``prefix`` (``keep`` counts among them and always stays)."""
    entries = sorted(
        (p for p in root.glob(prefix + "*") if p.is_dir() and p != keep and ".tmp" not in p.name),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in entries[retain - 1 :]:
        shutil.rmtree(old, ignore_errors=True)
