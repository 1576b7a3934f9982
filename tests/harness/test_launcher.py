"""./noxw: the pinned nox and uv on first use, nothing to install by hand."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "noxw"
PINNED = re.search(r'^NOX_VERSION = "([^"]+)"', LAUNCHER.read_text(), re.M)


def _run(cache: Path | None, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``./noxw ARGS`` with its environments under ``cache`` (None: the project's own, .cache/noxw)."""
    run_env = {k: v for k, v in os.environ.items() if k not in ("NOXW_CACHE", *env)}
    run_env |= ({"NOXW_CACHE": str(cache)} if cache is not None else {}) | env
    return subprocess.run(
        [sys.executable, str(LAUNCHER), *args],
        cwd=ROOT,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _launcher() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("noxw", str(LAUNCHER))
    spec = importlib.util.spec_from_loader("noxw", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_the_first_run_installs_the_pinned_nox_and_later_runs_reuse_it(tmp_path: Path) -> None:
    assert PINNED is not None
    first = _run(tmp_path, "--version")
    assert first.returncode == 0, first.stderr
    assert (first.stdout + first.stderr).strip().splitlines()[-1] == PINNED[1]  # nox prints it to stderr
    assert "installing nox" in first.stderr
    (env,) = tmp_path.glob("nox-*")
    assert (env / "bin" / "uv").exists(), "uv is installed beside nox"
    version = ".".join(map(str, sys.version_info[:3]))
    assert f"-py{version}-" in env.name, "the environment is named by the interpreter that made it"
    assert f"version = {version}" in (env / "pyvenv.cfg").read_text()

    second = _run(tmp_path, "--version")
    assert second.returncode == 0, second.stderr
    assert (second.stdout + second.stderr).strip() == PINNED[1]
    assert "installing" not in second.stderr


def test_nox_runs_this_noxfile_from_any_folder(tmp_path: Path) -> None:
    env = {**os.environ, "NOXW_CACHE": str(tmp_path)}
    listed = subprocess.run(
        [str(LAUNCHER), "-l"], cwd=ROOT / "galaxy", env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert listed.returncode == 0, listed.stderr
    assert "gatewayauthsession" in listed.stdout


def test_two_first_runs_at_once_both_work(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda _: _run(tmp_path, "--version"), range(2)))
    assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    assert sum("installing nox" in r.stderr for r in runs) == 1, "the second waits for the first's install"


def test_each_interpreter_gets_an_environment_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    noxw = _launcher()
    here = noxw.interpreter_id()
    assert here == noxw.interpreter_id(), "the same interpreter, the same environment"
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python3"))
    elsewhere = noxw.interpreter_id()
    major, minor, micro = sys.version_info[:3]
    monkeypatch.setattr(sys, "version_info", (major, minor, micro + 1, "final", 0))
    newer = noxw.interpreter_id()
    assert len({here, elsewhere, newer}) == 3, "another path, another release: another environment"
    assert newer.startswith(f"py{major}.{minor}.{micro + 1}-")


def test_the_floor_is_the_one_requires_python_states() -> None:
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    floor = re.search(r">=\s*(\d+)\.(\d+)", requires)
    assert floor is not None, requires
    assert (int(floor[1]), int(floor[2])) == _launcher().MIN_PYTHON


def test_an_older_python_is_refused_in_one_line_naming_both_versions() -> None:
    noxw = _launcher()
    older = (noxw.MIN_PYTHON[0], noxw.MIN_PYTHON[1] - 1)
    probe = textwrap.dedent(
        f"""
        import runpy, sys
        sys.version_info = {(*older, 0, "final", 0)!r}
        sys.version = "{older[0]}.{older[1]}.0 (as an older Python)"
        sys.argv = ["noxw", "--version"]
        runpy.run_path({str(LAUNCHER)!r}, run_name="__main__")
        """
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    needed = ".".join(map(str, noxw.MIN_PYTHON))
    assert done.stderr.splitlines() == [
        f"noxw: needs Python {needed} or later; {sys.executable} is {older[0]}.{older[1]}.0"
    ]


def test_sessions_get_uvs_system_certificates_and_noxs_staleness_check(tmp_path: Path) -> None:
    noxfile = tmp_path / "noxfile.py"
    noxfile.write_text(
        textwrap.dedent(
            """
            import os
            import nox

            @nox.session(venv_backend="none")
            def show(session):
                for name in ("UV_SYSTEM_CERTS", "NOX_ENABLE_STALENESS_CHECK"):
                    print(f"{name}={os.environ.get(name)}")
            """
        )
    )
    done = _run(None, "-f", str(noxfile), "-s", "show")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["UV_SYSTEM_CERTS=true", "NOX_ENABLE_STALENESS_CHECK=1"]

    kept = _run(None, "-f", str(noxfile), "-s", "show", UV_SYSTEM_CERTS="false")
    assert "UV_SYSTEM_CERTS=false" in kept.stdout.splitlines(), "a value the caller set is kept"


def test_a_mistyped_session_gets_the_closest_names() -> None:
    done = _run(None, "-s", "gatewayauthsesion")
    assert done.returncode == 3
    assert done.stderr.splitlines()[-1] == (
        "noxw: no session 'gatewayauthsesion'; did you mean 'gatewayauthsession'? (./noxw -l lists them)"
    )
