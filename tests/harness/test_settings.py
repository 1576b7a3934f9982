"""Settings are the services' own (harness/topology/settings.py): a scenario names
a variable a service documents, and every variable a declared topology sends is one
its service documents. That each documented default is the service's own default,
its config package's Go test proves (``TestDocumented``, galaxy/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.paths import PROJECT_ROOT
from harness.suites.registry import Suite, suites
from harness.topology.declaration import GoCommand, Service, Topology
from harness.topology.settings import Settings, SettingsError, documented_variables

README = """# services

## alpha
| variable | default | meaning |
| --- | --- | --- |
| `ALPHA_ADDR` | `:9090` | listen address |
| <a id="galaxy.env.alpha-code-ttl"></a>`ALPHA_CODE_TTL` | `10m` | lifetime |
| `ALPHA_KEY` | required | a key |
| `ALPHA_READY_FILE` | — | path |

## <a id="b"></a>beta
| `BETA_CODE_TTL` | `5m` | lifetime |
| `BETA_BURST` | `20` | burst |
"""


@pytest.fixture
def topology(tmp_path: Path) -> Topology:
    (tmp_path / "README.md").write_text(README)
    docs = str(tmp_path / "README.md")
    return Topology(
        "alphabeta",
        services=(
            Service("alpha", listens={"grpc": "ALPHA_ADDR"}, ready_file="ALPHA_READY_FILE", docs=f"{docs}#alpha"),
            Service("beta", listens={"grpc": "BETA_ADDR"}, ready_file="BETA_READY_FILE", docs=f"{docs}#beta"),
        ),
        redis=None,
    )


def test_the_documented_variables_are_the_section_s_table_anchors_and_all(topology: Topology) -> None:
    docs = topology.service("alpha").docs
    assert docs is not None
    assert documented_variables(docs, Path("/")) == (
        ("ALPHA_ADDR", ":9090"),
        ("ALPHA_CODE_TTL", "10m"),
        ("ALPHA_KEY", None),
        ("ALPHA_READY_FILE", None),
    )


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ({}, {"alpha": {}, "beta": {}}),
        ({"burst": 3}, {"alpha": {}, "beta": {"BETA_BURST": "3"}}),
        ({"alpha_code_ttl": "1s"}, {"alpha": {"ALPHA_CODE_TTL": "1s"}, "beta": {}}),
    ],
    ids=["nothing-given-nothing-sent", "a-short-name", "a-whole-name"],
)
def test_only_what_a_scenario_gives_is_sent(
    topology: Topology, given: dict[str, object], sent: dict[str, dict[str, str]]
) -> None:
    settings = Settings(topology, given)
    assert {name: settings.for_service(name) for name in ("alpha", "beta")} == sent


def test_a_setting_not_given_is_the_documented_default(topology: Topology) -> None:
    settings = Settings(topology, {"beta_code_ttl": "1m"})
    assert settings.value("alpha_code_ttl") == "10m"
    assert settings.value("beta_code_ttl") == "1m"
    assert settings.value("key") is None


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("code_ttl", "ambiguous here: say alpha_code_ttl or beta_code_ttl"),
        ("codettl", "unknown setting 'codettl': no service of alphabeta documents it"),
    ],
    ids=["ambiguous", "undocumented"],
)
def test_a_setting_that_names_no_one_documented_variable_is_refused(
    topology: Topology, name: str, problem: str
) -> None:
    with pytest.raises(SettingsError, match=problem):
        Settings(topology, {name: "1s"})


def _sent(service: Service) -> list[str]:
    """Every variable the harness sends ``service`` from its declaration."""
    return [*service.env, *service.listens.values(), service.ready_file]


@pytest.mark.parametrize("suite", suites(), ids=lambda s: s.name)
def test_every_variable_a_registered_topology_sends_is_one_its_service_documents(suite: Suite) -> None:
    for service in suite.topology().services:
        if isinstance(service.program, GoCommand):
            assert service.docs, f"{suite.name}: {service.name} names no documentation of its variables (docs=)"
        if service.docs is None:
            continue
        documented = {name for name, _ in documented_variables(service.docs)}
        undocumented = [var for var in _sent(service) if var not in documented]
        assert not undocumented, f"{suite.name}: {service.name} is sent {undocumented}, which {service.docs} lacks"


ANCHORED_README = """\
# services

## alpha
Alpha's variables:

| variable | default | meaning |
| --- | --- | --- |
| `ALPHA_PLAIN` | `1s` | a row without an anchor |
| <a id="doc.env.alpha-named"></a>`ALPHA_NAMED` | required | a row whose rule id comes first |
| <a id="doc.env.alpha-two" data-applies="http"></a> <a id="alpha-two"></a>`ALPHA_TWO` | — | two anchors |

## beta
| variable | default | meaning |
| --- | --- | --- |
| `BETA_ONLY` | `5` | another section's |
"""


@pytest.mark.parametrize(
    ("docs", "want"),
    [
        ("README.md#alpha", (("ALPHA_PLAIN", "1s"), ("ALPHA_NAMED", None), ("ALPHA_TWO", None))),
        ("README.md#beta", (("BETA_ONLY", "5"),)),
    ],
    ids=["rows-with-and-without-rule-anchors", "another-section"],
)
def test_a_sections_table_gives_its_variables_and_defaults(
    tmp_path: Path, docs: str, want: tuple[tuple[str, str | None], ...]
) -> None:
    (tmp_path / "README.md").write_text(ANCHORED_README)

    assert documented_variables(docs, tmp_path) == want


def test_a_section_without_a_table_of_variables_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# services\n\n## gamma\nNo table here.\n")

    with pytest.raises(SettingsError, match="no table of variables"):
        documented_variables("README.md#gamma", tmp_path)


def test_every_variable_of_the_services_readme_is_read() -> None:
    """galaxy/README.md's tables, whose rows carry rule ids: every row of each service's table is a variable."""
    text = (PROJECT_ROOT / "galaxy" / "README.md").read_text()
    for service in ("authsession", "gateway", "user"):
        section = text.split(f"\n## {service}\n", 1)[1].split("\n## ", 1)[0]
        rows = [line for line in section.splitlines() if line.startswith("| ") and "`" in line.split("|")[1]]
        found = documented_variables(f"galaxy/README.md#{service}")
        assert len(found) == len(rows), (service, found)
        assert all(name.startswith(service.upper() + "_") for name, _ in found), found
