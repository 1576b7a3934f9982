"""Which rules of the contracts the mutation catalogues break, checked against the rule index.

    python -m harness.mutation.coverage [--root DIR]

reads the rule index (:mod:`harness.gates.rules`) and the catalogue of every
registered suite (``<suite>/mutants.toml``) and exits 1, one line per problem,
when:

* a mutant names no rule, a rule the index has not, or a rule marked
  unobservable (no scenario could kill it);
* a mutant's fragment does not occur exactly once in its file of the Go
  workspace (``GALAXY_ROOT``, else ``./galaxy``): the catalogue has rotted;
* a catalogue is not grouped by document, in the index's order of documents;
* a rule that is not marked unobservable has no mutant in any catalogue and
  no ``[gaps]`` entry saying why none can break it;
* a gap has no reason, names no rule, or names only rules that have a mutant
  (or are unobservable) by now: it is stale.

A gap's key is a rule id, or a prefix ending in ``*`` (``"galaxy.user.*"``).

The check is over the union of the registered suites' catalogues: each suite's
catalogue holds the mutants (and gaps) of the rules its boundary can see, and a
rule is answered for when any catalogue breaks it or gives a gap for it, so no
catalogue repeats the rules of another suite's boundary.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from harness.gates.rules import ConfigError, Index, Rule, cached_index, load_config
from harness.mutation.catalogue import Catalogue, CatalogueError, Mutant, load_catalogue, occurrences
from harness.paths import CACHE_DIR, PROJECT_ROOT, galaxy_root
from harness.suites.registry import suites

__all__ = ["MutationCoverage", "check", "main", "project_index", "project_rules"]


def project_index(root: Path = PROJECT_ROOT) -> Index | None:
    """The rule index of the project at ``root`` (cached); None when it declares no rules."""
    config = load_config(root)
    if config is None:
        return None
    return cached_index(config, CACHE_DIR / "rules")


def project_rules(root: Path = PROJECT_ROOT) -> dict[str, Rule]:
    """The rules of the project at ``root`` by id; empty when it declares none."""
    index = project_index(root)
    return index.by_id() if index else {}


@dataclass
class MutationCoverage:
    """What the catalogues break, rule by rule, and what is wrong with them."""

    index: Index
    mutated: dict[str, list[str]] = field(default_factory=dict)
    """Rule id -> the mutants that break it."""
    gaps: dict[str, str] = field(default_factory=dict)
    """Rule id -> why no mutant breaks it (from a [gaps] entry)."""
    problems: list[str] = field(default_factory=list)

    def count(self, document: str | None = None) -> dict[str, int]:
        """Rules by state: mutated, gap, unobservable, missing."""
        counts = {"mutated": 0, "gap": 0, "unobservable": 0, "missing": 0}
        for rule in self.index.rules:
            if document is None or rule.document == document:
                counts[self.state(rule)] += 1
        return counts

    def state(self, rule: Rule) -> str:
        if rule.id in self.mutated:
            return "mutated"
        if rule.unobservable is not None:
            return "unobservable"
        return "gap" if rule.id in self.gaps else "missing"


def check(index: Index, catalogues: Sequence[Catalogue], workspace: Path | None = None) -> MutationCoverage:
    """The catalogues against the index (and, given ``workspace``, each fragment against its file)."""
    rules = index.by_id()
    result = MutationCoverage(index)
    order = {doc: i for i, doc in enumerate(index.documents)}
    for catalogue in catalogues:
        where = _shown(catalogue.path)
        last: tuple[int, str] | None = None
        for mutant in catalogue.mutants:
            rule = rules.get(mutant.rule)
            result.problems += _mutant_problems(f"{where}: mutant {mutant.id}", mutant, rule, workspace)
            if rule is None:
                continue
            result.mutated.setdefault(rule.id, []).append(mutant.id)
            place = (order.get(rule.document, len(order)), rule.document)
            if last is not None and place < last:
                result.problems.append(
                    f"{where}: mutant {mutant.id} ({rule.document}) comes after mutants of {last[1]}: "
                    "group the catalogue by document, in the order of the rule index"
                )
            last = max(place, last or place)
    for catalogue in catalogues:
        _check_gaps(catalogue, rules, result)
    for rule in index.rules:
        if result.state(rule) == "missing":
            result.problems.append(
                f"{rule.document}:{rule.line}: rule {rule.id} has no mutant in any catalogue: "
                "add one, or a [gaps] entry saying why none can break it"
            )
    return result


def _mutant_problems(where: str, mutant: Mutant, rule: Rule | None, workspace: Path | None) -> list[str]:
    """What is wrong with one mutant: its rule (``rule``, the index's, None where it has none) and, given
    ``workspace``, its fragment."""
    problems = []
    if not mutant.rule:
        problems.append(f'{where} names no rule (rule = "<rule id>")')
    elif rule is None:
        problems.append(f"{where} breaks {mutant.rule}, which the rule index has not")
    elif rule.unobservable is not None:
        problems.append(
            f"{where} breaks {rule.id}, which is marked unobservable ({rule.unobservable}): no scenario can kill it"
        )
    if workspace is not None:
        try:
            found = occurrences(mutant, workspace)
        except CatalogueError as exc:
            return [*problems, f"{where}: {exc}"]
        if found != 1:
            problems.append(f"{where}: its fragment occurs {found} times in {mutant.file}, not exactly once")
    return problems


def _check_gaps(catalogue: Catalogue, rules: Mapping[str, Rule], result: MutationCoverage) -> None:
    where = _shown(catalogue.path)
    for pattern, reason in catalogue.gaps.items():
        named = [rule for rid, rule in rules.items() if fnmatchcase(rid, pattern)]
        if not reason.strip():
            result.problems.append(f"{where}: gap {pattern} gives no reason")
        if not named:
            result.problems.append(f"{where}: gap {pattern} names no rule of the index")
            continue
        open_ = [r for r in named if r.id not in result.mutated and r.unobservable is None]
        if not open_:
            result.problems.append(
                f"{where}: gap {pattern} is stale: every rule it names has a mutant or is unobservable; remove it"
            )
        for rule in open_:
            result.gaps.setdefault(rule.id, reason)


def _shown(path: Path) -> str:
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def summary_lines(result: MutationCoverage) -> list[str]:
    counts = result.count()
    mutants = sum(len(ids) for ids in result.mutated.values())
    lines = [
        f"mutation coverage: {len(result.index.rules)} rules: {counts['mutated']} broken by {mutants} mutants, "
        f"{counts['gap']} gaps with a reason, {counts['unobservable']} unobservable, {counts['missing']} missing"
    ]
    for doc in result.index.documents:
        c = result.count(doc)
        lines.append(
            f"  {doc}: {c['mutated']} mutated"
            + (f", {c['gap']} gaps" if c["gap"] else "")
            + (f", {c['unobservable']} unobservable" if c["unobservable"] else "")
            + (f", {c['missing']} MISSING" if c["missing"] else "")
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.mutation.coverage", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=PROJECT_ROOT, help="the project root (its pyproject.toml)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        index = project_index(root)
        if index is None:
            print(f"mutation coverage: {root / 'pyproject.toml'} has no [tool.harness.rules]", file=sys.stderr)
            return 2
        catalogues = [load_catalogue(s.mutants) for s in suites(root) if s.mutants.is_file()]
        workspace = galaxy_root()
    except (ConfigError, CatalogueError, FileNotFoundError) as exc:
        print(f"mutation coverage: {exc}", file=sys.stderr)
        return 2
    result = check(index, catalogues, workspace)
    for problem in result.problems:
        print(problem)
    print("\n".join(summary_lines(result)))
    if result.problems:
        print(f"mutation coverage: {len(result.problems)} problem(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
