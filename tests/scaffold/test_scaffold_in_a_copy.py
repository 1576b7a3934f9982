"""The scaffold as a newcomer uses it, end to end (``nox -s scaffold_check``): in a
scratch copy of the project (the working tree's files, as a git repository of its
own), ``./noxw -s scaffold -- scaffolded --services user,authsession`` writes a suite
with no TODO left; ``./noxw -l`` lists its session, ``./noxw -s scaffolded`` passes
and ``./noxw -s lint`` passes with it in the tree. The copy shares this checkout's
pinned nox (``NOXW_CACHE``) and build cache (``GALAXY_CACHE_DIR``: binaries by
content hash), so only its own environments are made."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.paths import CACHE_DIR, PROJECT_ROOT

PLUMBING = ["__init__.py", "conftest.py", "topology.py"]


def _copy(root: Path) -> None:
    """The working tree's files (tracked, and untracked ones git does not ignore) under ``root``, committed."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT, capture_output=True, check=True,
    )  # fmt: skip
    for relative in filter(None, listed.stdout.decode().split("\0")):
        if (PROJECT_ROOT / relative).is_file():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_ROOT / relative, root / relative)
    git = ["git", "-c", "user.name=scaffold", "-c", "user.email=scaffold@localhost"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "the working tree"]):
        subprocess.run([*git, *args], cwd=root, check=True, capture_output=True)


def _noxw(root: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NOXW_CACHE": str(CACHE_DIR / "noxw"), "GALAXY_CACHE_DIR": str(CACHE_DIR)}
    if venv := env.pop("VIRTUAL_ENV", None):  # this session's own environment is none of the copy's
        env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != f"{venv}/bin")
    for inherited in ("PYTHONPATH", "NOX_CURRENT_SESSION"):
        env.pop(inherited, None)
    return subprocess.run(
        ["./noxw", *args], cwd=root, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.timeout(1800)  # several nox sessions, each making its environment
def test_a_scaffolded_suite_passes_its_own_session_and_lint(tmp_path: Path) -> None:
    root = tmp_path / "project"
    _copy(root)
    wrote = _noxw(root, "-s", "scaffold", "--", "scaffolded", "--services", "user,authsession", timeout=120)
    assert wrote.returncode == 0, wrote.stdout + wrote.stderr
    assert "TODO" not in wrote.stdout + wrote.stderr
    lines = {name: len((root / "scaffolded" / name).read_text().splitlines()) for name in PLUMBING}
    print(f"plumbing the scaffold wrote: {sum(lines.values())} lines {lines}; written by hand: 0")
    listed = _noxw(root, "-l", timeout=120)
    assert "* scaffolded [suite,ci]" in listed.stdout or "- scaffolded [suite,ci]" in listed.stdout, listed.stdout
    suite = _noxw(root, "-s", "scaffolded", timeout=600)
    assert suite.returncode == 0, suite.stdout[-4000:] + suite.stderr[-4000:]
    assert "1 passed" in suite.stdout + suite.stderr
    lint = _noxw(root, "-s", "lint", timeout=1200)
    assert lint.returncode == 0, lint.stdout[-4000:] + lint.stderr[-4000:]
