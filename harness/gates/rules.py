"""The rule index: every normative statement of the published contracts, by a stable id.

The documents that state rules are listed in ``pyproject.toml`` under
``[tool.harness.rules]``; ``contracts/README.md`` ("Rules") says how a rule is
written and what counts as one. In short: in a Markdown document (and in each
``description`` of an OpenAPI document, and each ``//`` comment of a ``.proto``
file, which are Markdown too), every paragraph, list item and table row is a
statement and starts with the anchor of its id::

    - <a id="tokens.refresh.rotation" data-applies="http grpc"></a>**Rotation**: ...

unless it is informative: ``<!-- informative -->`` alone on a line marks the
block after it (a paragraph, a whole list or table).

``data-applies`` names the transports a scenario must verify the rule on (its
document's default when absent: ``applies`` in the configuration; empty: no
particular one); ``data-unobservable="<reason>"`` says why no scenario can
verify it from outside.

    python -m harness.gates.rules [--root DIR] [--output reports/rules.json]

builds the index (``reports/rules.json``: each rule's id, document, line,
section, text, applies-to and unobservable reason) and exits 1, one line per
problem (``file:line: what``), when a statement has no id, an id is used twice
or is malformed. The harness names no document of its own: the configuration
does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tomllib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.gates import rule_model, rule_reader
from harness.gates.rule_model import (
    ID_PATTERN,
    INFORMATIVE,
    ConfigError,
    Document,
    Index,
    Problem,
    Rule,
    RulesConfig,
)
from harness.gates.rule_reader import DocumentReader

__all__ = [
    "ID_PATTERN",
    "INFORMATIVE",
    "ConfigError",
    "Document",
    "Index",
    "Problem",
    "Rule",
    "RulesConfig",
    "build_index",
    "cached_index",
    "load_config",
    "main",
]


def load_config(root: Path) -> RulesConfig | None:
    """``[tool.harness.rules]`` of ``root/pyproject.toml``; None when there is none."""
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return None
    table = tomllib.loads(pyproject.read_text()).get("tool", {}).get("harness", {}).get("rules")
    if table is None:
        return None
    transports = tuple(_strings(table, "transports", pyproject))
    documents: dict[str, Document] = {}
    for entry in table.get("documents", []):
        pattern = entry.get("path")
        if not isinstance(pattern, str):
            raise ConfigError(f"{pyproject}: a [tool.harness.rules] document without a path: {entry}")
        applies = tuple(_strings(entry, "applies", pyproject))
        if unknown := set(applies) - set(transports):
            raise ConfigError(f"{pyproject}: {pattern}: applies to unknown transports {sorted(unknown)}")
        excluded = {p for glob in _strings(entry, "exclude", pyproject) for p in root.glob(glob)}
        matched = sorted(p for p in root.glob(pattern) if p.is_file() and p not in excluded)
        if not matched:
            raise ConfigError(f"{pyproject}: {pattern} names no file")
        for path in matched:
            rel = path.relative_to(root).as_posix()
            if rel in documents:
                raise ConfigError(f"{pyproject}: {rel} is listed twice")
            documents[rel] = Document(rel, applies)
    return RulesConfig(
        root=root,
        transports=transports,
        transport_params=tuple(_strings(table, "transport-params", pyproject)),
        documents=tuple(documents.values()),
        reports=root / str(table.get("reports", "reports")),
    )


def _strings(table: dict[str, Any], key: str, where: Path) -> list[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: [tool.harness.rules] {key} must be a list of strings")
    return value


def build_index(config: RulesConfig) -> Index:
    """Read every configured document: its rules, and the problems of how they are written."""
    index = Index(documents=[doc.path for doc in config.documents])
    for doc in config.documents:
        text = (config.root / doc.path).read_text()
        reader = DocumentReader(doc, config.transports, index)
        if doc.path.endswith(".json"):
            reader.openapi(text)
        elif doc.path.endswith(".proto"):
            reader.proto(text)
        else:
            reader.markdown(text, offset=0, section=None)
    _check_ids(index)
    return index


def cached_index(config: RulesConfig, cache: Path) -> Index:
    """:func:`build_index`, kept under ``cache`` by the content of the documents, the configuration and this
    modules: every pytest process of a run (the xdist controller and each worker) needs the index, and reading
    the documents with markdown-it costs each of them a few tenths of a second."""
    digest = hashlib.sha256()
    for module in (__file__, rule_model.__file__, rule_reader.__file__):
        digest.update(Path(module).read_bytes())
    digest.update(repr((config.transports, config.documents)).encode())
    for doc in config.documents:
        digest.update(f"\0{doc.path}\0".encode() + (config.root / doc.path).read_bytes())
    path = cache / f"rules-{digest.hexdigest()[:32]}.json"
    try:
        return Index.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        index = build_index(config)
        index.write(path)
        return index


def _check_ids(index: Index) -> None:
    """An id used twice; a namespace shared by two documents, or not kept within one."""
    first: dict[str, Rule] = {}
    owner: dict[str, str] = {}
    for doc in index.documents:
        rules = [r for r in index.rules if r.document == doc]
        if not rules:
            continue
        namespace = Counter(r.id.split(".")[0] for r in rules).most_common(1)[0][0]
        if (other := owner.setdefault(namespace, doc)) != doc:
            index.problems.append(
                Problem(doc, rules[0].line, f"namespace {namespace!r} is already that of {other}'s rules")
            )
        for rule in rules:
            if rule.id.split(".")[0] != namespace:
                index.problems.append(
                    Problem(doc, rule.line, f"rule id {rule.id!r}: this document's ids start with {namespace + '.'!r}")
                )
            if (seen := first.setdefault(rule.id, rule)) is not rule:
                index.problems.append(
                    Problem(doc, rule.line, f"rule id {rule.id!r} is used twice (first at {seen.document}:{seen.line})")
                )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.gates.rules", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the project root (its pyproject.toml)")
    parser.add_argument("--output", type=Path, default=None, help="the index (default: <reports>/rules.json)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        config = load_config(root)
    except ConfigError as exc:
        print(f"rules: {exc}", file=sys.stderr)
        return 2
    if config is None:
        print(f"rules: {root / 'pyproject.toml'} has no [tool.harness.rules]", file=sys.stderr)
        return 2
    index = build_index(config)
    output = args.output or config.reports / "rules.json"
    index.write(output)
    for problem in index.problems:
        print(problem)
    counts = Counter(rule.document for rule in index.rules)
    by_doc = ", ".join(f"{doc} {counts[doc]}" for doc in index.documents)
    shown = output.relative_to(root) if output.is_relative_to(root) else output
    print(f"rules: {len(index.rules)} rules in {len(index.documents)} documents ({by_doc}); index: {shown}")
    if index.problems:
        print(f"rules: {len(index.problems)} problem(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
