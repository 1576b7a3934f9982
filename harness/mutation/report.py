"""The reports of :mod:`harness.mutation.runner`: the score, overall and by the contract
document of each mutant's rule, a table on the terminal, Markdown and JUnit, and the
file of each mutant's killers. A survivor is shown with the rule it breaks and that
rule's text, from the rule index (:mod:`harness.gates.rules`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from xml.etree import ElementTree

from harness.gates.rules import Rule
from harness.mutation.catalogue import Mutant

__all__ = [
    "NO_RULE",
    "DocumentScore",
    "Outcome",
    "Status",
    "by_document",
    "document_of",
    "junit_report",
    "markdown_report",
    "score",
    "terminal_table",
]

Status = Literal["killed", "survived", "timeout", "invalid"]
DETECTED: tuple[Status, ...] = ("killed", "timeout")
NO_RULE = "(no rule in the index)"
"""The document of a mutant that names no rule of the index."""


@dataclass
class Outcome:
    mutant: Mutant
    status: Status
    seconds: float
    detail: str = ""  # the killer, the catalogue error or what the command said
    killers: list[str] = field(default_factory=list)


def score(outcomes: Sequence[Outcome]) -> float | None:
    """Detected / (detected + survived), in percent; None when nothing counted."""
    detected = sum(o.status in DETECTED for o in outcomes)
    counted = detected + sum(o.status == "survived" for o in outcomes)
    return 100.0 * detected / counted if counted else None


def document_of(mutant: Mutant, rules: Mapping[str, Rule]) -> str:
    """The contract document that states the rule ``mutant`` breaks."""
    rule = rules.get(mutant.rule)
    return rule.document if rule else NO_RULE


@dataclass(frozen=True)
class DocumentScore:
    """The outcomes of the mutants of one document's rules."""

    document: str
    outcomes: tuple[Outcome, ...]

    def count(self, status: Status) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def score(self) -> float | None:
        return score(self.outcomes)


def by_document(outcomes: Sequence[Outcome], rules: Mapping[str, Rule]) -> list[DocumentScore]:
    """The outcomes grouped by document, in the order the documents first appear."""
    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault(document_of(o.mutant, rules), []).append(o)
    return [DocumentScore(doc, tuple(group)) for doc, group in groups.items()]


def _load_killers(path: Path) -> dict[str, list[str]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: [str(t) for t in v] for k, v in data.items() if isinstance(v, list)} if isinstance(data, dict) else {}


