"""Pinned Go tools, built once through the Go module proxy and cached.

A tool is a ``module/path/cmd/x@vX.Y.Z`` package; it is built with
``go install`` into ``.cache/tools/<name>-<version>-<go version>/`` under a
file lock, so concurrent callers (xdist workers, parallel sessions) build it
once. Nothing is taken from the PATH: what runs is exactly the pinned version.

    python -m harness.builds.tools            # build every pinned tool
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from harness.builds.cache import make_once
from harness.paths import CACHE_DIR

__all__ = ["TOOLS", "GoTool", "ToolBuildError", "go_tool"]


@dataclass(frozen=True)
class GoTool:
    name: str  # the binary's name in the cache
    package: str  # Go package of its main, without version
    version: str  # pinned module version

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"


TOOLS = {
    "toxiproxy-server": GoTool("toxiproxy-server", "github.com/Shopify/toxiproxy/v2/cmd/server", "v2.12.0"),
    "buf": GoTool("buf", "github.com/bufbuild/buf/cmd/buf", "v1.75.0"),
    "oasdiff": GoTool("oasdiff", "github.com/oasdiff/oasdiff", "v1.37.0"),
    # The gRPC client the lines `nox -s up` prints run, as printed.
    "grpcurl": GoTool("grpcurl", "github.com/fullstorydev/grpcurl/cmd/grpcurl", "v1.9.4"),
}
"""The Go tools the harness runs, pinned."""


class ToolBuildError(RuntimeError):
    """``go install`` of a pinned tool failed; the message carries its output."""


@cache
def _go_version() -> str:
    return subprocess.run(["go", "env", "GOVERSION"], check=True, capture_output=True, text=True).stdout.strip()


def go_tool(name: str, *, cache_dir: Path | None = None) -> Path:
    """The path of pinned tool ``name`` (a key of :data:`TOOLS`), built on first use."""
    try:
        tool = TOOLS[name]
    except KeyError:
        raise ValueError(f"unknown tool {name!r}; known: {', '.join(TOOLS)}") from None
    root = cache_dir or CACHE_DIR / "tools"
    out_dir = root / f"{tool.name}-{tool.version}-{_go_version()}"

    def install(tmp: Path) -> None:
        # GOWORK=off: a tool at a pinned version never builds against the services' workspace.
        env = {**os.environ, "GOBIN": str(tmp), "GOWORK": "off", "GOFLAGS": ""}
        cmd = ["go", "install", "-trimpath", tool.spec]
        root.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ToolBuildError(f"{' '.join(cmd)} failed with exit code {proc.returncode}:\n{proc.stderr}")
        (tmp / Path(tool.package).name).rename(tmp / tool.name)

    make_once(out_dir, root / f".{tool.name}.lock", install)
    return out_dir / tool.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.builds.tools", description="Build the pinned Go tools.")
    parser.add_argument("tools", nargs="*", default=list(TOOLS), help="tools to build (default: all)")
    args = parser.parse_args(argv)
    for name in args.tools:
        started = time.perf_counter()
        try:
            path = go_tool(name)
        except (ToolBuildError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"{name:18} {TOOLS[name].version:8} {time.perf_counter() - started:6.2f}s  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
