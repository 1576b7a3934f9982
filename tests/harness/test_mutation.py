"""The mutation runner (harness/mutation/runner.py) on a throwaway Go workspace, a
tiny pytest suite and two contract documents: a mutant the suite sees is killed
(and its killer runs first next time), one it cannot see survives and fails the
score, reported with its rule's text and its document's score, a fragment that
is not found and a mutant that does not compile are catalogue errors."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path
from xml.etree import ElementTree

import pytest

from harness.mutation import catalogue as mutation_catalogue
from harness.mutation import runner as mutation
from harness.mutation.plugin import ONLY_ENV
from harness.paths import PROJECT_ROOT

CALC = """\
package calc

// Add adds.
func Add(a, b int) int { return a + b }
"""

SUITE = """\
import os
from pathlib import Path

import pytest

SOURCE = Path(os.environ["GALAXY_ROOT"]) / "calc" / "calc.go"


@pytest.mark.parametrize("case", ["with spaces"])  # a node id holding a space
def test_add_adds(case):
    assert "a + b" in SOURCE.read_text()


def test_the_workspace_is_a_copy():
    assert SOURCE.is_file()
"""

CATALOGUE = """\
[[mutant]]
id = "add-subtracts"
rule = "calc.add"
file = "calc/calc.go"
find = "a + b"
replace = "a - b"
breaks = "Add subtracts"

[[mutant]]
id = "comment-reworded"
rule = "calc.doc"
file = "calc/calc.go"
find = "// Add adds."
replace = "// Add sums."
breaks = "the comment says sums"

[[mutant]]
id = "does-not-compile"
rule = "calc.add"
file = "calc/calc.go"
find = "return a + b"
replace = 'return a + "b"'
breaks = "a catalogue error"

[[mutant]]
id = "fragment-gone"
rule = "other.mul"
file = "calc/calc.go"
find = "a * b"
replace = "a / b"
breaks = "a fragment that rotted"
"""

RULES = """
[tool.harness.rules]
transports = ["http", "grpc"]
documents = [{ path = "contracts/*.md" }]
"""

CALC_RULES = """\
# Calc

<a id="calc.add"></a>Add adds its arguments.

<a id="calc.doc"></a>Add says what it does.
"""

OTHER_RULES = """\
# Other

<a id="other.mul"></a>Mul multiplies.
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Go workspace (module ``calc``), a two-test suite of it and a catalogue."""
    workspace = tmp_path / "ws"
    (workspace / "calc").mkdir(parents=True)
    (workspace / "go.work").write_text("go 1.26\n\nuse ./calc\n")
    (workspace / "calc" / "go.mod").write_text("module calc\n\ngo 1.26\n")
    (workspace / "calc" / "calc.go").write_text(CALC)
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "suite" / "test_calc.py").write_text(SUITE)
    (tmp_path / "mutants.toml").write_text(CATALOGUE)
    (tmp_path / "pyproject.toml").write_text(RULES)
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "calc.md").write_text(CALC_RULES)
    (tmp_path / "contracts" / "other.md").write_text(OTHER_RULES)
    monkeypatch.setenv("GALAXY_ROOT", str(workspace))
    return tmp_path


def _run(project: Path, *args: str) -> int:
    return mutation.main(
        [
            *("--catalogue", str(project / "mutants.toml"), "--killers", str(project / "killers.json")),
            *("--report", str(project / "mutation.md"), "--junit", str(project / "mutation.xml")),
            *("--work", str(project / "work"), "--rules-root", str(project), *args),
            *("--", sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"),
            str(project / "suite"),
        ]
    )


def _cases(project: Path) -> dict[str, str]:
    """Each mutant's JUnit verdict: passed, failure or error."""
    return {name: verdict for name, (verdict, _) in _junit(project).items()}


def _junit(project: Path) -> dict[str, tuple[str, str]]:
    """Each mutant's JUnit verdict and class (its rule's document)."""
    root = ElementTree.parse(project / "mutation.xml").getroot()  # noqa: S314 - written by the test
    verdict = {}
    for case in root.iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error")]
        verdict[case.get("name", "")] = (kinds[0] if kinds else "passed", case.get("classname", ""))
    return verdict


