"""The check of the mutation catalogues against the rule index (harness/mutation/coverage.py): on a
scratch index, each kind of problem it reports; on the project, that its catalogues break every rule
not marked unobservable, or say why none can, and apply to the workspace."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.gates.rules import Index, Rule
from harness.mutation.catalogue import Catalogue, Mutant, load_catalogue
from harness.mutation.coverage import check, project_index, summary_lines
from harness.paths import galaxy_root
from harness.suites.registry import suites

DOCS = ["contracts/a.md", "contracts/b.md"]
RULES = [
    Rule("a.one", DOCS[0], 3, "A", "A one.", ()),
    Rule("a.two", DOCS[0], 5, "A", "A two.", (), unobservable="a private key"),
    Rule("a.three", DOCS[0], 7, "A", "A three.", ()),
    Rule("b.one", DOCS[1], 3, "B", "B one.", ()),
    Rule("b.two", DOCS[1], 5, "B", "B two.", ()),
]


def _index() -> Index:
    return Index(rules=list(RULES), documents=list(DOCS))


def _mutant(id_: str, rule: str, find: str = "x := 1") -> Mutant:
    return Mutant(id_, "m/f.go", find, "x := 2", "x is 2", rule)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "f.go").write_text("x := 1\ny := 1\ny := 1\n")
    return tmp_path


def _catalogue(*mutants: Mutant, gaps: dict[str, str] | None = None) -> Catalogue:
    return Catalogue(Path("/scratch/mutants.toml"), list(mutants), gaps or {})


GOOD = (_mutant("m1", "a.one"), _mutant("m3", "a.three"), _mutant("m4", "b.one"), _mutant("m5", "b.two"))


def test_catalogues_that_break_every_observable_rule_pass(workspace: Path) -> None:
    result = check(_index(), [_catalogue(*GOOD[:2]), _catalogue(*GOOD[2:])], workspace)

    assert result.problems == []
    assert result.mutated == {"a.one": ["m1"], "a.three": ["m3"], "b.one": ["m4"], "b.two": ["m5"]}
    assert result.count() == {"mutated": 4, "gap": 0, "unobservable": 1, "missing": 0}
    assert summary_lines(result)[1:] == ["  contracts/a.md: 2 mutated, 1 unobservable", "  contracts/b.md: 2 mutated"]


@pytest.mark.parametrize(
    ("mutants", "gaps", "problem"),
    [
        ((*GOOD, _mutant("m6", "")), {}, "mutant m6 names no rule"),
        ((*GOOD, _mutant("m6", "c.one")), {}, "mutant m6 breaks c.one, which the rule index has not"),
        ((*GOOD, _mutant("m6", "a.two")), {}, "mutant m6 breaks a.two, which is marked unobservable (a private key)"),
        ((*GOOD[:3], _mutant("m5", "b.two", "z := 1")), {}, "its fragment occurs 0 times in m/f.go"),
        ((*GOOD[:3], _mutant("m5", "b.two", "y := 1")), {}, "its fragment occurs 2 times in m/f.go"),
        (GOOD[:3], {}, "contracts/b.md:5: rule b.two has no mutant in any catalogue"),
        ((GOOD[2], GOOD[0], GOOD[1], GOOD[3]), {}, "mutant m1 (contracts/a.md) comes after mutants of contracts/b.md"),
        (GOOD[:3], {"b.two": " "}, "gap b.two gives no reason"),
        (GOOD, {"c.*": "why"}, "gap c.* names no rule of the index"),
        (GOOD, {"b.one": "why"}, "gap b.one is stale: every rule it names has a mutant or is unobservable"),
        (GOOD, {"b.*": "why"}, "gap b.* is stale"),
    ],
    ids=[
        "no-rule",
        "unknown-rule",
        "unobservable-rule",
        "fragment-missing",
        "fragment-twice",
        "rule-without-mutant",
        "not-grouped-by-document",
        "gap-without-reason",
        "gap-naming-nothing",
        "stale-gap",
        "stale-prefix-gap",
    ],
)
def test_each_problem_is_reported(
    workspace: Path, mutants: tuple[Mutant, ...], gaps: dict[str, str], problem: str
) -> None:
    result = check(_index(), [_catalogue(*mutants, gaps=gaps)], workspace)
    assert any(problem in p for p in result.problems), result.problems


def test_a_gap_with_a_reason_stands_for_a_mutant_and_a_prefix_names_every_rule_it_starts() -> None:
    gaps = {"b.one": "b.one cannot be mutated", "b.t*": "nor b.two"}
    result = check(_index(), [_catalogue(*GOOD[:2], gaps=gaps)])
    assert result.problems == []
    assert result.gaps == {"b.one": "b.one cannot be mutated", "b.two": "nor b.two"}
    assert result.count(DOCS[1]) == {"mutated": 0, "gap": 2, "unobservable": 0, "missing": 0}


def test_a_catalogue_file_reads_its_rules_and_gaps(tmp_path: Path) -> None:
    path = tmp_path / "mutants.toml"
    path.write_text(
        textwrap.dedent(
            """\
            [[mutant]]
            id = "m1"
            rule = "a.one"
            file = "m/f.go"
            find = "x := 1"
            replace = "x := 2"
            breaks = "x is 2"

            [gaps]
            "b.*" = "why"
            """
        )
    )
    catalogue = load_catalogue(path)
    assert catalogue.mutants == [_mutant("m1", "a.one")]
    assert catalogue.gaps == {"b.*": "why"}


def test_the_projects_catalogues_break_every_observable_rule_or_say_why_not() -> None:
    index = project_index()
    assert index is not None
    assert not index.problems
    catalogues = [load_catalogue(s.mutants) for s in suites() if s.mutants.is_file()]
    result = check(index, catalogues, galaxy_root())
    assert result.problems == [], "\n".join(result.problems)
