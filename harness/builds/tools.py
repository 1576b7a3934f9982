"""Pinned Go tools, built once through the Go module proxy and cached.

A tool is a ``module/path/cmd/x@vX.Y.Z`` package; it is built with
``go install`` into ``.cache/tools/<name>-<version>-<go version>/`` under a
file lock, so concurrent callers (xdist workers, parallel sessions) build it
once. Nothing is taken from the PATH: what runs is exactly the pinned version.
A tool of this repository's own is a Go module in it (``module``, its own
``go.mod`` and ``go.sum`` pinning what it needs, outside the services'
workspace), built with ``go build`` under the same lock, its version the
hash of its sources.

    python -m harness.builds.tools            # build every pinned tool
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from harness.builds.cache import make_once, prune
from harness.paths import CACHE_DIR, PROJECT_ROOT

__all__ = ["TOOLS", "GoTool", "ToolBuildError", "go_tool"]


@dataclass(frozen=True)
class GoTool:
    name: str  # the binary's name in the cache
    package: str  # Go package of its main, without version (in a module of this repository: ./cmd/x)
    version: str = ""  # pinned module version; for a module of this repository, the hash of its sources
    module: str | None = None  # the tool's Go module, a directory of this repository (None: from the module proxy)

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"

    def source_version(self) -> str:
        """The version a tool of this repository is built at: a hash of its module's files."""
        assert self.module is not None
        root = PROJECT_ROOT / self.module
        digest = hashlib.sha256()
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
        return "src-" + digest.hexdigest()[:16]


TOOLS = {
    "toxiproxy-server": GoTool("toxiproxy-server", "github.com/Shopify/toxiproxy/v2/cmd/server", "v2.12.0"),
    "buf": GoTool("buf", "github.com/bufbuild/buf/cmd/buf", "v1.75.0"),
    "oasdiff": GoTool("oasdiff", "github.com/oasdiff/oasdiff", "v1.37.0"),
    # The gRPC client the lines `nox -s up` prints run, as printed.
    "grpcurl": GoTool("grpcurl", "github.com/fullstorydev/grpcurl/cmd/grpcurl", "v1.9.4"),
    # The history checker of harness/robustness (porcupine, pinned by its go.mod).
    "histcheck": GoTool("histcheck", "./cmd/histcheck", module="harness/robustness/histcheck"),
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
    version = tool.source_version() if tool.module is not None else tool.version
    out_dir = root / f"{tool.name}-{version}-{_go_version()}"

    def install(tmp: Path) -> None:
        # GOWORK=off: a tool at a pinned version never builds against the services' workspace.
        env = {**os.environ, "GOBIN": str(tmp), "GOWORK": "off", "GOFLAGS": ""}
        if tool.module is None:
            cmd, cwd = ["go", "install", "-trimpath", tool.spec], root
        else:  # -mod=readonly: exactly what its go.mod and go.sum pin
            target = str(tmp / Path(tool.package).name)
            cmd, cwd = (
                ["go", "build", "-trimpath", "-mod=readonly", "-o", target, tool.package],
                PROJECT_ROOT / tool.module,
            )
        root.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ToolBuildError(f"{' '.join(cmd)} failed with exit code {proc.returncode}:\n{proc.stderr}")
        (tmp / Path(tool.package).name).rename(tmp / tool.name)

    if make_once(out_dir, root / f".{tool.name}.lock", install) and tool.module is not None:
        prune(root, f"{tool.name}-", keep=out_dir, retain=3)
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
        print(f"{name:18} {TOOLS[name].version or 'source':8} {time.perf_counter() - started:6.2f}s  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
