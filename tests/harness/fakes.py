"""The fake service (``fake_service.py``) as a ``ServiceProcess``, for the harness's own tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from harness.processes.ports import PortHold
from harness.processes.service import ServiceProcess

__all__ = ["FAKE", "fake_service"]

FAKE = Path(__file__).with_name("fake_service.py")


def fake_service(workdir: Path, hold: PortHold | None = None, **env: str) -> ServiceProcess:
    """The fake service, not yet started, with ``env`` (``FAKE_MODE``, ``FAKE_DRAIN_MS``, ...);
    a restart brings it back on the same address. Given a ``hold``, it serves on that port and keeps it."""
    if hold is not None:
        env = {**env, "FAKE_ADDR": hold.address}
    return ServiceProcess(
        "fake",
        [sys.executable, str(FAKE)],
        env={"PATH": os.environ["PATH"], **env},
        workdir=workdir,
        ready_env="FAKE_READY_FILE",
        listen_env={"tcp": "FAKE_ADDR"},
        stop_timeout=2,
        holds=[hold] if hold is not None else [],
    )
