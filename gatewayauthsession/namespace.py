"""A by-hand binary in a network namespace of its own, so that it binds a fixed default port whatever else the
machine runs, and nothing outside the namespace reaches it or is reached by mistake: util-linux's ``unshare``
opens the namespace (an unprivileged user as its root), iproute2's ``ip`` brings its loopback up, and the binary
is executed in it (the same pid). What a scenario asks of its listeners it asks from inside: a client run in the
namespace by util-linux's ``nsenter``.

Run as ``python -m gatewayauthsession.namespace URL`` (:func:`get_inside` runs it so, in the namespace), it GETs
URL and writes the answer as JSON: ``{"status": ..., "body": ...}``, or ``{"unreachable": ...}`` when nothing
answers there."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from harness.paths import PROJECT_ROOT
from harness.processes.service import ServiceProcess

__all__ = ["Answer", "get_inside", "own_network_namespace"]

TOOLS = {"unshare": "util-linux", "nsenter": "util-linux", "ip": "iproute2", "sh": "dash"}
"""The programs a binary run apart needs, each with the Debian package that has it."""


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path is not None, f"{TOOLS[name]}'s {name} is needed to run a binary on its default ports apart"
    return path


def own_network_namespace() -> list[str]:
    """The command that runs a binary (its command line appended) in a new network namespace with its
    loopback up, after checking that this machine lets an unprivileged user open one."""
    up = f'{shlex.quote(_tool("ip"))} link set lo up && exec "$@"'
    command = [_tool("unshare"), "--user", "--map-root-user", "--net", _tool("sh"), "-c", up, "sh"]
    _tool("nsenter")
    probe = subprocess.run([*command, "true"], capture_output=True, text=True, timeout=10, check=False)
    if probe.returncode != 0:
        pytest.skip(f"this machine gives an unprivileged user no network namespace: {probe.stderr.strip()}")
    return command


@dataclass(frozen=True)
class Answer:
    """What a listener in the namespace answered."""

    status: int
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


def get_inside(proc: ServiceProcess, url: str) -> Answer | None:
    """GET ``url`` from inside the network namespace ``proc`` runs in (:func:`own_network_namespace`):
    the answer, or None when nothing there answers. The client keeps the user's own ids in the
    namespace (an unprivileged user may not set its groups there)."""
    enter = [_tool("nsenter"), f"--target={proc.pid}", "--user", "--net", "--preserve-credentials"]
    done = subprocess.run(
        [*enter, sys.executable, "-m", __name__, url],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, f"the client in {proc.name}'s namespace: {done.stderr}"
    reply = json.loads(done.stdout)
    return None if "unreachable" in reply else Answer(reply["status"], reply["body"])


def _get(url: str) -> None:
    with requests.Session() as session:
        session.trust_env = False  # no proxy of the machine's: the namespace has none
        try:
            resp = session.get(url, timeout=5)
        except requests.ConnectionError as exc:
            json.dump({"unreachable": str(exc)}, sys.stdout)
            return
    json.dump({"status": resp.status_code, "body": resp.text}, sys.stdout)


if __name__ == "__main__":
    _get(sys.argv[1])
