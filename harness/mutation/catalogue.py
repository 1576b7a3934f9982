"""The catalogue of :mod:`harness.mutation.runner`: mutants read from a TOML file,
applied to a copy of the workspace and checked to compile."""

from __future__ import annotations

import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CatalogueError", "Mutant", "apply", "load_catalogue"]

COMPILE_TIMEOUT_S = 300.0


class CatalogueError(ValueError):
    """The catalogue is malformed, or a mutant does not apply."""


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str  # relative to the workspace root
    find: str
    replace: str
    breaks: str  # the contract rule the change breaks
    unobservable: str = ""  # why no black-box test can see it, when that is so
    killed_by: str = ""  # the named command that tests it (runner --command NAME=...), instead of the catalogue's


def load_catalogue(path: Path) -> list[Mutant]:
    """The ``[[mutant]]`` tables of a TOML catalogue, ids unique."""
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f"{path}: {exc}") from None
    mutants: list[Mutant] = []
    seen: set[str] = set()
    known = {"id", "file", "find", "replace", "breaks", "unobservable", "killed_by"}
    for i, entry in enumerate(doc.get("mutant", [])):
        where = f"{path}: mutant {i + 1} ({entry.get('id', '?')})"
        unknown = set(entry) - known
        missing = {"id", "file", "find", "replace", "breaks"} - set(entry)
        if unknown or missing:
            raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
        if not all(isinstance(v, str) for v in entry.values()):
            raise CatalogueError(f"{where}: every value must be a string")
        if entry["id"] in seen:
            raise CatalogueError(f"{where}: duplicate id")
        if entry["find"] == entry["replace"] or not entry["find"]:
            raise CatalogueError(f"{where}: find must be non-empty and differ from replace")
        seen.add(entry["id"])
        mutants.append(Mutant(**entry))
    if not mutants:
        raise CatalogueError(f"{path}: no [[mutant]] entries")
    return mutants


def apply(mutant: Mutant, root: Path) -> None:
    """Apply ``mutant`` to the workspace at ``root`` in place; a
    :class:`CatalogueError` unless its fragment occurs exactly once."""
    path = root / mutant.file
    try:
        text = path.read_text()
    except OSError as exc:
        raise CatalogueError(f"{mutant.file}: {exc.strerror}") from None
    count = text.count(mutant.find)
    if count != 1:
        raise CatalogueError(f"the fragment occurs {count} times in {mutant.file}, not exactly once")
    path.write_text(text.replace(mutant.find, mutant.replace))


def _module_of(root: Path, file: str) -> Path:
    """The directory of the Go module holding ``file`` (its nearest go.mod)."""
    for parent in (root / file).parents:
        if (parent / "go.mod").is_file():
            return parent
        if parent == root:
            break
    raise CatalogueError(f"{file} is in no Go module of the workspace")


def _compile(root: Path, file: str) -> str | None:
    """None when the module of ``file`` builds and the package of ``file``
    (its tests too) vets, else why not. A mutant changes one package: it
    breaks another only by breaking what that one uses, which the build of
    the module shows."""
    module = _module_of(root, file)
    package = "./" + (root / file).parent.relative_to(module).as_posix()
    for cmd in (["go", "build", "-trimpath", "./..."], ["go", "vet", package]):
        try:
            proc = subprocess.run(
                cmd, cwd=module, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            return f"{' '.join(cmd)} took longer than {COMPILE_TIMEOUT_S:.0f}s"
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines()
            return f"{' '.join(cmd)} failed in {module.name}: " + " | ".join(lines[:6])
    return None
