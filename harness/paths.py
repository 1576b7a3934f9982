"""Where things live: the project root, the Go workspace under test, caches, reports."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_DIR", "PROJECT_ROOT", "PYCACHE_DIR", "REPORTS_DIR", "bytecode_env", "galaxy_root"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = Path(os.environ.get("GALAXY_CACHE_DIR", PROJECT_ROOT / ".cache"))
REPORTS_DIR = PROJECT_ROOT / "reports"
PYCACHE_DIR = CACHE_DIR / "pycache"


def bytecode_env(environ: os._Environ[str] | dict[str, str] = os.environ) -> dict[str, str]:
    """The environment changes that keep compiled modules between runs where
    ``PYTHONDONTWRITEBYTECODE`` is set: bytecode is written under ``.cache/pycache``
    (``PYTHONPYCACHEPREFIX``), not beside the sources, instead of not at all.

    Without it every pytest process (the controller and each xdist worker)
    assertion-rewrites and compiles the test modules and the whole package of
    every pytest plugin (Hypothesis's alone is 75 modules) again: pytest reads its
    rewritten modules from a cache it may not write. A prefix the environment
    already names is kept. Where bytecode may be written, nothing changes.
    """
    if not environ.get("PYTHONDONTWRITEBYTECODE"):
        return {}
    prefix = environ.get("PYTHONPYCACHEPREFIX") or str(PYCACHE_DIR)
    return {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": prefix}


def galaxy_root() -> Path:
    """The Go workspace holding the services: ``$GALAXY_ROOT`` or ``./galaxy``."""
    root = Path(os.environ.get("GALAXY_ROOT", PROJECT_ROOT / "galaxy")).resolve()
    if not (root / "go.work").is_file():
        raise FileNotFoundError(
            f"GALAXY_ROOT={root} is not a galaxy Go workspace (no go.work there); "
            "point GALAXY_ROOT at a checkout of the galaxy monorepo"
        )
    return root