def test_the_runner_kills_keeps_survivors_and_reports_catalogue_errors(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(project, "--no-baseline") == 2  # catalogue errors win over the score

    out = capsys.readouterr().out
    assert _cases(project) == {
        "add-subtracts": "passed",
        "comment-reworded": "failure",
        "fragment-gone": "error",
        "does-not-compile": "error",
    }
    assert "the fragment occurs 0 times in calc/calc.go" in out
    assert "does not compile: go build -trimpath ./... failed" in out
    assert "  contracts/calc.md: 50.0% (1 detected, 1 survived, 1 invalid, of 3)" in out
    assert "  comment-reworded: calc.doc (contracts/calc.md)" in out
    assert "    the rule: Add says what it does." in out
    report = (project / "mutation.md").read_text()
    assert "score 50.0%" in report
    assert "| `contracts/calc.md` | 3 | 1 | 0 | 1 | 1 | 50.0% |" in report
    assert "| `contracts/other.md` | 1 | 0 | 0 | 0 | 1 | n/a |" in report
    survivor = "| `comment-reworded` | `calc.doc` (contracts/calc.md) | `calc/calc.go` | the comment says sums |"
    assert f"{survivor} Add says what it does. |" in report
    assert _junit(project)["comment-reworded"] == ("failure", "mutation.contracts/calc.md")
    killers = json.loads((project / "killers.json").read_text())
    assert killers == {"add-subtracts": ["test_calc.py::test_add_adds[with spaces]"]}
    assert not [p for p in (project / "work").iterdir() if p.is_dir()]  # the copy is gone
    assert "a + b" in (project / "ws" / "calc" / "calc.go").read_text()  # the source is untouched


def test_the_recorded_killer_runs_first_and_the_score_decides_the_exit_code(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "killers.json").write_text(json.dumps({"add-subtracts": ["test_calc.py::test_add_adds[with spaces]"]}))

    assert _run(project, "--only", "add-subtracts") == 0
    assert "killed" in capsys.readouterr().out
    assert "by test_calc.py::test_add_adds[with spaces] (run first)" in (project / "mutation.md").read_text()

    assert _run(project, "--only", "add-subtracts,comment-reworded") == 1  # 50% < 95%
    assert _cases(project) == {"add-subtracts": "passed", "comment-reworded": "failure"}


def test_the_scenarios_that_name_the_rule_run_first(project: Path) -> None:
    suite = (project / "suite" / "test_calc.py").read_text()
    named = '@pytest.mark.rule("calc.add")\ndef test_add_is_named():\n    assert "a + b" in SOURCE.read_text()\n'
    (project / "suite" / "test_calc.py").write_text(f"{suite}\n\n{named}")

    assert _run(project, "--only", "add-subtracts") == 0
    assert "by test_calc.py::test_add_is_named (run first)" in (project / "mutation.md").read_text()
    assert json.loads((project / "killers.json").read_text()) == {"add-subtracts": ["test_calc.py::test_add_is_named"]}


def test_a_quick_pass_reports_what_the_tests_run_first_let_through_as_a_lower_bound(project: Path) -> None:
    (project / "killers.json").write_text(json.dumps({"add-subtracts": ["test_calc.py::test_add_adds[with spaces]"]}))

    assert _run(project, "--only", "add-subtracts,comment-reworded", "--first-only") == 1
    assert _cases(project) == {"add-subtracts": "passed", "comment-reworded": "failure"}
    report = (project / "mutation.md").read_text()
    assert "A quick pass (`--first-only`)" in report
    assert f"{mutation.FIRST_ONLY_SURVIVOR}: rule:calc.doc" in report


def test_the_tests_kept_run_in_the_order_of_the_lines_that_keep_them(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers = rule\n")
    tests = "".join(
        (f'@pytest.mark.rule("{rule}")\n' if rule else "") + f"def test_{name}():\n    pass\n\n\n"
        for name, rule in [("a", ""), ("b", "r.one"), ("c", ""), ("d", "r.two"), ("e", "r.one")]
    )
    (tmp_path / "test_order.py").write_text(f"import pytest\n\n\n{tests}")
    (tmp_path / "only.txt").write_text("test_order.py::test_c\nrule:r.one\n")
    # Another plugin's sort, as late as a plugin's can be (a suite's long-tests-first is one), must not undo it.
    (tmp_path / "conftest.py").write_text(
        "import pytest\n\n\n@pytest.hookimpl(trylast=True)\n"
        "def pytest_collection_modifyitems(items):\n    items.reverse()\n"
    )
    env = {**os.environ, ONLY_ENV: str(tmp_path / "only.txt"), "PYTEST_PLUGINS": "harness.mutation.plugin"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    argv = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
    run = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)

    collected = [line for line in run.stdout.splitlines() if line.startswith("test_order.py::")]
    assert collected == ["test_order.py::test_c", "test_order.py::test_b", "test_order.py::test_e"], run.stdout


def test_a_seed_of_killers_stands_in_where_none_are_recorded(project: Path) -> None:
    (project / "seed.json").write_text(json.dumps({"add-subtracts": ["test_calc.py::test_add_adds[with spaces]"]}))

    assert _run(project, "--only", "add-subtracts", "--seed-killers", str(project / "seed.json")) == 0
    assert "by test_calc.py::test_add_adds[with spaces] (run first)" in (project / "mutation.md").read_text()
    assert json.loads((project / "seed.json").read_text()) == {  # the seed is read, never written
        "add-subtracts": ["test_calc.py::test_add_adds[with spaces]"]
    }


def test_the_mutants_of_some_rules_or_of_one_document_are_selected(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def listed(*args: str) -> list[str]:
        assert _run(project, "--list", *args) == 0
        return [line.split()[0] for line in capsys.readouterr().out.splitlines() if not line.startswith(" ")]

    assert listed("--rules", "calc.add") == ["add-subtracts", "does-not-compile"]
    assert listed("--rules", "calc.doc,other.") == ["comment-reworded", "fragment-gone"]
    assert listed("--document", "other.md") == ["fragment-gone"]
    assert listed("--document", "contracts/calc.md", "--only", "add-subtracts,fragment-gone") == ["add-subtracts"]
    assert _run(project, "--list", "--document", "nowhere.md") == 2
    assert "no mutant of the catalogue is selected" in capsys.readouterr().err


def test_a_baseline_that_fails_stops_the_run(project: Path) -> None:
    (project / "ws" / "calc" / "calc.go").write_text(CALC.replace("a + b", "a - b"))
    assert _run(project) == 3
    assert not (project / "mutation.xml").exists()


def test_a_fragment_found_twice_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f.go").write_text("x := 1\nx := 1\n")
    mutant = mutation_catalogue.Mutant("twice", "f.go", "x := 1", "x := 2", "nothing")
    with pytest.raises(mutation_catalogue.CatalogueError, match="occurs 2 times"):
        mutation_catalogue.apply(mutant, tmp_path)


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ('broken = "yes"\n', "unknown keys"),
        ('\n[gaps]\n"calc.doc" = 1\n', "gaps. must map rule ids"),
        ('\n[holes]\n"calc.doc" = "why"\n', "unknown tables"),
    ],
    ids=["unknown-key", "gap-without-a-reason", "unknown-table"],
)
def test_a_malformed_catalogue_is_refused(tmp_path: Path, extra: str, error: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(textwrap.dedent(CATALOGUE.split("\n\n", maxsplit=1)[0]) + "\n" + extra)
    with pytest.raises(mutation_catalogue.CatalogueError, match=error):
        mutation_catalogue.load_catalogue(path)


NAMED = """\
[[mutant]]
id = "comment-exclaims"
file = "calc/calc.go"
find = "// Add adds."
replace = "// Add adds!"
breaks = "only the comment command can see it"
killed_by = "comment"
"""

SEES_THE_COMMENT = (
    "import os, sys; "
    "sys.exit(1 if 'adds!' in open(os.path.join(os.environ['GALAXY_ROOT'], 'calc', 'calc.go')).read() else 0)"
)


def test_a_mutant_killed_by_a_command_of_its_own_is_tested_with_it(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "mutants.toml").write_text(NAMED)
    comment = f"--command=comment={sys.executable} -c {shlex.quote(SEES_THE_COMMENT)}"

    assert _run(project, comment) == 0
    assert "killed" in capsys.readouterr().out
    assert _cases(project) == {"comment-exclaims": "passed"}
    assert "by the comment command" in (project / "mutation.md").read_text()

    assert _run(project, comment, "--with", "default") == 1, "the suite lets it through"
    assert _cases(project) == {"comment-exclaims": "failure"}

    assert _run(project) == 2, "a mutant whose command is not given is a catalogue error"
    assert "tested by command 'comment', which was not given" in capsys.readouterr().err

    assert _run(project, f"--command=comment={sys.executable} -c 'raise SystemExit(3)'", "--no-baseline") == 2
    assert "the comment command exited 3, not a finding" in capsys.readouterr().out
