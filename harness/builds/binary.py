"""Build the services of a Go workspace, once per content.

A service is a command of the workspace: a directory ``<module>/cmd/<name>``
holding its main package, named by ``<name>`` (the harness knows no service
by name; a suite says which it runs, and a new one needs only that layout
and a ``use`` line in ``go.work``).

A build is keyed by a hash of everything that can change the binary: every
non-test file of the Go workspace, the Go version, the target platform and
the build mode. The result is cached under ``.cache/bin``; concurrent callers
(xdist workers, parallel nox sessions) take a file lock, so exactly one of
them builds and the others reuse its binary. A build of the workspace as it
was at a git commit (``ref=``) builds the tree of that commit, extracted once
into ``.cache/refs/`` (:mod:`harness.builds.refs`), under the same content key.

    python -m harness.builds.binary [--mode plain|cover|race] [--ref REF] [SERVICE ...]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from harness.builds.cache import make_once, prune
from harness.builds.refs import RefError, checkout_at, describe, resolve
from harness.paths import CACHE_DIR, galaxy_root

__all__ = ["Binary", "BuildError", "BuildMode", "build", "commands", "go_version", "source_hash"]

BuildMode = Literal["plain", "cover", "race"]
MODES: tuple[BuildMode, ...] = ("plain", "cover", "race")

_MODE_FLAGS: dict[BuildMode, list[str]] = {
    "plain": [],
    "cover": ["-cover", "-covermode=atomic", "-coverpkg=galaxy/..."],
    "race": ["-race"],
}
_SKIP_DIRS = {".git", "testdata", "node_modules"}


class BuildError(RuntimeError):
    """``go build`` failed; the message carries its command and output."""


@dataclass(frozen=True)
class Binary:
    service: str
    mode: BuildMode
    path: Path
    cached: bool  # True when an earlier build was reused
    ref: str | None = None  # the commit it was built from; None for the working tree
    source: str = "the working tree"  # which sources, for the reader


def commands(root: Path) -> dict[str, str]:
    """Every command of the workspace: name -> Go package of its main,
    relative to the root (``./<module>/cmd/<name>``)."""
    found: dict[str, str] = {}
    for main in sorted(root.glob("*/cmd/*/*.go")):
        name, package = main.parent.name, f"./{main.parent.relative_to(root).as_posix()}"
        if found.setdefault(name, package) != package:
            raise BuildError(f"two commands named {name!r} in {root}: {found[name]} and {package}")
    return found


def _workspace_files(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if not name.endswith("_test.go") and not name.startswith("."):
                yield Path(dirpath) / name


@cache
def _go_env() -> tuple[str, str, str, str]:
    out = subprocess.run(
        ["go", "env", "GOVERSION", "GOOS", "GOARCH", "CGO_ENABLED"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return out[0], out[1], out[2], out[3]


def go_version() -> str:
    """The Go release that builds (``go env GOVERSION``; ``GOTOOLCHAIN`` picks another)."""
    return _go_env()[0]


def source_hash(root: Path, mode: BuildMode) -> str:
    """Hash of the workspace sources, toolchain, platform and mode."""
    h = hashlib.sha256()
    h.update(repr((_go_env(), mode, _MODE_FLAGS[mode], os.environ.get("GOFLAGS", ""))).encode())
    for path in _workspace_files(root):
        h.update(str(path.relative_to(root)).encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:20]


def _target(service: str, mode: BuildMode, root: Path, cache_dir: Path | None) -> Path:
    return (cache_dir or CACHE_DIR / "bin") / f"{service}-{mode}-{source_hash(root, mode)}" / service


def is_cached(service: str, mode: BuildMode = "plain", *, root: Path | None = None) -> bool:
    """Whether a build of the current sources already exists."""
    return _target(service, mode, root or galaxy_root(), None).exists()


def build(
    service: str,
    mode: BuildMode = "plain",
    *,
    root: Path | None = None,
    cache_dir: Path | None = None,
    ref: str | None = None,
    refs_dir: Path | None = None,
) -> Binary:
    """Return the binary of ``service`` for ``mode``, building it only if no
    build of the same sources exists yet; from the workspace as it is at
    commit ``ref`` when one is given."""
    if mode not in MODES:
        raise ValueError(f"unknown build mode {mode!r}; known: {', '.join(MODES)}")
    root = root or galaxy_root()
    sha = None
    source = "the working tree"
    if ref is not None:
        try:
            sha = resolve(root, ref)
            source = f"{ref} ({describe(root, sha)})"
            root = checkout_at(sha, root, cache_dir=refs_dir)
        except RefError as exc:
            raise BuildError(f"cannot build {service} at {ref!r}: {exc}") from None
    package = commands(root).get(service)
    if package is None:
        known = ", ".join(commands(root)) or "none"
        raise ValueError(f"no command {service!r} in {root} (no */cmd/{service}/ with Go files); commands: {known}")
    target = _target(service, mode, root, cache_dir)
    out_dir = target.parent

    def go_build(tmp: Path) -> None:
        cmd = ["go", "build", "-trimpath", *_MODE_FLAGS[mode], "-o", str(tmp / service), package]
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BuildError(
                f"{' '.join(cmd)} (in {root}, {source}) failed with exit code {proc.returncode}:\n{proc.stderr}"
            )

    made = make_once(out_dir, out_dir.parent / f".{service}-{mode}.lock", go_build)
    if made:
        prune(out_dir.parent, f"{service}-{mode}-", keep=out_dir, retain=3)
    return Binary(service, mode, target, cached=not made, ref=sha, source=source)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.builds.binary", description="Build the workspace's services."
    )
    parser.add_argument("services", nargs="*", help="commands to build (default: every */cmd/* of the workspace)")
    parser.add_argument("--mode", choices=MODES, default="plain")
    parser.add_argument("--ref", help="build the workspace as it is at this git commit")
    args = parser.parse_args(argv)
    try:
        services = args.services or list(commands(galaxy_root()))
        for service in services:
            started = time.perf_counter()
            binary = build(service, args.mode, ref=args.ref)
            state = "cached" if binary.cached else "built"
            print(f"{service:12} {state:6} {time.perf_counter() - started:6.2f}s  {binary.path}  ({binary.source})")
    except (BuildError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
