from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from harness.binary import BuildError, build, source_hash

MAIN = 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("%s") }\n'


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A minimal Go workspace holding an 'authsession' command."""
    root = tmp_path / "ws"
    cmd = root / "authsession" / "cmd" / "authsession"
    cmd.mkdir(parents=True)
    (root / "go.work").write_text("go 1.26\n\nuse ./authsession\n")
    (root / "authsession" / "go.mod").write_text("module example.com/authsession\n\ngo 1.26\n")
    (cmd / "main.go").write_text(MAIN % "v1")
    return root


def run(path: Path) -> str:
    return subprocess.run([str(path)], capture_output=True, text=True, check=True).stdout.strip()


def test_a_build_is_reused_until_a_source_changes(workspace: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = build("authsession", root=workspace, cache_dir=cache)
    assert not first.cached
    assert run(first.path) == "v1"

    again = build("authsession", root=workspace, cache_dir=cache)
    assert again.cached
    assert again.path == first.path

    (workspace / "authsession" / "cmd" / "authsession" / "main_test.go").write_text("package main\n")
    assert build("authsession", root=workspace, cache_dir=cache).cached, "a test file must not force a rebuild"

    (workspace / "authsession" / "cmd" / "authsession" / "main.go").write_text(MAIN % "v2")
    changed = build("authsession", root=workspace, cache_dir=cache)
    assert not changed.cached
    assert changed.path != first.path
    assert run(changed.path) == "v2"


def test_the_mode_is_part_of_the_key(workspace: Path) -> None:
    assert source_hash(workspace, "plain") != source_hash(workspace, "cover")


def _build_in_subprocess(args: tuple[Path, Path]) -> bool:
    workspace, cache = args
    return build("authsession", root=workspace, cache_dir=cache).cached


def test_concurrent_callers_share_one_build(workspace: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with ProcessPoolExecutor(4) as pool:
        cached = list(pool.map(_build_in_subprocess, [(workspace, cache)] * 4))
    assert cached.count(False) == 1, f"expected exactly one real build, got cached flags {cached}"
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 1


def test_a_compile_error_is_reported_with_the_compiler_output(workspace: Path, tmp_path: Path) -> None:
    (workspace / "authsession" / "cmd" / "authsession" / "main.go").write_text(
        "package main\n\nfunc main() { nope() }\n"
    )
    with pytest.raises(BuildError) as info:
        build("authsession", root=workspace, cache_dir=tmp_path / "cache")
    assert "undefined: nope" in str(info.value)
    assert "go build" in str(info.value)


def test_unknown_service_and_mode_are_refused(workspace: Path) -> None:
    with pytest.raises(ValueError, match="unknown service"):
        build("billing", root=workspace)
    with pytest.raises(ValueError, match="unknown build mode"):
        build("authsession", "fast", root=workspace)  # type: ignore[arg-type]


def test_the_cli_reports_a_missing_workspace(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "harness.binary"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
        env={"GALAXY_ROOT": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert "not a galaxy Go workspace" in result.stderr
