"""The rule index (harness/gates/rules.py) and the rule coverage report (harness/gates/rule_coverage.py),
on scratch projects: what counts as a statement, the lint's problems, the ``rule`` marker and the report."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from scratch_suite import run_pytest

from harness.gates.rule_coverage import Scenario, coverage, render_markdown
from harness.gates.rules import Index, build_index, cached_index, load_config, main
from harness.paths import PROJECT_ROOT

PYPROJECT = """
[tool.harness.rules]
transports = ["http", "grpc"]
transport-params = ["transport"]
documents = [
    { path = "docs/*.md", exclude = ["docs/README.md"] },
    { path = "api/openapi.json", applies = ["http"] },
    { path = "api/*.proto", applies = ["grpc"] },
]
"""

SPEC = """\
# Spec

<a id="spec.intro" data-applies="http grpc"></a>Every answer is JSON.

<!-- informative -->
This paragraph only explains.

## Limits
- <a id="spec.limit.burst"></a>At most 20 calls at once.
- <a id="spec.limit.redis" data-applies="" data-unobservable="kept in a private key"></a>Counted in Redis.

| name | default |
| --- | --- |
| <a id="spec.env.timeout" data-applies="grpc"></a>`TIMEOUT` | `3s` |

    an example, which belongs to the statement before it
"""

OPENAPI = {
    "info": {"description": '<!-- informative -->\nThe API.\n\n- <a id="api.route.head"></a>GET answers HEAD.'},
    "paths": {"/x": {"get": {"description": '<a id="api.x.get"></a>Gets x.'}}},
}

PROTO = """\
// <!-- informative -->
// The service.
//
// <a id="grpc.errors"></a>Errors carry ErrorInfo.
syntax = "proto3";

