from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "scripts" / "check_blackbox.py"
TESTDATA = Path(__file__).with_name("testdata")


def offender(tmp_path: Path, name: str) -> Path:
    """Copy a known-bad file from testdata (kept as .txt so the project itself stays clean)."""
    target = tmp_path / name.removesuffix(".txt")
    target.write_text((TESTDATA / name).read_text())
    return target


def run(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHECK), *map(str, paths)], capture_output=True, text=True, check=False)


def test_the_project_passes() -> None:
    result = run()
    assert result.returncode == 0, result.stdout
    assert "none reaches into" in result.stdout


def test_an_internal_path_is_caught(tmp_path: Path) -> None:
    offender(tmp_path, "peek_internal.py.txt")
    result = run(tmp_path)
    assert result.returncode == 1
    assert "peek_internal.py:3: names an internal package path" in result.stdout


def test_a_joined_internal_path_is_caught(tmp_path: Path) -> None:
    offender(tmp_path, "join_internal.py.txt")
    result = run(tmp_path)
    assert result.returncode == 1
    assert "join_internal.py:3: names an internal package path 'internal'" in result.stdout


def test_an_import_of_the_services_is_caught(tmp_path: Path) -> None:
    (tmp_path / "imp.py").write_text("import galaxy.authsession\n")
    result = run(tmp_path)
    assert result.returncode == 1
    assert "imports 'galaxy.authsession'" in result.stdout


def test_nothing_to_check_is_a_failure(tmp_path: Path) -> None:
    assert run(tmp_path).returncode == 1
