"""What a run of a suite needs from the machine, checked before anything is built or started.

Each check gives None or one line that names the tool or the variable at fault and
says what is wanted, so that a mistake ends the run within seconds on that line:

* Go — on PATH, and of the release the workspace's ``go.work`` asks for or later
  (``go env GOVERSION`` run there, as a build would: ``GOTOOLCHAIN`` applies);
* ``INTEGRATION_REAL_REDIS_ADDR`` — when set, ``host:port`` (not a URL); when the run uses
  it, a Redis answering PING there within :data:`REACH_TIMEOUT_S`;
* the skew base — ``GALAXY_SKEW_BASE``, when set, names a commit; in a run that builds
  the base by design (a skew session), the base resolves also when it is unset, as the
  merge-base with main (:func:`harness.builds.refs.base_ref`).

:func:`problems` runs them; ``python -m harness.suites.preflight [--real-redis] [--base]``
prints them, one a line, and exits 2 when there is any. The noxfile's sessions that
build or run a suite call :func:`problems` before they install anything, and a suite's
``pytest_configure`` calls :func:`check_run`, before pytest builds a binary.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness.builds.refs import BASE_ENV, RefError, base_ref
from harness.paths import PROJECT_ROOT, galaxy_root
from harness.redis import REAL_REDIS_ENV

if TYPE_CHECKING:
    import pytest

__all__ = ["REACH_TIMEOUT_S", "check_run", "go_toolchain", "parse_host_port", "problems", "real_redis", "skew_base"]

REACH_TIMEOUT_S = 2.0
"""How long the real Redis has to answer a PING."""

_HOST_PORT = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(?P<port>[0-9]{1,5})")
_WANT_HOST_PORT = "want host:port, like 127.0.0.1:6379"


def go_toolchain(galaxy: Path) -> str | None:
    """Go is on PATH and of ``go.work``'s release or later, as ``go`` itself sees it in ``galaxy``."""
    needed = _go_directive(galaxy / "go.work")
    wanted = f"the services need Go {needed} or later ({galaxy / 'go.work'})" if needed else "the services need Go"
    if shutil.which("go") is None:
        return f"go: not found on PATH; {wanted}: install it and put its bin/ on PATH"
    try:
        proc = subprocess.run(
            ["go", "env", "GOVERSION"], cwd=galaxy, capture_output=True, text=True, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"go: `go env GOVERSION` failed ({exc}); {wanted}"
    if proc.returncode != 0:
        said = proc.stderr.strip().splitlines()
        return f"go: {said[-1].removeprefix('go: ') if said else f'exit code {proc.returncode}'}"
    found = proc.stdout.strip()
    if needed and (have := _release(found)) is not None and have < _release(needed):  # type: ignore[operator]
        return f"go: {found} found; {wanted}"
    return None


def _go_directive(go_work: Path) -> str | None:
    try:
        match = re.search(r"^go\s+(\S+)", go_work.read_text(), re.MULTILINE)
    except OSError:
        return None
    return match[1] if match else None


def _release(version: str) -> tuple[int, ...] | None:
    """``go1.26.8`` or ``1.26.8`` as (1, 26, 8); None for what is no release (a devel build)."""
    match = re.fullmatch(r"(?:go)?(\d+)\.(\d+)(?:\.(\d+))?(?:\S*)", version.strip())
    return tuple(int(part or 0) for part in match.groups()) if match else None


def parse_host_port(value: str) -> tuple[str, int] | str:
    """``host:port`` (a name, an IPv4 address, or an IPv6 one in brackets) as (host, port), or why it is not one."""
    given = f"{REAL_REDIS_ENV}={value!r}"
    if "://" in value:
        return f"{given} is a URL; {_WANT_HOST_PORT}"
    match = _HOST_PORT.fullmatch(value.strip())
    if match is None:
        return f"{given} is not host:port; {_WANT_HOST_PORT}"
    port = int(match["port"])
    if not 0 < port < 65536:
        return f"{given}: port {port} is out of range; {_WANT_HOST_PORT}"
    return match["host"].strip("[]"), port


def real_redis(value: str | None, *, reach: bool) -> str | None:
    """``INTEGRATION_REAL_REDIS_ADDR``: when set, well-formed; with ``reach``, set and a Redis answering there."""
    if value is None:
        return f"{REAL_REDIS_ENV} is not set; {_WANT_HOST_PORT}, of a running Redis" if reach else None
    parsed = parse_host_port(value)
    if isinstance(parsed, str):
        return parsed
    return _ping(value, *parsed) if reach else None


def _ping(value: str, host: str, port: int) -> str | None:
    """Why no Redis answers PING at ``host:port`` within :data:`REACH_TIMEOUT_S`; None when one does."""
    where = f"{REAL_REDIS_ENV}={value}"
    try:
        with socket.create_connection((host, port), timeout=REACH_TIMEOUT_S) as conn:
            conn.settimeout(REACH_TIMEOUT_S)
            conn.sendall(b"*1\r\n$4\r\nPING\r\n")
            answer = conn.recv(64)
    except TimeoutError:
        return f"{where}: no answer within {REACH_TIMEOUT_S:g} s; start a Redis there, or unset it"
    except OSError as exc:
        return f"{where}: nothing answers there ({exc.strerror or exc}); start a Redis there, or unset it"
    if not answer.startswith(b"+PONG"):
        return f"{where}: what answers there is not a Redis ready to serve (PING got {answer[:40]!r})"
    return None


def skew_base(repo: Path, *, required: bool) -> str | None:
    """``GALAXY_SKEW_BASE``, when set, names a commit; ``required`` (a run that builds BASE by design), the base
    resolves also when it is unset (the merge-base with main)."""
    if not required and not os.environ.get(BASE_ENV):
        return None
    try:
        base_ref(repo)
    except RefError as exc:
        return str(exc)
    return None


def problems(*, real_redis_used: bool = False, base_required: bool = False) -> list[str]:
    """Every check's line for this machine and environment; empty when a suite can run. ``real_redis_used``:
    the run uses the Redis at INTEGRATION_REAL_REDIS_ADDR; ``base_required``: it builds the skew base."""
    try:
        galaxy = galaxy_root()
    except FileNotFoundError as exc:
        return [str(exc)]
    found = [
        go_toolchain(galaxy),
        real_redis(os.environ.get(REAL_REDIS_ENV) or None, reach=real_redis_used),
        skew_base(PROJECT_ROOT, required=base_required),
    ]
    return [line for line in found if line is not None]


def check_run(config: pytest.Config, *, real_redis_used: bool) -> None:
    """:func:`problems`, in a pytest run's controller (a worker's run was checked): a usage error of one
    line a problem, before any build or process."""
    import pytest

    if hasattr(config, "workerinput") or config.option.help or config.option.version:
        return
    if found := problems(real_redis_used=real_redis_used):
        raise pytest.UsageError("\n".join(found))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.suites.preflight", description=__doc__.split("\n")[0])
    parser.add_argument("--real-redis", action="store_true", help=f"the run uses the Redis at ${REAL_REDIS_ENV}")
    parser.add_argument("--base", action="store_true", help=f"the run builds the skew base (${BASE_ENV})")
    args = parser.parse_args(argv)
    found = problems(real_redis_used=args.real_redis, base_required=args.base)
    for line in found:
        print(line, file=sys.stderr)
    return 2 if found else 0


if __name__ == "__main__":
    sys.exit(main())