service S {
  // <a id="grpc.s.get"></a>Gets it.
  rpc Get(GetRequest) returns (GetResponse);
}
"""


def project(root: Path, spec: str = SPEC, **docs: str) -> Path:
    """A scratch project: its pyproject.toml, docs/spec.md, the OpenAPI document and a proto file."""
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "docs").mkdir(exist_ok=True)
    (root / "docs" / "spec.md").write_text(spec)
    (root / "docs" / "README.md").write_text("Not a rule-bearing document: no ids here.\n")
    for name, text in docs.items():
        (root / "docs" / f"{name}.md").write_text(text)
    (root / "api").mkdir(exist_ok=True)
    (root / "api" / "openapi.json").write_text(json.dumps(OPENAPI, indent=2) + "\n")
    (root / "api" / "s.proto").write_text(PROTO)
    return root


def index_of(root: Path) -> Index:
    config = load_config(root)
    assert config is not None
    return build_index(config)


def test_every_kind_of_statement_is_indexed_with_its_document_line_text_and_transports(tmp_path: Path) -> None:
    index = index_of(project(tmp_path))
    assert [str(p) for p in index.problems] == []
    rules = index.by_id()
    assert list(rules) == [
        "spec.intro",
        "spec.limit.burst",
        "spec.limit.redis",
        "spec.env.timeout",
        "api.route.head",
        "api.x.get",
        "grpc.errors",
        "grpc.s.get",
    ]
    intro = rules["spec.intro"]
    assert (intro.document, intro.line, intro.text, intro.applies_to) == (
        "docs/spec.md",
        3,
        "Every answer is JSON.",
        ("http", "grpc"),
    )
    assert rules["spec.limit.burst"].section == "Spec > Limits"
    assert rules["spec.limit.burst"].applies_to == (), "the document's default: none"
    assert rules["spec.limit.redis"].unobservable == "kept in a private key"
    assert rules["spec.env.timeout"].text == "name: `TIMEOUT`; default: `3s`"
    assert rules["spec.env.timeout"].applies_to == ("grpc",)
    assert rules["api.x.get"].section == "/paths/~1x/get/description"
    assert rules["api.x.get"].applies_to == ("http",)
    assert rules["api.route.head"].line == rules["api.route.head"].line
    assert (rules["grpc.errors"].line, rules["grpc.s.get"].line) == (4, 8)
    assert rules["grpc.s.get"].section == "rpc Get(GetRequest) returns (GetResponse);"
    assert rules["grpc.s.get"].applies_to == ("grpc",)


def test_an_openapi_description_is_placed_on_its_line_of_the_document(tmp_path: Path) -> None:
    root = project(tmp_path)
    lines = (root / "api" / "openapi.json").read_text().splitlines()
    for rule in index_of(root).rules:
        if rule.document == "api/openapi.json":
            assert f'id=\\"{rule.id}\\"' in lines[rule.line - 1]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(
            SPEC + "\nA new paragraph without an id.\n",
            "docs/spec.md:18: this paragraph states a rule but has no rule id",
            id="missing-id-paragraph",
        ),
        pytest.param(
            SPEC.replace('- <a id="spec.limit.burst"></a>', "- "),
            "docs/spec.md:9: this list item states a rule but has no rule id",
            id="missing-id-list-item",
        ),
        pytest.param(
            SPEC.replace('<a id="spec.env.timeout" data-applies="grpc"></a>', ""),
            "docs/spec.md:14: this table row states a rule but has no rule id",
            id="missing-id-table-row",
        ),
        pytest.param(
            SPEC.replace("spec.limit.redis", "spec.limit.burst"),
            "docs/spec.md:10: rule id 'spec.limit.burst' is used twice (first at docs/spec.md:9)",
            id="duplicate",
        ),
        pytest.param(
            SPEC.replace("spec.limit.burst", "spec.Limit_Burst"),
            "docs/spec.md:9: malformed rule id 'spec.Limit_Burst'",
            id="malformed",
        ),
        pytest.param(
            SPEC.replace("spec.limit.burst", "other.limit.burst"),
            "docs/spec.md:9: rule id 'other.limit.burst': this document's ids start with 'spec.'",
            id="namespace-kept",
        ),
        pytest.param(
            SPEC.replace('data-applies="grpc"', 'data-applies="smtp"'),
            "docs/spec.md:14: rule 'spec.env.timeout' applies to unknown transport(s) ['smtp']",
            id="unknown-transport",
        ),
        pytest.param(
            SPEC.replace('data-applies="grpc"', 'data-apply="grpc"'),
            "docs/spec.md:14: rule 'spec.env.timeout': unknown attribute(s) ['data-apply']",
            id="unknown-attribute",
        ),
        pytest.param(
            SPEC.replace('data-unobservable="kept in a private key"', 'data-unobservable=" "'),
            "docs/spec.md:10: rule 'spec.limit.redis': data-unobservable needs its reason",
            id="unobservable-without-reason",
        ),
        pytest.param(
            SPEC.replace("At most 20 calls", 'At most <a id="spec.limit.twenty"></a>20 calls'),
            "docs/spec.md:9: rule id 'spec.limit.twenty' is not at the start of a paragraph, list item or table row",
            id="anchor-not-at-start",
        ),
        pytest.param(
            SPEC.replace("## Limits", '## <a id="spec.limits"></a>Limits'),
            "docs/spec.md:8: rule id 'spec.limits' is not at the start",
            id="anchor-on-heading",
        ),
        pytest.param(
            SPEC.replace("<!-- informative -->\n", ""),
            "docs/spec.md:5: this paragraph states a rule but has no rule id",
            id="informative-marker-removed",
        ),
    ],
)
def test_the_lint_names_file_and_line_of_each_problem(tmp_path: Path, spec: str, expected: str) -> None:
    problems = [str(p) for p in index_of(project(tmp_path, spec)).problems]
    assert any(p.startswith(expected) for p in problems), problems
    assert len(problems) == 1, problems


def test_the_informative_marker_waives_exactly_the_next_block(tmp_path: Path) -> None:
    spec = SPEC + "\n<!-- informative -->\n- one\n- two\n\nAnd this one states a rule.\n"
    problems = [str(p) for p in index_of(project(tmp_path, spec)).problems]
    assert [p.split(":")[1] for p in problems] == ["22"], problems


def test_two_documents_may_not_share_a_namespace(tmp_path: Path) -> None:
    other = '<a id="spec.other"></a>A rule of another document in spec\'s namespace.\n'
    problems = [str(p) for p in index_of(project(tmp_path, other=other)).problems]
    assert problems == ["docs/spec.md:3: namespace 'spec' is already that of docs/other.md's rules"]


def test_proto_and_openapi_statements_need_ids_too(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "api" / "s.proto").write_text(PROTO.replace('<a id="grpc.s.get"></a>', ""))
    document = json.loads((root / "api" / "openapi.json").read_text())
    document["paths"]["/x"]["get"]["responses"] = {"200": {"description": "It."}}
    (root / "api" / "openapi.json").write_text(json.dumps(document, indent=2))
    problems = [(p.document, p.line) for p in index_of(root).problems]
    assert problems == [("api/openapi.json", problems[0][1]), ("api/s.proto", 8)]
    assert '"description": "It."' in (root / "api" / "openapi.json").read_text().splitlines()[problems[0][1] - 1]


def test_the_command_writes_the_index_and_fails_on_a_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project(tmp_path)
    assert main(["--root", str(root)]) == 0
    written = json.loads((root / "reports" / "rules.json").read_text())
    assert [r["id"] for r in written["rules"]][:2] == ["spec.intro", "spec.limit.burst"]
    assert written["rules"][0] == {
        "id": "spec.intro",
        "document": "docs/spec.md",
        "line": 3,
        "section": "Spec",
        "text": "Every answer is JSON.",
        "applies_to": ["http", "grpc"],
        "unobservable": None,
    }
    assert written["documents"] == {"api/openapi.json": 2, "api/s.proto": 2, "docs/spec.md": 4}
    project(root, SPEC + "\nNo id.\n" + '\n<a id="spec.intro"></a>Again.\n')
    assert main(["--root", str(root)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[0] for line in out[:-1]][-2:] == ["docs/spec.md:18", "docs/spec.md:20"]


def test_the_cached_index_is_the_index_of_the_documents_as_they_are_now(tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    root = project(tmp_path / "project")
    config = load_config(root)
    assert config is not None
    cache = tmp_path / "cache"
    first = cached_index(config, cache)
    assert first == build_index(config)
    assert len(list(cache.iterdir())) == 1
    assert cached_index(config, cache) == first, "read back as it was written"
    project(root, SPEC + '\n<a id="spec.new-rule"></a>A rule added.\n')
    assert "spec.new-rule" in cached_index(config, cache).by_id(), "a changed document is read again"


def test_the_project_names_its_rule_documents() -> None:
    """Every document the contracts README lists as rule-bearing is configured, and read without error."""
    config = load_config(PROJECT_ROOT)
    assert config is not None
    index = build_index(config)
    per_document = {doc: sum(1 for r in index.rules if r.document == doc) for doc in index.documents}
    assert all(per_document.values()), per_document
    assert "contracts/tokens.md" in per_document
    assert "contracts/README.md" not in per_document


# The coverage report


def test_coverage_counts_a_rule_per_transport_it_applies_to(tmp_path: Path) -> None:
    index = index_of(project(tmp_path))
    result = coverage(
        index,
        [
            Scenario("t.py::a[http]", ("spec.intro", "spec.limit.burst"), ("http",)),
            Scenario("t.py::a[grpc]", ("spec.limit.burst",), ("grpc",)),
            Scenario("t.py::b", ("grpc.s.get", "api.x.get")),
        ],
    )
    status = {r.rule.id: r.status for r in result.rules}
    assert status == {
        "spec.intro": "partial",  # applies to both, verified over HTTP only
        "spec.limit.burst": "covered",
        "spec.limit.redis": "unobservable",
        "spec.env.timeout": "uncovered",
        "api.route.head": "uncovered",
        "api.x.get": "partial",  # applies to http; its one scenario runs over no particular transport
        "grpc.errors": "uncovered",
        "grpc.s.get": "partial",
    }
    assert [r.rule.id for r in result.findings] == [
        "spec.intro",
        "spec.env.timeout",
        "api.route.head",
        "api.x.get",
        "grpc.errors",
        "grpc.s.get",
    ]
    burst = next(r for r in result.rules if r.rule.id == "spec.limit.burst")
    assert burst.scenarios == {"http": ["t.py::a[http]"], "grpc": ["t.py::a[grpc]"]}
    page = render_markdown(result)
    assert "- `spec.intro` (docs/spec.md:3): verified on http, not on grpc" in page
    assert "- `spec.limit.redis` (docs/spec.md:10): kept in a private key" in page


SCENARIOS = """
import pytest

