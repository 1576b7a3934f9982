"""Settings are the services' own: the environment variables a service documents.

A service of a :class:`~harness.topology.declaration.Topology` names where its
variables are documented (``docs="galaxy/README.md#authsession"``: the first
table of that section, rows ``| `VAR` | default | meaning |``, each variable
perhaps after the anchor of its rule id). A scenario gives a
setting by the variable's name without the service's prefix, lowercased
(``code_ttl`` for ``AUTHSESSION_CODE_TTL``) where that is unique in the topology,
or by the whole name lowercased (``gateway_ready_timeout``). A setting no
scenario gives is not sent, so the service's own default applies; what that
default is, the documentation says (:meth:`Settings.value`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.paths import PROJECT_ROOT
from harness.topology.declaration import Service, Topology

__all__ = ["Documented", "Settings", "SettingsError", "documented_variables"]


class SettingsError(ValueError):
    """A setting that names no documented variable, or names one ambiguously."""


@dataclass(frozen=True)
class Documented:
    """One documented variable: its service, name and default as the table states it
    (``None`` where the table says it is required or has none)."""

    service: str
    variable: str
    default: str | None


_ROW = re.compile(r"^\|\s*(?:<a\s[^>]*>\s*</a>\s*)*`(?P<var>[A-Z][A-Z0-9_]*)`\s*\|\s*(?P<default>[^|]*?)\s*\|")
"""A variable's row; its first cell may start with anchors (its rule id: contracts/README.md, "Rules")."""
_NO_DEFAULT = {"required", "—", "-", ""}
_TAG = re.compile(r"<[^>]+>")  # an anchor in a row (``<a id="..."></a>``) is no part of it


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = _TAG.sub("", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


@functools.cache
def documented_variables(docs: str, root: Path = PROJECT_ROOT) -> tuple[tuple[str, str | None], ...]:
    """The variables and defaults of the first table under the heading ``docs`` names
    (``path#anchor``), in the table's order; HTML tags in a row are ignored."""
    path, _, anchor = docs.partition("#")
    lines = (root / path).read_text().splitlines()
    start = 0
    if anchor:
        headings = [i for i, line in enumerate(lines) if line.startswith("#") and _slug(line.lstrip("#")) == anchor]
        if not headings:
            raise SettingsError(f"{docs}: no heading with anchor #{anchor}")
        start = headings[0] + 1
    found: list[tuple[str, str | None]] = []
    for line in (_TAG.sub("", line) for line in lines[start:]):
        if found and not line.startswith("|"):
            break
        if line.startswith("#") and not found:
            break
        if m := _ROW.match(line):
            default = m["default"].strip("`")
            found.append((m["var"], None if default in _NO_DEFAULT else default))
    if not found:
        raise SettingsError(f"{docs}: no table of variables (| `VAR` | default | meaning |) under the heading")
    return tuple(found)


def _documented(service: Service) -> list[Documented]:
    if service.docs is None:
        return []
    return [Documented(service.name, var, default) for var, default in documented_variables(service.docs)]


class Settings:
    """The settings of one stack: what its scenario gave, by variable; the rest is the services' own."""

    def __init__(self, topology: Topology, given: Mapping[str, object]) -> None:
        self.topology = topology
        self._known = {d.variable: d for s in topology.services for d in _documented(s)}
        self.given: dict[str, str] = {}
        """Variable -> value, for what the scenario gave."""
        for name, value in given.items():
            self.given[self.variable(name)] = str(value)

    def names(self) -> list[str]:
        """Every name a scenario may use, short where unique."""
        short = self._short_names()
        return sorted([n for n, vars_ in short.items() if len(vars_) == 1] + [v.lower() for v in self._known])

    def _short_names(self) -> dict[str, list[str]]:
        short: dict[str, list[str]] = {}
        for d in self._known.values():
            prefix = self.topology.service(d.service).prefix
            if d.variable.startswith(prefix):
                short.setdefault(d.variable.removeprefix(prefix).lower(), []).append(d.variable)
        return short

    def variable(self, name: str) -> str:
        """The documented variable setting ``name`` names."""
        if name.upper() in self._known:
            return name.upper()
        candidates = self._short_names().get(name.lower(), [])
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            raise SettingsError(f"setting {name!r} is ambiguous here: say {' or '.join(c.lower() for c in candidates)}")
        known = ", ".join(self.names())
        raise SettingsError(
            f"unknown setting {name!r}: no service of {self.topology.name} documents it; known: {known}"
        )

    def for_service(self, service: str) -> dict[str, str]:
        """The variables to send ``service``: those its scenario gave."""
        return {var: value for var, value in self.given.items() if self._known[var].service == service}

    def value(self, name: str) -> str | None:
        """The setting in force: as given, else the documented default (None: required or none)."""
        var = self.variable(name)
        return self.given.get(var, self._known[var].default)
