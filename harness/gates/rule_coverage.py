"""Which scenarios verify which rule: the ``rule`` marker and the rule coverage report.

Registered by :mod:`harness.suites.plugin` for every test tree. A scenario
names the rules of the index (:mod:`harness.gates.rules`) it verifies::

    @pytest.mark.rule("tokens.refresh.rotation", "tokens.refresh.reuse-detection")
    def test_a_used_refresh_token_is_a_replay(api: GatewayApi) -> None: ...

Its transport is the value of its test parameter named in ``transport-params``
of ``[tool.harness.rules]`` (``transport``: the suite's parametrized ``api``),
else the marker's ``transport=`` (a name, or several for a test that runs over
each in one body), else none. A marker naming an id the index does not have
is a usage error.

At the end of a run whose tests name rules, the report: for each rule its
scenarios by transport, and the findings, a rule no scenario verifies and one
verified on fewer of the transports it applies to than all (a rule marked
unobservable is neither). In the terminal summary, the counts and the
findings; in ``<reports>/rule-coverage.json`` and ``.md``, everything. Under
xdist the controller collects it from the workers' reports; under
``--collect-only``, from the collected tests, so a run that only collects
reports what the suite would verify. ``--require-rule-coverage`` fails the run
on a finding.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.gates.rules import ConfigError, Index, Rule, RulesConfig, cached_index, load_config
from harness.paths import CACHE_DIR

__all__ = ["Coverage", "RuleCoverage", "Scenario", "coverage", "render_markdown", "scenario_of", "summary_lines"]

_RULE_PROPERTY = "rule"
_TRANSPORT_PROPERTY = "transport"
_SHOWN = 20
"""How many ids of each kind of finding the terminal lists (the Markdown report lists them all)."""


@dataclass(frozen=True)
class Scenario:
    """A test that names rules, and the transports it runs over (none: no particular one)."""

    nodeid: str
    rules: tuple[str, ...]
    transports: tuple[str, ...] = ()


@dataclass
class RuleCoverage:
    rule: Rule
    scenarios: dict[str, list[str]] = field(default_factory=dict)
    """Transport -> node ids of the scenarios that verify the rule over it (``""``: over no particular one)."""

    @property
    def verified_on(self) -> set[str]:
        return {t for t, ids in self.scenarios.items() if t and ids}

    @property
    def missing(self) -> list[str]:
        """The transports the rule applies to that no scenario verifies it on."""
        return [t for t in self.rule.applies_to if t not in self.verified_on]

    @property
    def status(self) -> str:
        """``covered``, ``partial`` (some transport missing), ``uncovered`` or ``unobservable``."""
        named = any(self.scenarios.values())
        if named and not self.missing:
            return "covered"
        if self.rule.unobservable is not None:
            return "unobservable"
        return "partial" if named else "uncovered"


@dataclass
class Coverage:
    rules: list[RuleCoverage]
    tests: int
    """How many tests the run ran (or collected, under ``--collect-only``)."""
    collect_only: bool = False
    index_problems: int = 0

    def count(self, status: str, document: str | None = None) -> int:
        return sum(1 for r in self.rules if r.status == status and document in (None, r.rule.document))

    @property
    def documents(self) -> list[str]:
        return list(dict.fromkeys(r.rule.document for r in self.rules))

    @property
    def findings(self) -> list[RuleCoverage]:
        return [r for r in self.rules if r.status in ("uncovered", "partial")]

    def as_json(self) -> dict[str, Any]:
        statuses = ("covered", "partial", "uncovered", "unobservable")

        def counts(document: str | None) -> dict[str, int]:
            total = sum(1 for r in self.rules if document in (None, r.rule.document))
            return {"rules": total, **{s: self.count(s, document) for s in statuses}}

        return {
            "tests": self.tests,
            "collect_only": self.collect_only,
            "index_problems": self.index_problems,
            "totals": counts(None),
            "documents": {doc: counts(doc) for doc in self.documents},
            "rules": [
                {
                    "id": r.rule.id,
                    "document": r.rule.document,
                    "line": r.rule.line,
                    "applies_to": list(r.rule.applies_to),
                    "unobservable": r.rule.unobservable,
                    "status": r.status,
                    "missing": r.missing if r.status == "partial" else [],
                    "scenarios": r.scenarios,
                }
                for r in self.rules
            ],
        }


def coverage(index: Index, scenarios: Iterable[Scenario], *, collect_only: bool = False) -> Coverage:
    """Each rule of ``index`` with the ``scenarios`` that name it, by transport."""
    found = [RuleCoverage(rule) for rule in index.by_id().values()]
    by_id = {r.rule.id: r for r in found}
    count = 0
    for scenario in scenarios:
        count += 1
        for rule_id in scenario.rules:
            if (entry := by_id.get(rule_id)) is None:
                continue
            for transport in scenario.transports or ("",):
                entry.scenarios.setdefault(transport, []).append(scenario.nodeid)
    return Coverage(found, count, collect_only, len(index.problems))


def scenario_of(item: pytest.Item, config: RulesConfig) -> Scenario | None:
    """The rules a test names and its transports; None when it names none. Raises
    :class:`pytest.UsageError` for a ``transport=`` outside the configured transports."""
    rules: list[str] = []
    given: list[str] = []
    for marker in item.iter_markers("rule"):
        rules.extend(marker.args)
        value = marker.kwargs.get("transport", ())
        given.extend([value] if isinstance(value, str) else value)
    if not rules:
        return None
    if unknown := sorted(set(given) - set(config.transports)):
        raise pytest.UsageError(f"{item.nodeid}: rule(transport=...) names {unknown}; known: {list(config.transports)}")
    params: Mapping[str, object] = getattr(getattr(item, "callspec", None), "params", {})
    from_params = [str(params[p]) for p in config.transport_params if p in params]
    transports = tuple(dict.fromkeys(from_params or given))
    return Scenario(item.nodeid, tuple(dict.fromkeys(rules)), transports)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("galaxy harness").addoption(
        "--require-rule-coverage",
        action="store_true",
        help="fail the run when a rule of the index is neither verified by its scenarios (on each transport it "
        "applies to) nor marked unobservable (the rule coverage report's findings)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "rule(*ids, transport=None): the scenario verifies these rules of the rule index (harness/gates/rules.py); "
        "transport=: the transport(s) it runs over, where no test parameter says",
    )
    try:
        rules_config = load_config(config.rootpath)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    if rules_config is not None:
        config.pluginmanager.register(_Recorder(config, rules_config), "galaxy-rule-coverage")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.pluginmanager.has_plugin("galaxy-rule-coverage"):
        return
    if named := [item for item in items if item.get_closest_marker("rule") is not None]:
        raise pytest.UsageError(
            f"{named[0].nodeid} names rules, but {config.rootpath / 'pyproject.toml'} has no [tool.harness.rules]"
        )


class _Recorder:
    """The rules of each test, checked where tests are collected and gathered where they are reported."""

    def __init__(self, config: pytest.Config, rules: RulesConfig) -> None:
        self.config = config
        self.rules = rules
        self.scenarios: dict[str, Scenario] = {}
        self.tests = 0
        self._index: Index | None = None
        self.result: Coverage | None = None
        self.failed = False
        self.unknown: dict[str, str] = {}
        """Node id -> a rule id its mark names that the index has not (in an xdist worker)."""

    @property
    def index(self) -> Index:
        if self._index is None:
            self._index = cached_index(self.rules, CACHE_DIR / "rules")
        return self._index

    @property
    def reporting(self) -> bool:
        """Whether this process reports the run: not an xdist worker."""
        return not hasattr(self.config, "workerinput")

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Each test's rules are checked against the index and recorded as properties of its reports (and so
        of the JUnit XML), which carry them to the xdist controller."""
        unknown: dict[str, list[str]] = {}
        for item in items:
            if item.get_closest_marker("rule") is None:
                continue
            scenario = scenario_of(item, self.rules)
            assert scenario is not None
            for rule_id in scenario.rules:
                if rule_id not in self.index.by_id():
                    unknown.setdefault(rule_id, []).append(item.nodeid)
            item.user_properties.extend((_RULE_PROPERTY, rule_id) for rule_id in scenario.rules)
            item.user_properties.extend((_TRANSPORT_PROPERTY, t) for t in scenario.transports)
        if not unknown:
            return
        if not self.reporting:  # an xdist worker: a usage error there crashes it; each such test fails instead
            self.unknown = {nodeid: rule_id for rule_id, ids in unknown.items() for nodeid in ids}
            return
        lines = [f"  {rule_id}: {', '.join(ids[:3])}" for rule_id, ids in sorted(unknown.items())]
        raise pytest.UsageError(
            "rule marks name ids that are not in the rule index (python -m harness.gates.rules):\n" + "\n".join(lines)
        )

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if (rule_id := self.unknown.get(item.nodeid)) is not None:
            pytest.fail(f"usage error: rule mark names {rule_id!r}, which is not in the rule index", pytrace=False)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not self.config.option.collectonly:
            return
        for item in session.items:
            self.tests += 1
            if (scenario := scenario_of(item, self.rules)) is not None:
                self.scenarios[item.nodeid] = scenario

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Each test that ran, as its report tells (the controller gets the workers' reports)."""
        if report.when != "call" or not self.reporting:
            return
        self.tests += 1
        if rules := [str(v) for k, v in report.user_properties if k == _RULE_PROPERTY]:
            transports = [str(v) for k, v in report.user_properties if k == _TRANSPORT_PROPERTY]
            self.scenarios[report.nodeid] = Scenario(report.nodeid, tuple(rules), tuple(transports))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Once every test has reported: the coverage, written out; with ``--require-rule-coverage``, a
        finding fails the run."""
        if not self.reporting or not self.scenarios:
            return
        result = self.result = coverage(self.index, self.scenarios.values(), collect_only=self.collect_only)
        result.tests = self.tests
        reports = self.rules.reports
        reports.mkdir(parents=True, exist_ok=True)
        (reports / "rule-coverage.json").write_text(json.dumps(result.as_json(), indent=1, ensure_ascii=False) + "\n")
        (reports / "rule-coverage.md").write_text(render_markdown(result))
        if self.config.getoption("--require-rule-coverage") and result.findings and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            self.failed = True

    @property
    def collect_only(self) -> bool:
        return bool(self.config.option.collectonly)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.result is None:
            return
        terminalreporter.section("rule coverage")
        for line in summary_lines(self.result, self.rules.reports, self.config.rootpath):
            terminalreporter.write_line(line)
        if self.failed:
            terminalreporter.write_line(
                f"{len(self.result.findings)} rule(s) neither covered nor marked unobservable: "
                "the run fails (--require-rule-coverage)",
                red=True,
            )


def summary_lines(result: Coverage, reports: Path, root: Path) -> list[str]:
    """The terminal's section: the counts, by document, and the findings (the first of each kind)."""
    where = reports.relative_to(root) if reports.is_relative_to(root) else reports
    scope = f"the {result.tests} tests {'collected' if result.collect_only else 'run'}"
    lines = [
        f"{len(result.rules)} rules, by {scope}: {result.count('covered')} covered, "
        f"{result.count('partial')} on too few transports, {result.count('uncovered')} uncovered, "
        f"{result.count('unobservable')} unobservable ({where}/rule-coverage.md)"
    ]
    if result.index_problems:
        lines.append(f"the rule index has {result.index_problems} problem(s): python -m harness.gates.rules")
    for doc in result.documents:
        total = sum(1 for r in result.rules if r.rule.document == doc)
        lines.append(
            f"  {doc}: {result.count('covered', doc)}/{total} covered"
            + (f", {n} partial" if (n := result.count("partial", doc)) else "")
            + (f", {n} unobservable" if (n := result.count("unobservable", doc)) else "")
        )
    uncovered = [r.rule.id for r in result.rules if r.status == "uncovered"]
    partial = [f"{r.rule.id} (no {'/'.join(r.missing)})" for r in result.rules if r.status == "partial"]
    for title, ids in (("uncovered", uncovered), ("on too few transports", partial)):
        if ids:
            shown = ", ".join(ids[:_SHOWN]) + (f" … and {len(ids) - _SHOWN} more" if len(ids) > _SHOWN else "")
            lines.append(f"{title} ({len(ids)}): {shown}")
    return lines


def render_markdown(result: Coverage) -> str:
    """The whole report: counts by document, the findings, the unobservable rules and each rule's scenarios."""
    scope = f"{result.tests} tests {'collected' if result.collect_only else 'run'}"
    out = [
        "# Rule coverage",
        "",
        f"Which scenarios verify each rule of the rule index, by transport, from the {scope}.",
        "",
        "| document | rules | covered | partial | uncovered | unobservable |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for doc in [*result.documents, None]:
        total = sum(1 for r in result.rules if doc in (None, r.rule.document))
        cells = [str(result.count(s, doc)) for s in ("covered", "partial", "uncovered", "unobservable")]
        out.append(f"| {doc or '**all**'} | {total} | {' | '.join(cells)} |")
    sections: list[tuple[str, Sequence[RuleCoverage], str]] = [
        ("Uncovered: no scenario verifies them", [r for r in result.rules if r.status == "uncovered"], "none"),
        ("On too few transports", [r for r in result.rules if r.status == "partial"], "none"),
        ("Unobservable from outside", [r for r in result.rules if r.status == "unobservable"], "none"),
    ]
    for title, rows, empty in sections:
        out += ["", f"## {title} ({len(rows)})", ""]
        out += [_finding(r) for r in rows] or [empty]
    out += ["", "## Rules and their scenarios", ""]
    for r in result.rules:
        if not any(r.scenarios.values()):
            continue
        out.append(f"- `{r.rule.id}` ({r.status})")
        for transport, ids in sorted(r.scenarios.items()):
            out.append(f"  - {transport or 'no particular transport'}: " + ", ".join(f"`{i}`" for i in ids))
    return "\n".join(out) + "\n"


def _finding(entry: RuleCoverage) -> str:
    rule = entry.rule
    where = f"{rule.document}:{rule.line}"
    if entry.status == "unobservable":
        return f"- `{rule.id}` ({where}): {rule.unobservable}"
    if entry.status == "partial":
        on = ", ".join(sorted(entry.verified_on)) or "no transport"
        return f"- `{rule.id}` ({where}): verified on {on}, not on {', '.join(entry.missing)}"
    return f"- `{rule.id}` ({where}): {rule.text[:160]}"
