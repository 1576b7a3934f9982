"""Static contract gates: does the working tree break a protobuf or an
OpenAPI contract that a base commit published?

Two pinned tools (:mod:`harness.builds.tools`) do the judging:

* ``buf breaking`` compares the protobuf files of a directory with the same
  directory at the base commit, under buf's ``WIRE_JSON`` rules (by default):
  a change that breaks the binary wire format or the JSON mapping fails.
* ``oasdiff breaking --fail-on ERR`` compares an OpenAPI document with the
  same document at the base commit: a change oasdiff rates an error (a path,
  a required property or an enum value taken away, a parameter made
  required, ...) fails. A file of accepted changes (``--openapi-accepted``,
  oasdiff's ``--err-ignore`` format: one ``METHOD /path <the finding's
  text>`` a line, anything else a comment) lets through exactly the findings
  it lists, each for a reason it gives, such as a document that now states a
  rule the service already enforced; they are reported as accepted, and
  every other finding still fails.

The base's files come from git (``git archive``), so no checkout changes.
Each gate is a JUnit test case, its findings the failure text.

    python -m harness.gates.breaking --proto proto --openapi path/to/openapi.json \\
        [--openapi-accepted path/to/accepted.txt] [--base REF] [--junit reports/breaking.xml]

The harness names no service: the suite's session says which files are the
contracts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from harness.builds.refs import BASE_ENV, RefError, base_ref, describe, exists_at, resolve, tree_at
from harness.builds.tools import go_tool

__all__ = [
    "BASE_ENV",
    "GateError",
    "GateResult",
    "base_ref",
    "check",
    "openapi_breaking",
    "proto_breaking",
    "write_junit",
]

PROTO_RULES = ("WIRE_JSON",)
_OASDIFF_ERR = 3  # the level oasdiff gives a change it rates an error (WARN is 2, INFO 1)


class GateError(RuntimeError):
    """A gate could not run at all (a tool that failed to start, a missing file)."""


@dataclass(frozen=True)
class GateResult:
    name: str
    command: list[str]
    findings: list[str]  # one line each; empty when the gate passes
    seconds: float
    skipped: str | None = None  # why nothing was compared (the contract is new since BASE)
    accepted: list[str] = field(default_factory=list)  # findings a file of accepted changes lets through

    @property
    def ok(self) -> bool:
        return not self.findings


def _run(name: str, command: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.perf_counter()
    try:
        proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False, timeout=300)
    except OSError as exc:
        raise GateError(f"{name}: cannot run {command[0]}: {exc}") from exc
    return proc, time.perf_counter() - started


def proto_breaking(head: Path, base: Path, *, rules: Sequence[str] = PROTO_RULES) -> GateResult:
    """``buf breaking`` of the protobuf directory ``head`` against ``base``."""
    config = json.dumps({"version": "v2", "breaking": {"use": list(rules)}})
    command = [str(go_tool("buf")), "breaking", str(head), "--against", str(base), "--config", config]
    command += ["--against-config", config, "--error-format", "json"]
    proc, seconds = _run("buf breaking", command, head)
    findings = []
    for line in proc.stdout.splitlines():
        try:
            f = json.loads(line)
        except json.JSONDecodeError:
            findings.append(line)
            continue
        findings.append(f"{f.get('path')}:{f.get('start_line')}: {f.get('type')}: {f.get('message')}")
    if proc.returncode != 0 and not findings:
        raise GateError(f"buf breaking failed without findings (exit {proc.returncode}):\n{proc.stderr}")
    return GateResult("protobuf (buf breaking, " + ", ".join(rules) + ")", command, findings, seconds)


def openapi_breaking(head: Path, base: Path, *, accepted: Path | None = None) -> GateResult:
    """``oasdiff breaking --fail-on ERR`` of the OpenAPI document ``head`` against ``base``; the findings
    listed in ``accepted`` (oasdiff's ``--err-ignore``) are reported apart and do not fail the gate."""
    command = [str(go_tool("oasdiff")), "breaking", str(base), str(head), "--fail-on", "ERR", "--format", "json"]
    every, seconds = _oasdiff_errors(command, head.parent)
    if accepted is None:
        return GateResult("OpenAPI (oasdiff breaking --fail-on ERR)", command, every, seconds)
    command += ["--err-ignore", str(accepted)]
    findings, more = _oasdiff_errors(command, head.parent)
    let_through = [f for f in every if f not in findings]
    return GateResult(
        "OpenAPI (oasdiff breaking --fail-on ERR)", command, findings, seconds + more, accepted=let_through
    )


def _oasdiff_errors(command: list[str], cwd: Path) -> tuple[list[str], float]:
    """The changes an ``oasdiff breaking`` command rates an error, one line each, and its run time."""
    proc, seconds = _run("oasdiff breaking", command, cwd)
    if proc.returncode not in (0, 1):
        raise GateError(f"oasdiff breaking failed (exit {proc.returncode}):\n{proc.stderr}")
    changes = json.loads(proc.stdout or "[]")
    findings = [
        f"{c.get('operation', '')} {c.get('path', '')}: {c.get('text')} ({c.get('id')})"
        for c in changes
        if c.get("level") == _OASDIFF_ERR
    ]
    if proc.returncode == 1 and not findings:
        raise GateError(f"oasdiff breaking failed without findings:\n{proc.stdout}\n{proc.stderr}")
    return findings, seconds


def write_junit(results: Sequence[GateResult], path: Path, *, base: str) -> None:
    failures = sum(not r.ok for r in results)
    suites = ElementTree.Element("testsuites")
    suite = ElementTree.SubElement(
        suites,
        "testsuite",
        name="breaking",
        tests=str(len(results)),
        failures=str(failures),
        time=f"{sum(r.seconds for r in results):.3f}",
    )
    ElementTree.SubElement(ElementTree.SubElement(suite, "properties"), "property", name="base", value=base)
    for r in results:
        case = ElementTree.SubElement(suite, "testcase", classname="breaking", name=r.name, time=f"{r.seconds:.3f}")
        if r.skipped is not None:
            ElementTree.SubElement(case, "skipped", message=r.skipped)
        elif not r.ok:
            failure = ElementTree.SubElement(case, "failure", message=f"{len(r.findings)} breaking change(s)")
            failure.text = "\n".join(r.findings)
        out = " ".join(r.command)
        if r.accepted:
            out += f"\n{len(r.accepted)} accepted change(s):\n" + "\n".join(r.accepted)
        ElementTree.SubElement(case, "system-out").text = out
    path.parent.mkdir(parents=True, exist_ok=True)
    ElementTree.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


def check(
    repo: Path, base: str, *, proto: str | None, openapi: str | None, openapi_accepted: str | None = None
) -> list[GateResult]:
    """Every gate asked for, of the working tree of ``repo`` against ``base``; ``openapi_accepted`` is
    the working tree's file of accepted OpenAPI changes."""
    accepted = None
    if openapi_accepted is not None:
        accepted = repo / openapi_accepted
        if not accepted.is_file():
            raise GateError(f"{openapi_accepted} does not exist in the working tree of {repo}")
    gates: list[tuple[str | None, Callable[[Path, Path], GateResult], str]] = [
        (proto, proto_breaking, "protobuf"),
        (openapi, lambda head, old: openapi_breaking(head, old, accepted=accepted), "OpenAPI"),
    ]
    results = []
    with tempfile.TemporaryDirectory(prefix="breaking-base-") as tmp:
        for path, gate, name in gates:
            if path is None:
                continue
            if not (repo / path).exists():
                raise GateError(f"{path} does not exist in the working tree of {repo}")
            if not exists_at(repo, base, path):
                # A contract published since BASE (or moved there) has nothing to be compared with.
                results.append(GateResult(name, [], [], 0.0, skipped=f"{path} is not at {base[:12]}"))
                continue
            results.append(gate(repo / path, tree_at(repo, base, path, Path(tmp))))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.gates.breaking", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="the repository (default: here)")
    parser.add_argument("--base", help=f"the commit to compare with (default: ${BASE_ENV}, else the merge-base)")
    parser.add_argument("--proto", help="a directory of protobuf files, relative to the repository")
    parser.add_argument("--openapi", help="an OpenAPI document, relative to the repository")
    parser.add_argument(
        "--openapi-accepted",
        help="a file of accepted OpenAPI changes (oasdiff's --err-ignore format), relative to the repository",
    )
    parser.add_argument("--junit", type=Path, help="write the gates as JUnit XML here")
    args = parser.parse_args(argv)
    if args.proto is None and args.openapi is None:
        parser.error("nothing to check: give --proto and/or --openapi")
    try:
        base = resolve(args.repo, args.base) if args.base else base_ref(args.repo)
        print(f"breaking: the working tree against {describe(args.repo, base)}")
        results = check(args.repo, base, proto=args.proto, openapi=args.openapi, openapi_accepted=args.openapi_accepted)
    except (GateError, RefError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for r in results:
        if r.skipped is not None:
            print(f"  skip {r.name}: {r.skipped}, nothing to compare")
            continue
        print(f"  {'ok  ' if r.ok else 'FAIL'} {r.name} ({r.seconds:.2f}s)")
        for finding in r.findings:
            print(f"       {finding}")
        for finding in r.accepted:
            print(f"       accepted: {finding}")
    if args.junit is not None:
        write_junit(results, args.junit, base=base)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
