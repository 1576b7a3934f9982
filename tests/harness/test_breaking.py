"""The static contract gates (harness/gates/breaking.py) fail on a breaking
protobuf or OpenAPI change and pass a compatible one, on throwaway commits
of a scratch repository that holds this project's contracts."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.builds.refs import BASE_ENV, RefError, base_ref
from harness.gates.breaking import check
from harness.paths import PROJECT_ROOT

PROTO = "proto"
OPENAPI = "openapi.json"
GATEWAY_PROTO = Path(PROTO) / "galaxy/gateway/v1/gateway.proto"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository whose first commit holds the project's protobuf files and the gateway's OpenAPI document."""
    monkeypatch.delenv(BASE_ENV, raising=False)
    shutil.copytree(PROJECT_ROOT / PROTO, tmp_path / PROTO)
    shutil.copy(PROJECT_ROOT / "galaxy/gateway/api/openapi/openapi.json", tmp_path / OPENAPI)
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "root")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "base")
    return tmp_path


def _commit(repo: Path, message: str) -> None:
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-am", message)


def _gates(repo: Path) -> dict[str, list[str]]:
    return {r.name.split(" ")[0]: r.findings for r in check(repo, base_ref(repo), proto=PROTO, openapi=OPENAPI)}


def _edit_openapi(repo: Path, edit: Callable[[dict[str, Any]], object]) -> None:
    doc = json.loads((repo / OPENAPI).read_text())
    edit(doc)
    (repo / OPENAPI).write_text(json.dumps(doc, indent=2))


def test_a_compatible_change_passes_both_gates(repo: Path) -> None:
    proto = repo / GATEWAY_PROTO
    text = proto.read_text()
    message = text.index("message ", text.index("message ") + 1)  # a message of the file
    closing = text.index("\n}", message)
    number = 1 + max(int(n) for n in re.findall(r"= (\d+);", text[message:closing]))
    proto.write_text(text[:closing] + f"\n  string added_for_a_test = {number};" + text[closing:])
    _edit_openapi(repo, lambda doc: doc.setdefault("info", {}).update(description="a compatible change"))
    _commit(repo, "compatible")

    assert _gates(repo) == {"protobuf": [], "OpenAPI": []}


def test_a_removed_protobuf_field_fails_the_protobuf_gate(repo: Path) -> None:
    proto = repo / GATEWAY_PROTO
    lines = proto.read_text().splitlines(keepends=True)
    field = next(i for i, line in enumerate(lines) if line.strip().startswith("string ") and "= 1;" in line)
    name = lines[field].split()[1]
    del lines[field]
    proto.write_text("".join(lines))
    _commit(repo, "breaking proto")

    found = _gates(repo)
    assert found["OpenAPI"] == []
    assert found["protobuf"], "removing a field must break the protobuf contract"
    assert any(name in f or "FIELD_NO_DELETE" in f for f in found["protobuf"]), found["protobuf"]


def test_a_removed_path_fails_the_openapi_gate(repo: Path) -> None:
    doc = json.loads((repo / OPENAPI).read_text())
    path = sorted(doc["paths"])[0]
    _edit_openapi(repo, lambda d: d["paths"].pop(path))
    _commit(repo, "breaking openapi")

    found = _gates(repo)
    assert found["protobuf"] == []
    assert found["OpenAPI"], f"removing {path} must break the OpenAPI contract"
    assert any(path in f for f in found["OpenAPI"]), found["OpenAPI"]


def test_the_cli_writes_junit_and_fails_on_a_breaking_change(repo: Path) -> None:
    _edit_openapi(repo, lambda d: d["paths"].pop(sorted(d["paths"])[0]))
    _commit(repo, "breaking openapi")
    junit = repo / "breaking.xml"
    argv = [sys.executable, "-m", "harness.gates.breaking", "--repo", str(repo), "--proto", PROTO, "--openapi", OPENAPI]
    done = subprocess.run([*argv, "--junit", str(junit)], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    xml = junit.read_text()
    assert 'failures="1"' in xml, xml
    assert "OpenAPI" in xml


def test_an_unknown_base_is_a_clear_error(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BASE_ENV, "no-such-ref")
    with pytest.raises(RefError, match=f"^{BASE_ENV}: 'no-such-ref' is not a commit"):
        base_ref(repo)


def test_a_contract_that_is_new_since_the_base_is_reported_not_compared(repo: Path) -> None:
    (repo / "published.json").write_text((repo / OPENAPI).read_text())
    _git(repo, "add", "published.json")
    _commit(repo, "a newly published document")

    (result,) = check(repo, base_ref(repo), proto=None, openapi="published.json")
    assert result.skipped is not None
    assert "published.json" in result.skipped
    assert result.findings == []


def test_a_listed_openapi_change_is_accepted_and_any_other_still_fails(repo: Path) -> None:
    doc = json.loads((repo / OPENAPI).read_text())
    first, second = sorted(doc["paths"])[:2]
    _edit_openapi(repo, lambda d: [d["paths"].pop(first), d["paths"].pop(second)])
    _commit(repo, "breaking openapi twice")
    (every,) = check(repo, base_ref(repo), proto=None, openapi=OPENAPI)
    accepted = next(f for f in every.findings if f" {first}:" in f)
    method_path, text = accepted.split(": ", 1)
    listed = repo / "accepted.txt"
    listed.write_text(f"# {first} is gone on purpose\n{method_path} {text.rsplit(' (', 1)[0]}\n")

    (result,) = check(repo, base_ref(repo), proto=None, openapi=OPENAPI, openapi_accepted="accepted.txt")
    assert result.accepted == [accepted]
    assert result.findings == [f for f in every.findings if f != accepted]
    assert result.findings, f"removing {second}, which the file does not list, must still fail"
