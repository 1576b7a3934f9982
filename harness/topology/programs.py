"""The program of each declared service, built (or found) for a run: a Go command of
the workspace (:func:`harness.builds.binary.build`, at a git ref for skew), or a
Python script, at a ref the file as it was at that commit; the command line that
runs it, and whether it serves on a socket bound for it."""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

from harness.builds.binary import Binary, BuildMode, build
from harness.builds.refs import checkout_at, describe
from harness.paths import PROJECT_ROOT
from harness.topology.declaration import Script, Service

__all__ = ["argv_of", "binary_for", "takes_inherited_listener"]


def binary_for(service: Service, mode: BuildMode = "plain", ref: str | None = None) -> Binary:
    """``service``'s program as a runnable :class:`Binary`, from the working tree or from commit ``ref``."""
    if not isinstance(service.program, Script):
        return build(service.command, mode, ref=ref)
    path = PROJECT_ROOT / service.program.path
    if ref is None:
        return Binary(service=service.command, mode=mode, path=path, cached=True)
    at_ref = checkout_at(ref, path.parent) / path.name
    if not at_ref.is_file():
        raise FileNotFoundError(f"{service.program.path} does not exist at {describe(PROJECT_ROOT, ref)}")
    return Binary(
        service=service.command, mode=mode, path=Path(at_ref), cached=True, ref=ref, source=describe(PROJECT_ROOT, ref)
    )


def argv_of(binary: Binary) -> list[str]:
    """The command line that runs ``binary``: a Go build itself, a Python script through this interpreter."""
    return [sys.executable, str(binary.path)] if binary.path.suffix == ".py" else [str(binary.path)]


@functools.cache
def takes_inherited_listener(binary: Binary, variable: str) -> bool:
    """Whether this build serves on an inherited listener (``VARIABLE=fd://N``, the
    platform's convention of ``galaxy/README.md``). Asked of the binary: given
    ``fd://0`` and nothing else, it stops on its configuration (exit code 2, one
    line per problem); a build that knows the form refuses descriptor 0 as a
    standard stream, an older one wants a host:port."""
    proc = subprocess.run(
        argv_of(binary),
        env={variable: "fd://0"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
        check=False,
    )
    return proc.returncode == 2 and f'{variable}="fd://0": want fd://N'.encode() in proc.stderr
