"""The boundary suites of this repository, from one registry: ``pyproject.toml``'s
``[tool.galaxy-integration] suites``, each a package at the project root with its
declaration in ``<package>/topology.py`` (``TOPOLOGY``).

The noxfile makes every suite's sessions from it (the noxfile names no suite),
CI takes its matrix from those sessions, and ``lint`` type-checks every suite.
Reading the registry imports nothing but the standard library; :meth:`Suite.topology`
imports the suite's declaration, which needs no more than that either."""

from __future__ import annotations

import ast
import importlib
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

from harness.paths import PROJECT_ROOT
from harness.topology.declaration import Topology

__all__ = ["Suite", "shard_count", "suites"]


@dataclass(frozen=True)
class Suite:
    """One registered boundary suite."""

    name: str
    root: Path

    @property
    def path(self) -> Path:
        return self.root / self.name

    @property
    def description(self) -> str:
        """The first paragraph of the suite package's docstring (its nox session's help)."""
        init = self.path / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text())) if init.is_file() else None
        return " ".join((doc or f"The {self.name} boundary suite.").split("\n\n")[0].split())

    @property
    def durations(self) -> Path:
        """The recorded test durations its shards and its order are balanced by."""
        return self.path / "durations.json"

    @property
    def mutants(self) -> Path:
        return self.path / "mutants.toml"

    @property
    def killers(self) -> Path:
        return self.path / "mutation-killers.json"

    @property
    def workload(self) -> Path:
        """The module giving the robustness run its operations (``WORKLOAD``), where the suite has one."""
        return self.path / "robustness.py"

    def topology(self) -> Topology:
        """The suite's declaration."""
        found = importlib.import_module(f"{self.name}.topology").TOPOLOGY
        if not isinstance(found, Topology):
            raise TypeError(f"{self.name}/topology.py: TOPOLOGY is not a harness.topology.declaration.Topology")
        return found

    def recorded_seconds(self) -> float:
        """The sum of its recorded test durations (0 when none are recorded)."""
        try:
            return float(sum(json.loads(self.durations.read_text()).values()))
        except FileNotFoundError:
            return 0.0


def _config(root: Path) -> dict[str, object]:
    """``[tool.galaxy-integration]`` of ``root``'s pyproject.toml (empty where there is none: a scratch root)."""
    try:
        doc = tomllib.loads((root / "pyproject.toml").read_text())
    except FileNotFoundError:
        return {}
    config: dict[str, object] = doc.get("tool", {}).get("galaxy-integration", {})
    return config


def suites(root: Path = PROJECT_ROOT) -> list[Suite]:
    """Every registered suite, in the registry's order."""
    names = _config(root).get("suites", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("pyproject.toml [tool.galaxy-integration] suites must be a list of package names")
    return [Suite(name, root) for name in names]


def shard_count(suite: Suite, root: Path = PROJECT_ROOT) -> int:
    """How many CI jobs the suite is split into: its recorded test time over the
    registry's ``ci_shard_budget_s`` (per job, after its workers share it), at least one."""
    config = _config(root)
    budget = float(str(config.get("ci_shard_budget_s", 0)) or 0)
    workers = float(str(config.get("ci_workers", 4)))
    if budget <= 0:
        return 1
    return max(1, int(-(-suite.recorded_seconds() / workers // budget)))
