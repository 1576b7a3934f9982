"""The rule index's model: a rule, a problem of how one is written, the documents and configuration
they come from, the index that holds them (:mod:`harness.gates.rules` builds it, :mod:`harness.gates.rule_reader`
reads the documents)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ID_PATTERN", "INFORMATIVE", "ConfigError", "Document", "Index", "Problem", "Rule", "RulesConfig"]

ID_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*(?:\.[a-z0-9]+(?:-[a-z0-9]+)*)+")
"""A rule id: dot-separated segments of lower-case letters, digits and single hyphens; the
first segment, its namespace, is the same for every rule of a document and names no other
document's rules (``tokens.refresh.rotation``)."""

INFORMATIVE = "<!-- informative -->"
"""On a line of its own: the block after it (a paragraph, a whole list or table) states no rule."""


class ConfigError(ValueError):
    """``[tool.harness.rules]`` is missing or wrong."""


@dataclass(frozen=True)
class Rule:
    """One normative statement, as the index lists it."""

    id: str
    document: str
    """The document's path, relative to the project root."""
    line: int
    """The line of the statement's anchor (1-based)."""
    section: str
    """Where in the document: its heading path, the JSON pointer of an OpenAPI description, or the
    declaration a proto comment is on."""
    text: str
    applies_to: tuple[str, ...]
    """The transports the rule must be verified on, each of them; empty: no particular one."""
    unobservable: str | None = None
    """Why no scenario can verify the rule from outside; None when one can."""

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["applies_to"] = list(self.applies_to)
        return data


@dataclass(frozen=True)
class Problem:
    """What the lint reports: a statement without an id, an id used twice, a malformed id."""

    document: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.document}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Document:
    """A rule-bearing document: its path (relative to the root) and the default of its rules' applies-to."""

    path: str
    applies: tuple[str, ...] = ()


@dataclass(frozen=True)
class RulesConfig:
    """``[tool.harness.rules]`` of a project's ``pyproject.toml``."""

    root: Path
    transports: tuple[str, ...]
    """Every transport name a rule may apply to and a scenario may run over."""
    transport_params: tuple[str, ...]
    """The test parameters whose value is a scenario's transport (``transport``)."""
    documents: tuple[Document, ...]
    reports: Path
    """Where the index and the coverage report are written."""


@dataclass
class Index:
    """Every rule of the configured documents, and what is wrong with how they are written."""

    rules: list[Rule] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)

    def by_id(self) -> dict[str, Rule]:
        """The rules by id (the first, where an id is used twice)."""
        found: dict[str, Rule] = {}
        for rule in self.rules:
            found.setdefault(rule.id, rule)
        return found

    def as_json(self) -> dict[str, Any]:
        return {
            "documents": {doc: sum(1 for r in self.rules if r.document == doc) for doc in self.documents},
            "rules": [rule.as_json() for rule in self.rules],
            "problems": [asdict(p) for p in self.problems],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Index:
        rules = [Rule(**{**r, "applies_to": tuple(r["applies_to"])}) for r in data["rules"]]
        return cls(rules, [Problem(**p) for p in data["problems"]], list(data["documents"]))

    def write(self, path: Path) -> None:
        """The index as JSON at ``path``, written whole (a reader never sees half of it)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(json.dumps(self.as_json(), indent=1, ensure_ascii=False) + "\n")
        partial.replace(path)
