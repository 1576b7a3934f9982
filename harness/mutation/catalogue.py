"""The catalogue of :mod:`harness.mutation.runner`: mutants read from a TOML file,
applied to a copy of the workspace and checked to compile.

A catalogue holds ``[[mutant]]`` tables, each the one-line mistake that breaks one
rule of the contracts (``rule``, an id of the rule index: :mod:`harness.gates.rules`),
maybe why no black-box test can see it (``unobservable``) or the named command that
tests it instead of the suite (``killed_by``: the runner's ``--command NAME=...``),
and a ``[gaps]`` table: rules no mutant can break, each with the reason
(``"tokens.access.alg" = "why"``; a key may end in ``*`` to name every rule it
starts). :mod:`harness.mutation.coverage` checks both against the index."""

from __future__ import annotations

import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Catalogue", "CatalogueError", "Mutant", "apply", "load_catalogue", "occurrences"]

COMPILE_TIMEOUT_S = 300.0


class CatalogueError(ValueError):
    """The catalogue is malformed, or a mutant does not apply."""


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str  # relative to the workspace root
    find: str
    replace: str
    breaks: str  # what the mistake does
    rule: str = ""  # the id of the rule it breaks ("" where the catalogue names none)
    unobservable: str = ""  # why no black-box test can see it, when that is so
    killed_by: str = ""  # the named command that tests it (runner --command NAME=...), instead of the catalogue's


@dataclass(frozen=True)
class Catalogue:
    path: Path
    mutants: list[Mutant]
    gaps: dict[str, str] = field(default_factory=dict)
    """Rules no mutant breaks (an id, or a prefix ending in ``*``) and why."""


_REQUIRED = frozenset({"id", "file", "find", "replace", "breaks"})
_KNOWN = _REQUIRED | {"rule", "unobservable", "killed_by"}


def load_catalogue(path: Path) -> Catalogue:
    """The ``[[mutant]]`` tables of a TOML catalogue (ids unique) and its ``[gaps]``."""
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f"{path}: {exc}") from None
    if unknown := set(doc) - {"mutant", "gaps"}:
        raise CatalogueError(f"{path}: unknown tables {sorted(unknown)}")
    mutants: list[Mutant] = []
    seen: set[str] = set()
    for i, entry in enumerate(doc.get("mutant", [])):
        where = f"{path}: mutant {i + 1} ({entry.get('id', '?')})"
        unknown = set(entry) - _KNOWN
        missing = _REQUIRED - set(entry)
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
    gaps = doc.get("gaps", {})
    if not isinstance(gaps, dict) or not all(isinstance(v, str) for v in gaps.values()):
        raise CatalogueError(f"{path}: [gaps] must map rule ids to the reason no mutant breaks them")
    return Catalogue(path, mutants, dict(gaps))


def occurrences(mutant: Mutant, root: Path) -> int:
    """How often ``mutant``'s fragment occurs in its file under ``root``; a
    :class:`CatalogueError` when the file cannot be read."""
    try:
        return (root / mutant.file).read_text().count(mutant.find)
    except OSError as exc:
        raise CatalogueError(f"{mutant.file}: {exc.strerror}") from None


def apply(mutant: Mutant, root: Path) -> None:
    """Apply ``mutant`` to the workspace at ``root`` in place; a
    :class:`CatalogueError` unless its fragment occurs exactly once."""
    count = occurrences(mutant, root)
    if count != 1:
        raise CatalogueError(f"the fragment occurs {count} times in {mutant.file}, not exactly once")
    path = root / mutant.file
    path.write_text(path.read_text().replace(mutant.find, mutant.replace))


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
