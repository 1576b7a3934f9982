"""A failing test's bundle: one directory, ``<root>/<sanitised test id>/``,
with everything needed to see what happened and to run it again.

    timeline.html   the sequence diagram of the hops (self-contained: no network)
    timeline.txt    the same timeline as the terminal shows it, uncut
    timeline.json   the hops, as data
    logs/           every process log of the test, each incarnation (``name.log``, ``name.N.log``)
    goroutines/     the goroutine dumps found in those logs (a stop that hung, a readiness timeout)
    ...             what the suite adds (stub journals, Redis commands, a keyspace snapshot, binaries)
    seed.txt        the random seeds of the run (pytest-randomly, Hypothesis)
    rerun.sh        runs exactly this test again, with the same seeds
    bundle.json     the index: test id, files, the rerun command

:class:`Evidence` is what a suite hands over; :func:`write_bundle` writes it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shlex
import shutil
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.forensics.timeline import Hop, Timeline, render_text
from harness.forensics.timeline_html import render_html

__all__ = [
    "Evidence",
    "bundle_dir",
    "clear_bundles",
    "file_sha256",
    "goroutine_dump",
    "sanitise",
    "write_bundle",
]

MARKER = "bundle.json"
_NAME_MAX = 200  # well under a file name's 255 bytes; no test id of the suites comes near it
_DIGEST = 12


@dataclass
class Evidence:
    """What a test's parts recorded: the hops, the lines folded away (by kind),
    the test's own trace id, and files for the bundle (name -> content)."""

    hops: list[Hop] = field(default_factory=list)
    chatter: Counter[str] = field(default_factory=Counter)
    trace_id: str | None = None
    files: dict[str, str | bytes] = field(default_factory=dict)

    def add(self, other: Evidence) -> None:
        self.hops += other.hops
        self.chatter.update(other.chatter)
        self.trace_id = self.trace_id or other.trace_id
        self.files.update(other.files)


def sanitise(nodeid: str) -> str:
    """A directory name for a test id, one of its own: letters, digits, ``.``, ``_``,
    ``-`` and ``=`` kept, any run of other characters as ``_`` (``..._test_y_http``,
    ``..._test_y_grpc``). A parameter that holds characters of its own (a path, an
    arrow) could then read like another's, so its name ends in a hash of the whole id.
    One longer than 200 characters keeps its start and its end, where a
    parametrized test's variants differ, around a hash of the whole id."""
    digest = hashlib.sha256(nodeid.encode()).hexdigest()[:_DIGEST]
    name = re.sub(r"[^A-Za-z0-9._=-]+", "_", nodeid).strip("._") or "test"
    _, bracket, params = nodeid.partition("[")
    if bracket and re.search(r"[^A-Za-z0-9._=-]", params.removesuffix("]")):
        name = f"{name}-{digest}"
    if len(name) > _NAME_MAX:
        tail = (_NAME_MAX - _DIGEST - 2) // 3
        name = f"{name[: _NAME_MAX - _DIGEST - 2 - tail]}_{digest}_{name[-tail:]}"
    return name


def bundle_dir(root: Path, nodeid: str) -> Path:
    return root / sanitise(nodeid)


def clear_bundles(root: Path, under: Sequence[str] | None = None) -> None:
    """Remove the bundles of an earlier run under ``root`` (the directories that
    hold a bundle index): every one, or, given ``under`` (test ids, files and
    folders, as a run's arguments name them, relative to the rootdir), those of
    the tests these hold. Anything else there is left alone."""
    if not root.is_dir():
        return
    for child in root.iterdir():
        if not (child.is_dir() and (index := child / MARKER).exists()):
            continue
        if under is not None:
            try:
                nodeid = json.loads(index.read_text())["nodeid"]
            except (OSError, ValueError, KeyError, TypeError):
                continue  # not a bundle this harness wrote: left alone
            if not any(_holds(arg, nodeid) for arg in under):
                continue
        shutil.rmtree(child, ignore_errors=True)


def _holds(arg: str, nodeid: str) -> bool:
    """Whether test id, file or folder ``arg`` holds test ``nodeid`` (both relative to the rootdir)."""
    return nodeid == arg or any(nodeid.startswith(arg + sep) for sep in ("::", "[", "/"))


def goroutine_dump(log: str) -> str | None:
    """The Go goroutine dump in a process log (what SIGQUIT, or a panic with
    GOTRACEBACK=all, writes), from its first line to the end; None when none."""
    m = re.search(r"^(?:SIGQUIT: quit|panic: |fatal error: )", log, re.MULTILINE)
    if m is None or "goroutine " not in log[m.start() :]:
        return None
    return log[m.start() :]


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, computed once per version of it (its size and mtime) in a process."""
    st = path.stat()
    return _sha256(path, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _sha256(path: Path, _size: int, _mtime_ns: int) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _logs(log_dirs: Iterable[Path]) -> dict[str, Path]:
    """Every ``*.log`` directly in ``log_dirs``, by a name unique in the bundle."""
    found: dict[str, Path] = {}
    for directory in log_dirs:
        for path in sorted(directory.glob("*.log")):
            name = path.name if path.name not in found else f"{directory.name}-{path.name}"
            found[name] = path
    return found


def write_bundle(
    directory: Path,
    *,
    nodeid: str,
    timeline: Timeline,
    evidence: Evidence,
    log_dirs: Iterable[Path] = (),
    seeds: Mapping[str, Any] | None = None,
    rerun: list[str] | None = None,
    rerun_cwd: Path | None = None,
    failure: str = "",
) -> list[str]:
    """Write the bundle of test ``nodeid`` into ``directory`` (emptied first);
    returns the files written, relative to it."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    written: list[str] = []

    def put(name: str, content: str | bytes) -> None:
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        written.append(name)

    put("timeline.html", render_html(timeline))
    put("timeline.txt", render_text(timeline, limit=len(timeline.hops) or 1) + "\n")
    put("timeline.json", json.dumps(timeline.to_json(), indent=1) + "\n")
    if failure:
        put("failure.txt", failure + "\n")
    for name, path in _logs(log_dirs).items():
        text = path.read_text(errors="replace")
        put(f"logs/{name}", text)
        if (dump := goroutine_dump(text)) is not None:
            put(f"goroutines/{name.removesuffix('.log')}.txt", dump)
    for name, content in sorted(evidence.files.items()):
        put(name, content)
    put("seed.txt", "".join(f"{k}: {v}\n" for k, v in (seeds or {}).items()) or "no seed recorded\n")
    if rerun:
        command = shlex.join(rerun)
        where = f"cd {shlex.quote(str(rerun_cwd))}\n" if rerun_cwd is not None else ""
        put(
            "rerun.sh",
            f"#!/bin/sh\n# Runs {nodeid} again, alone, with the seeds of the run that failed.\n"
            f'{where}exec {command} "$@"\n',
        )
        os.chmod(directory / "rerun.sh", 0o755)  # noqa: S103 - a script for the reader to run
    index = {"nodeid": nodeid, "rerun": shlex.join(rerun) if rerun else None, "files": sorted([*written, MARKER])}
    put(MARKER, json.dumps(index, indent=1) + "\n")
    return sorted(written)