@pytest.fixture(params=["http", "grpc"])
def transport(request):
    return request.param

@pytest.mark.rule("spec.intro", "spec.limit.burst")
def test_over_both(transport):
    pass

@pytest.mark.rule("spec.env.timeout", transport="grpc")
def test_grpc_only():
    pass

@pytest.mark.rule("api.x.get")
def test_no_transport():
    pass

def test_names_no_rule():
    pass
"""


def scratch_suite(root: Path, tests: str = SCENARIOS) -> Path:
    project(root)
    (root / "test_scenarios.py").write_text(textwrap.dedent(tests))
    return root


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_a_run_writes_the_report_and_a_summary_section(tmp_path: Path, workers: list[str]) -> None:
    root = scratch_suite(tmp_path)
    done = run_pytest(root, "-p", "no:randomly", *workers, "test_scenarios.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rule coverage" in done.stdout
    assert "8 rules, by the 5 tests run: 3 covered, 1 on too few transports, 3 uncovered, 1 unobservable" in done.stdout
    assert "uncovered (3): api.route.head, grpc.errors, grpc.s.get" in done.stdout
    assert "on too few transports (1): api.x.get (no http)" in done.stdout
    report = json.loads((root / "reports" / "rule-coverage.json").read_text())
    rules = {r["id"]: r for r in report["rules"]}
    assert rules["spec.intro"]["scenarios"] == {
        "http": ["test_scenarios.py::test_over_both[http]"],
        "grpc": ["test_scenarios.py::test_over_both[grpc]"],
    }
    assert rules["spec.env.timeout"]["scenarios"] == {"grpc": ["test_scenarios.py::test_grpc_only"]}
    assert rules["spec.env.timeout"]["status"] == "covered"
    assert report["totals"] == {"rules": 8, "covered": 3, "partial": 1, "uncovered": 3, "unobservable": 1}
    assert (root / "reports" / "rule-coverage.md").read_text().startswith("# Rule coverage")


def test_collect_only_reports_what_the_suite_would_verify_and_can_require_coverage(tmp_path: Path) -> None:
    root = scratch_suite(tmp_path)
    done = run_pytest(root, "--collect-only", "-q", "test_scenarios.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "by the 5 tests collected" in done.stdout
    strict = run_pytest(root, "--collect-only", "-q", "--require-rule-coverage", "test_scenarios.py")
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "4 rule(s) neither covered nor marked unobservable: the run fails" in strict.stdout
    assert json.loads((root / "reports" / "rule-coverage.json").read_text())["collect_only"] is True


UNBUILDABLE_SUITE = """
from harness.topology.declaration import Service, Topology

