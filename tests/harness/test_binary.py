from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from harness.builds.binary import BuildError, build, commands, source_hash

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
    with pytest.raises(ValueError, match=r"no command 'billing'.*commands: authsession"):
        build("billing", root=workspace)
    with pytest.raises(ValueError, match="unknown build mode"):
        build("authsession", "fast", root=workspace)  # type: ignore[arg-type]


def test_the_cli_reports_a_missing_workspace(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "harness.builds.binary"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
        env={"GALAXY_ROOT": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    assert "not a galaxy Go workspace" in result.stderr


def _add_service(root: Path, name: str, says: str) -> None:
    """A new service, as the README's recipe has it: a module with ``cmd/<name>``, used by go.work."""
    cmd = root / name / "cmd" / name
    cmd.mkdir(parents=True)
    (root / name / "go.mod").write_text(f"module example.com/{name}\n\ngo 1.26\n")
    (cmd / "main.go").write_text(MAIN % says)
    (root / "go.work").write_text((root / "go.work").read_text() + f"use ./{name}\n")


def test_any_command_of_the_workspace_builds_without_the_harness_knowing_it(workspace: Path, tmp_path: Path) -> None:
    _add_service(workspace, "ledger", "ledger v1")

    assert commands(workspace) == {"authsession": "./authsession/cmd/authsession", "ledger": "./ledger/cmd/ledger"}
    assert run(build("ledger", root=workspace, cache_dir=tmp_path / "cache").path) == "ledger v1"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=repo, check=True)


def test_a_build_from_a_commit_builds_that_commits_tree(workspace: Path, tmp_path: Path) -> None:
    _git(workspace, "init", "-q", "-b", "main")
    _git(workspace, "add", ".")
    _git(workspace, "commit", "-q", "-m", "v1")
    (workspace / "authsession" / "cmd" / "authsession" / "main.go").write_text(MAIN % "v2")  # not committed
    cache, refs = tmp_path / "cache", tmp_path / "refs"

    old = build("authsession", root=workspace, cache_dir=cache, ref="HEAD", refs_dir=refs)
    new = build("authsession", root=workspace, cache_dir=cache)
    assert (run(old.path), run(new.path)) == ("v1", "v2")
    assert old.ref is not None
    assert "v1" in old.source
    assert new.ref is None
    assert build("authsession", root=workspace, cache_dir=cache, ref="HEAD", refs_dir=refs).cached

    _git(workspace, "commit", "-q", "-am", "broken")
    (workspace / "authsession" / "cmd" / "authsession" / "main.go").write_text(
        "package main\n\nfunc main() { nope() }\n"
    )
    _git(workspace, "commit", "-q", "-am", "does not build")
    with pytest.raises(BuildError, match=r"(?s)does not build.*undefined: nope"):
        build("authsession", root=workspace, cache_dir=cache, ref="HEAD", refs_dir=refs)
    with pytest.raises(BuildError, match="'no-such-ref' is not a commit"):
        build("authsession", root=workspace, cache_dir=cache, ref="no-such-ref", refs_dir=refs)
