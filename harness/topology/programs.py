"""The program of each declared service, built (or found) for a run: a Go command of
the workspace (:func:`harness.builds.binary.build`, at a git ref for skew), or a
Python script, at a ref the file as it was at that commit."""

from __future__ import annotations

from pathlib import Path

from harness.builds.binary import Binary, BuildMode, build
from harness.builds.refs import checkout_at, describe
from harness.paths import PROJECT_ROOT
from harness.topology.declaration import Script, Service

__all__ = ["binary_for"]


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