TOPOLOGY = Topology(
    name="scratch",
    services=(Service("no-such-command", listens={"http": "X_HTTP_ADDR"}, ready_file="X_READY_FILE"),),
    redis=None,
)
"""


def test_a_run_that_only_collects_a_suite_builds_none_of_its_services(tmp_path: Path) -> None:
    """``nox -s rules`` collects every suite: it must need no service built (here one cannot be)."""
    root = scratch_suite(tmp_path)
    (root / "conftest.py").write_text(UNBUILDABLE_SUITE)

    ran = run_pytest(root, "-p", "no:randomly", "test_scenarios.py")
    assert ran.returncode == pytest.ExitCode.USAGE_ERROR, ran.stdout + ran.stderr
    assert "cannot build no-such-command" in ran.stdout + ran.stderr

    collected = run_pytest(root, "--collect-only", "-q", "test_scenarios.py")
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert "cannot build" not in collected.stdout + collected.stderr
    assert "by the 5 tests collected" in collected.stdout


def test_a_rule_mark_naming_an_unknown_id_is_a_usage_error(tmp_path: Path) -> None:
    root = scratch_suite(tmp_path, SCENARIOS + '\n@pytest.mark.rule("spec.no-such-rule")\ndef test_x():\n    pass\n')
    done = run_pytest(root, "test_scenarios.py")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "spec.no-such-rule: test_scenarios.py::test_x" in done.stderr
    under_xdist = run_pytest(root, "-n", "2", "test_scenarios.py")
    assert under_xdist.returncode == pytest.ExitCode.TESTS_FAILED, under_xdist.stdout + under_xdist.stderr
    assert "usage error: rule mark names 'spec.no-such-rule', which is not in the rule index" in under_xdist.stdout


def test_a_rule_mark_with_an_unknown_transport_is_a_usage_error(tmp_path: Path) -> None:
    root = scratch_suite(tmp_path, SCENARIOS.replace('transport="grpc"', 'transport="smtp"'))
    done = run_pytest(root, "test_scenarios.py")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "rule(transport=...) names ['smtp']" in done.stderr


def test_a_run_whose_tests_name_no_rule_writes_no_report(tmp_path: Path) -> None:
    root = scratch_suite(tmp_path, "def test_plain():\n    pass\n")
    done = run_pytest(root, "test_scenarios.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rule coverage" not in done.stdout
    assert not (root / "reports").exists()


def test_the_command_line_runs_as_a_module(tmp_path: Path) -> None:
    root = project(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "harness.gates.rules", "--root", str(root)],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "8 rules in 3 documents" in done.stdout
