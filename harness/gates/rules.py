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
import os
import re
import sys
import tomllib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # markdown-it is imported where documents are read: a cached index needs none of it
    from markdown_it.token import Token

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

ID_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*(?:\.[a-z0-9]+(?:-[a-z0-9]+)*)+")
"""A rule id: dot-separated segments of lower-case letters, digits and single hyphens; the
first segment, its namespace, is the same for every rule of a document and names no other
document's rules (``tokens.refresh.rotation``)."""

INFORMATIVE = "<!-- informative -->"
"""On a line of its own: the block after it (a paragraph, a whole list or table) states no rule."""

_ATTRIBUTES = frozenset({"id", "data-applies", "data-unobservable"})
_ANCHOR_TAG = re.compile(r"<a\s[^>]*>\s*</a>", re.IGNORECASE)
_OPENAPI_DESCRIPTION = re.compile(r'"description"\s*:\s*"')


class ConfigError(ValueError):
    """``[tool.harness.rules]`` is missing or wrong."""


@dataclass(frozen=True)
class Rule:
    """One normative statement, as the index lists it."""

    id: str
    document: str
    """The document's path, relative to the project root."""
    line: int
    """The line of the statement's anchor (1-based)."""
    section: str
    """Where in the document: its heading path, the JSON pointer of an OpenAPI description, or the
    declaration a proto comment is on."""
    text: str
    applies_to: tuple[str, ...]
    """The transports the rule must be verified on, each of them; empty: no particular one."""
    unobservable: str | None = None
    """Why no scenario can verify the rule from outside; None when one can."""

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["applies_to"] = list(self.applies_to)
        return data


@dataclass(frozen=True)
class Problem:
    """What the lint reports: a statement without an id, an id used twice, a malformed id."""

    document: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.document}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Document:
    """A rule-bearing document: its path (relative to the root) and the default of its rules' applies-to."""

    path: str
    applies: tuple[str, ...] = ()


@dataclass(frozen=True)
class RulesConfig:
    """``[tool.harness.rules]`` of a project's ``pyproject.toml``."""

    root: Path
    transports: tuple[str, ...]
    """Every transport name a rule may apply to and a scenario may run over."""
    transport_params: tuple[str, ...]
    """The test parameters whose value is a scenario's transport (``transport``)."""
    documents: tuple[Document, ...]
    reports: Path
    """Where the index and the coverage report are written."""


