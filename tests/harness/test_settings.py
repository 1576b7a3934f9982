"""The documented variables a topology's settings name: read from a service's table of variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.paths import PROJECT_ROOT
from harness.topology.settings import SettingsError, documented_variables

README = """\
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
    (tmp_path / "README.md").write_text(README)

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
