"""Trees of earlier commits (harness/builds/refs.py): extracted as they were, once,
and only the newest few kept."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

import pytest

from harness.builds.refs import checkout_at, tree_at


def _git(repo: Path, *args: str) -> str:
    argv = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
    return subprocess.run(argv, cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def test_each_commit_is_extracted_as_it_was_and_the_five_newest_are_kept(tmp_path: Path) -> None:
    repo, cache = tmp_path / "repo", tmp_path / "refs"
    (repo / "ws").mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    shas = []
    for n in range(7):
        (repo / "ws" / "version.txt").write_text(f"v{n}\n")
        _git(repo, "add", ".")
        _git(repo, "commit", "-q", "-m", f"v{n}")
        shas.append(_git(repo, "rev-parse", "HEAD"))
    (repo / "ws" / "version.txt").write_text("working tree\n")

    for n, sha in enumerate(shas):
        tree = checkout_at(sha, repo / "ws", cache_dir=cache)
        assert (tree / "version.txt").read_text() == f"v{n}\n"
        assert checkout_at(sha, repo / "ws", cache_dir=cache) == tree, "a second ask reuses the tree"

    kept = sorted(p.name for p in cache.iterdir() if p.is_dir())
    assert kept == sorted(shas[-5:]), "the five newest commits' trees, and no others"


@pytest.mark.filterwarnings("ignore:Python 3.14 will, by default, filter extracted tar archives:DeprecationWarning")
def test_a_tree_is_extracted_by_a_python_without_extraction_filters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requires-python admits 3.11.0; tarfile's extraction filters came with 3.11.4 (Debian 12 has 3.11.2)."""
    repo = tmp_path / "repo"
    (repo / "ws" / "sub").mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    (repo / "ws" / "sub" / "file.txt").write_text("at the commit\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "one")
    extractall = tarfile.TarFile.extractall

    def extractall_of_3_11_2(
        archive: tarfile.TarFile, path: str = ".", members: object = None, *, numeric_owner: bool = False
    ) -> None:
        extractall(archive, path, members, numeric_owner=numeric_owner)  # type: ignore[arg-type]

    monkeypatch.setattr(tarfile.TarFile, "extractall", extractall_of_3_11_2)  # no filter= before 3.11.4
    monkeypatch.delattr(tarfile, "data_filter", raising=False)  # absent there

    tree = tree_at(repo, "HEAD", "ws", tmp_path / "out")

    assert (tree / "sub" / "file.txt").read_text() == "at the commit\n"