@dataclass
class Index:
    """Every rule of the configured documents, and what is wrong with how they are written."""

    rules: list[Rule] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)

    def by_id(self) -> dict[str, Rule]:
        """The rules by id (the first, where an id is used twice)."""
        found: dict[str, Rule] = {}
        for rule in self.rules:
            found.setdefault(rule.id, rule)
        return found

    def as_json(self) -> dict[str, Any]:
        return {
            "documents": {doc: sum(1 for r in self.rules if r.document == doc) for doc in self.documents},
            "rules": [rule.as_json() for rule in self.rules],
            "problems": [asdict(p) for p in self.problems],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Index:
        rules = [Rule(**{**r, "applies_to": tuple(r["applies_to"])}) for r in data["rules"]]
        return cls(rules, [Problem(**p) for p in data["problems"]], list(data["documents"]))

    def write(self, path: Path) -> None:
        """The index as JSON at ``path``, written whole (a reader never sees half of it)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(json.dumps(self.as_json(), indent=1, ensure_ascii=False) + "\n")
        partial.replace(path)


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
        reader = _Reader(doc, config.transports, index)
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
    module: every pytest process of a run (the xdist controller and each worker) needs the index, and reading
    the documents with markdown-it costs each of them a few tenths of a second."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
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


@dataclass
class _Block:
    """A statement of a Markdown fragment: a paragraph, a list item or a table row."""

    kind: str
    line: int  # 0-based, within the fragment
    end: int
    section: str
    text: str
    anchors: list[dict[str, str]]
    first: Token | None
    """The inline token whose leading anchors are the statement's."""


class _Anchors(HTMLParser):
    """The attributes of each ``<a>`` start tag of a piece of HTML."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[dict[str, str]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.found.append({name: value or "" for name, value in attrs})


def _rule_ids(html: str) -> list[str]:
    """The rule ids (those with a dot) of the anchors in ``html``."""
    return [a["id"] for a in _Anchors(html).found if "." in a.get("id", "")]


class _Reader:
    """Reads one document's fragments into the index."""

    def __init__(self, doc: Document, transports: tuple[str, ...], index: Index) -> None:
        from markdown_it import MarkdownIt

        self.doc = doc
        self.transports = transports
        self.index = index
        self._md = MarkdownIt("commonmark").enable("table")

    def problem(self, line: int, message: str) -> None:
        self.index.problems.append(Problem(self.doc.path, line, message))

    # -- the three kinds of document

    def openapi(self, text: str) -> None:
        """Each ``description`` of the document is a Markdown fragment on its own line of the file."""
        lines = [text.count("\n", 0, m.start()) for m in _OPENAPI_DESCRIPTION.finditer(text)]
        found = list(_descriptions(json.loads(text), ""))
        if len(found) != len(lines):  # not one description a line: lines unknown, rules still read
            lines = [0] * len(found)
        for (pointer, description), line in zip(found, lines, strict=True):
            self.markdown(description, offset=line, section=pointer, one_line=True)

    def proto(self, text: str) -> None:
        """Each run of ``//`` comment lines is a Markdown fragment; its section is the declaration after it."""
        lines = text.splitlines()
        start: int | None = None
        for number, line in enumerate([*lines, ""]):
            stripped = line.strip()
            if stripped.startswith("//"):
                start = number if start is None else start
                continue
            if start is None:
                continue
            body = "\n".join(re.sub(r"^//+ ?", "", ln.strip()) for ln in lines[start:number])
            declaration = next((ln.strip() for ln in lines[number:] if ln.strip()), "(end of file)")
            self.markdown(body, offset=start, section=declaration)
            start = None

    def markdown(self, text: str, *, offset: int, section: str | None, one_line: bool = False) -> None:
        """The statements of a Markdown fragment whose first line is line ``offset`` (0-based) of the document
        (``one_line``: the whole fragment is on that line, a JSON string); ``section`` None: its headings say
        where a statement is."""
        tokens = self._md.parse(text)

        def line_of(token_line: int) -> int:
            return offset + 1 + (0 if one_line else token_line)

        waived = _informative_lines(tokens)
        starts: set[int] = set()
        for block in _blocks(tokens, section):
            starts.add(id(block.first))
            informative = any(a <= block.line < b for a, b in waived)
            self.statement(block, line_of(block.line), informative=informative)
        for token in tokens:  # rule anchors anywhere else: in a heading, inside a statement, an HTML block
            if token.type == "inline":
                children = token.children or []
                rest = children[_leading(children) :] if id(token) in starts else children
                html = "".join(c.content for c in rest if c.type == "html_inline")
            elif token.type == "html_block":
                html = token.content
            else:
                continue
            for stray in _rule_ids(html):
                self.problem(
                    line_of(token.map[0] if token.map else 0),
                    f"rule id {stray!r} is not at the start of a paragraph, list item or table row",
                )

    def statement(self, block: _Block, line: int, *, informative: bool) -> None:
        rules = [a for a in block.anchors if "." in a.get("id", "")]
        if not rules:
            if not informative:
                self.problem(
                    line,
                    f'this {block.kind} states a rule but has no rule id (<a id="namespace.name"></a> at its start), '
                    f"nor is it marked {INFORMATIVE}: {_shorten(block.text)}",
                )
            return
        if len(rules) > 1:
            self.problem(line, f"one {block.kind}, {len(rules)} rule ids: {[a['id'] for a in rules]}")
        anchor = rules[0]
        rule_id = anchor["id"]
        if not ID_PATTERN.fullmatch(rule_id):
            self.problem(
                line,
                f"malformed rule id {rule_id!r}: want dot-separated lower-case segments of letters, digits and "
                "single hyphens, at least two (namespace.name)",
            )
        if unknown := sorted(set(anchor) - _ATTRIBUTES):
            self.problem(line, f"rule {rule_id!r}: unknown attribute(s) {unknown}; known: {sorted(_ATTRIBUTES)}")
        applies = tuple(anchor["data-applies"].split()) if "data-applies" in anchor else self.doc.applies
        if unknown := sorted(set(applies) - set(self.transports)):
            self.problem(line, f"rule {rule_id!r} applies to unknown transport(s) {unknown}: {list(self.transports)}")
        reason = anchor.get("data-unobservable")
        if reason is not None and not reason.strip():
            self.problem(line, f"rule {rule_id!r}: data-unobservable needs its reason")
        self.index.rules.append(
            Rule(rule_id, self.doc.path, line, block.section, block.text, applies, reason.strip() if reason else None)
        )


def _descriptions(node: Any, pointer: str) -> Iterator[tuple[str, str]]:
    """(JSON pointer, text) of every string ``description`` of an OpenAPI document, in document order."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}"
            if key == "description" and isinstance(value, str):
                yield here, value
            else:
                yield from _descriptions(value, here)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _descriptions(value, f"{pointer}/{i}")


def _informative_lines(tokens: list[Token]) -> list[tuple[int, int]]:
    """The line ranges [start, stop) of the blocks an informative marker stands before."""
    waived: list[tuple[int, int]] = []
    for i, token in enumerate(tokens):
        if token.type != "html_block" or token.content.strip() != INFORMATIVE:
            continue
        after = next((t for t in tokens[i + 1 :] if t.level == 0 and t.nesting >= 0 and t.map), None)
        if after is not None and after.map is not None:
            waived.append((after.map[0], after.map[1]))
    return waived


def _blocks(tokens: list[Token], section: str | None) -> Iterator[_Block]:
    """The statements of a fragment, in order: paragraphs outside list items, list items, table body rows."""
    headings: list[tuple[int, str]] = []
    where = section or ""
    containers: list[str] = []
    in_body = False
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and section is None:
            level = int(token.tag[1:])
            headings = [h for h in headings if h[0] < level] + [(level, tokens[i + 1].content)]
            where = " > ".join(text for _, text in headings)
        elif token.type in ("bullet_list_open", "ordered_list_open", "blockquote_open"):
            containers.append(token.type)
        elif token.type in ("bullet_list_close", "ordered_list_close", "blockquote_close"):
            containers.pop()
        elif token.type == "tbody_open":
            in_body = True
        elif token.type == "tbody_close":
            in_body = False
        elif token.map is None:
            continue
        elif token.type == "list_item_open":
            inlines = _item_inlines(tokens, i)
            yield _block("list item", token, where, inlines, " ".join(t.content for t in inlines))
        elif token.type == "tr_open" and in_body:
            cells = [_strip_anchors(c.content) for c in _row_cells(tokens, i)]
            heads = [_strip_anchors(h.content) for h in _header_cells(tokens, i)]
            heads += [""] * (len(cells) - len(heads))
            text = "; ".join(f"{h}: {c}" if h else c for h, c in zip(heads, cells, strict=False))
            yield _block("table row", token, where, _row_cells(tokens, i)[:1], text)
        elif token.type == "paragraph_open" and (not containers or containers[-1] == "blockquote_open"):
            yield _block("paragraph", token, where, [tokens[i + 1]], tokens[i + 1].content)


def _block(kind: str, opened: Token, section: str, inlines: list[Token], text: str) -> _Block:
    assert opened.map is not None
    first = inlines[0] if inlines else None
    children = first.children or [] if first else []
    anchors = [a for c in children[: _leading(children)] if c.type == "html_inline" for a in _Anchors(c.content).found]
    text = " ".join(_strip_anchors(text).split())
    return _Block(kind, opened.map[0], opened.map[1], section, text, anchors, first)


def _leading(children: list[Token]) -> int:
    """How many of an inline's first children are anchors (``<a ...>``, ``</a>``) and the blanks between them."""
    count = 0
    for child in children:
        html = child.type == "html_inline" and re.fullmatch(r"</?a(\s[^>]*)?>", child.content.strip(), re.I)
        if not html and not (child.type in ("text", "softbreak") and not child.content.strip()):
            break
        count += 1
    return count


def _strip_anchors(text: str) -> str:
    return _ANCHOR_TAG.sub("", text).strip()


def _item_inlines(tokens: list[Token], start: int) -> list[Token]:
    """The inline tokens of a list item's own paragraphs (not of lists nested in it)."""
    level = tokens[start].level
    found = []
    for token in tokens[start + 1 :]:
        if token.type == "list_item_close" and token.level == level:
            break
        if token.type == "inline" and token.level == level + 2:
            found.append(token)
    return found


def _row_cells(tokens: list[Token], start: int) -> list[Token]:
    found = []
    for token in tokens[start + 1 :]:
        if token.type == "tr_close":
            break
        if token.type == "inline":
            found.append(token)
    return found


def _header_cells(tokens: list[Token], row: int) -> list[Token]:
    """The header cells of the table a body row is in."""
    for i in range(row, -1, -1):
        if tokens[i].type == "thead_open":
            return _row_cells(tokens, i + 1)
    return []


def _shorten(text: str, width: int = 72) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


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
