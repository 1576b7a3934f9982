"""Commits of the repository that holds the code under test: the base to
compare with, and a tree as it was at any commit.

* :func:`base_ref` — ``$GALAXY_SKEW_BASE``, else the merge-base of HEAD with
  ``main``; on ``main`` itself (where that is HEAD) the commit before HEAD,
  so what is judged is the latest change.
* :func:`tree_at` — one path of the repository as it is at a commit, written
  out with ``git archive`` (no checkout changes); :func:`checkout_at` keeps
  such a tree in the cache, once per commit.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

from harness.builds.cache import make_once, prune
from harness.paths import CACHE_DIR

__all__ = ["BASE_ENV", "RefError", "base_ref", "checkout_at", "contains", "describe", "exists_at", "resolve", "tree_at"]

BASE_ENV = "GALAXY_SKEW_BASE"
"""The base commit to compare with (default: the merge-base with the main branch)."""


class RefError(RuntimeError):
    """Not a commit, or no such path at a commit, or git failed."""


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RefError(f"git {' '.join(args)} (in {repo}) failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def resolve(repo: Path, ref: str) -> str:
    """The full commit id ``ref`` names, or a :class:`RefError` saying it names none."""
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except RefError:
        raise RefError(f"{ref!r} is not a commit of the repository at {repo}") from None


def describe(repo: Path, sha: str) -> str:
    """``<short id> <subject>`` of a commit, for the reader."""
    return git(repo, "log", "-1", "--format=%h %s", sha)


def base_ref(repo: Path, main: str = "main") -> str:
    """The base commit (see the module's docstring), as a full commit id."""
    given = os.environ.get(BASE_ENV)
    if given:
        try:
            return resolve(repo, given)
        except RefError as exc:
            raise RefError(
                f"{BASE_ENV}: {exc}; name a commit, branch or tag, or unset it for the merge-base with {main}"
            ) from None
    head = resolve(repo, "HEAD")
    for candidate in (main, f"origin/{main}"):
        try:
            base = git(repo, "merge-base", "HEAD", candidate)
        except RefError:
            continue
        return resolve(repo, "HEAD~1") if base == head else base
    raise RefError(f"no branch {main!r} to take a merge-base with: set {BASE_ENV}=<ref>")


def exists_at(repo: Path, ref: str, path: str) -> bool:
    proc = subprocess.run(["git", "cat-file", "-e", f"{ref}:{path}"], cwd=repo, capture_output=True, check=False)
    return proc.returncode == 0


def contains(repo: Path, ref: str, ancestor: str) -> bool:
    """Whether commit ``ref`` has ``ancestor`` in its history (or is it)."""
    proc = subprocess.run(
        ["git", "merge-base", "--is-ancestor", ancestor, ref], cwd=repo, capture_output=True, check=False
    )
    if proc.returncode not in (0, 1):
        raise RefError(f"cannot tell whether {ref} contains {ancestor}: {proc.stderr.decode().strip()}")
    return proc.returncode == 0


def tree_at(repo: Path, ref: str, path: str, dest: Path) -> Path:
    """Write ``path`` (a file or a directory of the repository, ``.`` for all)
    as it is at ``ref`` under ``dest``; the written path. Where the interpreter
    has tarfile's extraction filters, the ``data`` filter refuses what a source
    tree never holds (absolute paths, links out of it, device files)."""
    proc = subprocess.run(
        ["git", "archive", "--format=tar", ref, "--", path], cwd=repo, capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise RefError(f"{path} does not exist at {ref}: {proc.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as archive:
        if hasattr(tarfile, "data_filter"):  # extraction filters: Python 3.11.4 and later
            archive.extractall(dest, filter="data")
        else:  # an older 3.11, which requires-python admits
            archive.extractall(dest)  # noqa: S202 - git's own archive of this repository, as it is
    return dest / path


def checkout_at(ref: str, directory: Path, *, cache_dir: Path | None = None) -> Path:
    """``directory`` (inside a git repository) as it is at commit ``ref``,
    extracted once into the cache (``.cache/refs/<commit>/``) and reused."""
    top = Path(git(directory, "rev-parse", "--show-toplevel"))
    relative = directory.resolve().relative_to(top.resolve())
    sha = resolve(top, ref)
    root = cache_dir or CACHE_DIR / "refs"
    target = root / sha / relative

    def extract(tmp: Path) -> None:
        scratch = tmp.with_name(tmp.name + ".tree")
        try:
            tree_at(top, sha, str(relative), scratch)
            (scratch / relative).rename(tmp)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    if make_once(target, root / f".{sha}.lock", extract):
        prune(root, "", keep=root / sha, retain=5)  # a base moves on with every commit
    return target