def _save_killers(path: Path, killers: dict[str, list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(dict(sorted(killers.items())), indent=1) + "\n")
    tmp.replace(path)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def _summary(outcomes: Sequence[Outcome], threshold: float) -> str:
    counts = {s: sum(o.status == s for o in outcomes) for s in ("killed", "timeout", "survived", "invalid")}
    return (
        f"score {_shown(score(outcomes))} (threshold {threshold:g}%): {counts['killed']} killed, "
        f"{counts['timeout']} timed out, {counts['survived']} survived, {counts['invalid']} invalid, "
        f"of {len(outcomes)} mutants"
    )


def _rule_text(mutant: Mutant, rules: Mapping[str, Rule], width: int | None = None) -> str:
    if not rules:  # no index was read
        return mutant.rule
    rule = rules.get(mutant.rule)
    if rule is None:
        return f"{mutant.rule or 'no rule named'}: not in the rule index"
    text = " ".join(rule.text.split())
    return text if width is None or len(text) <= width else text[: width - 1] + "…"


def terminal_table(outcomes: Sequence[Outcome], rules: Mapping[str, Rule] | None = None) -> str:
    """Each mutant's verdict; then, with the rule index, the score by document and each survivor's rule."""
    rules = rules or {}
    width = max([len(o.mutant.id) for o in outcomes] + [6])
    rows = [f"{'mutant':{width}}  {'status':8}  {'time':>6}  detail"]
    rows += [f"{o.mutant.id:{width}}  {o.status:8}  {o.seconds:5.0f}s  {o.detail}" for o in outcomes]
    if rules:
        rows += ["", "by document:"]
        for doc in by_document(outcomes, rules):
            rows.append(
                f"  {doc.document}: {_shown(doc.score)} ({doc.count('killed') + doc.count('timeout')} detected, "
                f"{doc.count('survived')} survived, {doc.count('invalid')} invalid, of {len(doc.outcomes)})"
            )
    survivors = [o for o in outcomes if o.status == "survived"]
    if survivors and rules:
        rows += ["", "survivors, each with the rule it breaks:"]
        for o in survivors:
            rows.append(f"  {o.mutant.id}: {o.mutant.rule or '(no rule)'} ({document_of(o.mutant, rules)})")
            rows.append(f"    the mutant: {o.mutant.breaks}")
            rows.append(f"    the rule: {_rule_text(o.mutant, rules, 200)}")
    return "\n".join(rows)


def markdown_report(
    outcomes: Sequence[Outcome],
    threshold: float,
    catalogue: str,
    wall_s: float,
    rules: Mapping[str, Rule] | None = None,
) -> str:
    rules = rules or {}
    survivors = [o for o in outcomes if o.status == "survived"]
    invalid = [o for o in outcomes if o.status == "invalid"]
    lines = [
        "# Mutation testing",
        "",
        f"Catalogue `{catalogue}`, written by `python -m harness.mutation`; a full run took {wall_s / 60:.1f} min.",
        "",
        f"**{_summary(outcomes, threshold)}**",
        "",
    ]
    if rules:
        lines += [
            "## By document",
            "",
            "The score of the mutants of each contract document's rules.",
            "",
            "| document | mutants | killed | timed out | survived | invalid | score |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for doc in by_document(outcomes, rules):
            counts = [doc.count(s) for s in ("killed", "timeout", "survived", "invalid")]
            cells = [f"`{doc.document}`", str(len(doc.outcomes)), *map(str, counts), _shown(doc.score)]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    if survivors:
        lines += [
            "## Survivors",
            "",
            "Each breaks a rule no scenario of the suite pins: a finding for the scenarios.",
            "",
            "| mutant | rule | file | what it changes | the rule |",
            "| --- | --- | --- | --- | --- |",
        ]
        for o in survivors:
            rule = f"`{o.mutant.rule}` ({document_of(o.mutant, rules)})" if o.mutant.rule else "-"
            lines.append(
                f"| `{o.mutant.id}` | {rule} | `{o.mutant.file}` | {_cell(o.mutant.breaks)} | "
                f"{_cell(_rule_text(o.mutant, rules))} |"
            )
        lines.append("")
    if invalid:
        lines += ["## Catalogue errors", "", "| mutant | error |", "| --- | --- |"]
        lines += [f"| `{o.mutant.id}` | {_cell(o.detail)} |" for o in invalid]
        lines.append("")
    lines += ["## Every mutant", "", "| mutant | rule | status | time | detail |", "| --- | --- | --- | --- | --- |"]
    lines += [
        f"| `{o.mutant.id}` | `{o.mutant.rule or '-'}` | {o.status} | {o.seconds:.0f}s | {_cell(o.detail)} |"
        for o in outcomes
    ]
    return "\n".join(lines) + "\n"


def junit_report(outcomes: Sequence[Outcome], suite: str, rules: Mapping[str, Rule] | None = None) -> bytes:
    rules = rules or {}
    root = ElementTree.Element(
        "testsuite",
        name=suite,
        tests=str(len(outcomes)),
        failures=str(sum(o.status == "survived" for o in outcomes)),
        errors=str(sum(o.status == "invalid" for o in outcomes)),
        time=f"{sum(o.seconds for o in outcomes):.3f}",
    )
    for o in outcomes:
        classname = f"{suite}.{document_of(o.mutant, rules)}" if rules else suite
        case = ElementTree.SubElement(root, "testcase", classname=classname, name=o.mutant.id, time=f"{o.seconds:.3f}")
        if o.status == "survived":
            message = f"survived: breaks {o.mutant.rule or 'a rule'}: {o.mutant.breaks}"
            failure = ElementTree.SubElement(case, "failure", message=message)
            failure.text = f"{o.mutant.file}\n{_rule_text(o.mutant, rules)}\nno scenario of the suite sees it"
        elif o.status == "invalid":
            ElementTree.SubElement(case, "error", message=o.detail)
        else:
            ElementTree.SubElement(case, "system-out").text = f"{o.status}: {o.detail}"
    suites = ElementTree.Element("testsuites")
    suites.append(root)
    data: bytes = ElementTree.tostring(suites, encoding="utf-8", xml_declaration=True)
    return data
