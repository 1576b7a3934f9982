"""Where things live: the project root, the Go workspace under test, caches, reports."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_DIR", "PROJECT_ROOT", "REPORTS_DIR", "galaxy_root"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = Path(os.environ.get("GALAXY_CACHE_DIR", PROJECT_ROOT / ".cache"))
REPORTS_DIR = PROJECT_ROOT / "reports"


def galaxy_root() -> Path:
    """The Go workspace holding the services: ``$GALAXY_ROOT`` or ``./galaxy``."""
    root = Path(os.environ.get("GALAXY_ROOT", PROJECT_ROOT / "galaxy")).resolve()
    if not (root / "go.work").is_file():
        raise FileNotFoundError(
            f"GALAXY_ROOT={root} is not a galaxy Go workspace (no go.work there); "
            "point GALAXY_ROOT at a checkout of the galaxy monorepo"
        )
    return root
