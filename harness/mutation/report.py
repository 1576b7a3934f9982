"""The reports of :mod:`harness.mutation.runner`: the score, a table on the terminal,
Markdown and JUnit, and the file of each mutant's killers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from xml.etree import ElementTree

from harness.mutation.catalogue import Mutant

__all__ = ["Outcome", "Status", "junit_report", "markdown_report", "score", "terminal_table"]

Status = Literal["killed", "survived", "timeout", "invalid"]
DETECTED: tuple[Status, ...] = ("killed", "timeout")


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


def _summary(outcomes: Sequence[Outcome], threshold: float) -> str:
    counts = {s: sum(o.status == s for o in outcomes) for s in ("killed", "timeout", "survived", "invalid")}
    got = score(outcomes)
    shown = "n/a" if got is None else f"{got:.1f}%"
    return (
        f"score {shown} (threshold {threshold:g}%): {counts['killed']} killed, {counts['timeout']} timed out, "
        f"{counts['survived']} survived, {counts['invalid']} invalid, of {len(outcomes)} mutants"
    )


def terminal_table(outcomes: Sequence[Outcome]) -> str:
    width = max([len(o.mutant.id) for o in outcomes] + [6])
    rows = [f"{'mutant':{width}}  {'status':8}  {'time':>6}  detail"]
    rows += [f"{o.mutant.id:{width}}  {o.status:8}  {o.seconds:5.0f}s  {o.detail}" for o in outcomes]
    return "\n".join(rows)


def markdown_report(outcomes: Sequence[Outcome], threshold: float, catalogue: str, wall_s: float) -> str:
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
    if survivors:
        lines += [
            "## Survivors",
            "",
            "| mutant | file | breaks | why the suite cannot see it |",
            "| --- | --- | --- | --- |",
        ]
        for o in survivors:
            why = _cell(o.mutant.unobservable) or "-"
            lines.append(f"| `{o.mutant.id}` | `{o.mutant.file}` | {_cell(o.mutant.breaks)} | {why} |")
        lines.append("")
    if invalid:
        lines += ["## Catalogue errors", "", "| mutant | error |", "| --- | --- |"]
        lines += [f"| `{o.mutant.id}` | {_cell(o.detail)} |" for o in invalid]
        lines.append("")
    lines += ["## Every mutant", "", "| mutant | status | time | detail |", "| --- | --- | --- | --- |"]
    lines += [f"| `{o.mutant.id}` | {o.status} | {o.seconds:.0f}s | {_cell(o.detail)} |" for o in outcomes]
    return "\n".join(lines) + "\n"


def junit_report(outcomes: Sequence[Outcome], suite: str) -> bytes:
    root = ElementTree.Element(
        "testsuite",
        name=suite,
        tests=str(len(outcomes)),
        failures=str(sum(o.status == "survived" for o in outcomes)),
        errors=str(sum(o.status == "invalid" for o in outcomes)),
        time=f"{sum(o.seconds for o in outcomes):.3f}",
    )
    for o in outcomes:
        case = ElementTree.SubElement(root, "testcase", classname=suite, name=o.mutant.id, time=f"{o.seconds:.3f}")
        if o.status == "survived":
            message = f"survived: breaks {o.mutant.breaks}"
            failure = ElementTree.SubElement(case, "failure", message=message)
            failure.text = f"{o.mutant.file}\n{o.mutant.unobservable or 'no scenario of the suite sees it'}"
        elif o.status == "invalid":
            ElementTree.SubElement(case, "error", message=o.detail)
        else:
            ElementTree.SubElement(case, "system-out").text = f"{o.status}: {o.detail}"
    suites = ElementTree.Element("testsuites")
    suites.append(root)
    data: bytes = ElementTree.tostring(suites, encoding="utf-8", xml_declaration=True)
    return data
