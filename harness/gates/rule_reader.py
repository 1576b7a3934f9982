"""How the documents of the rule index are read: every paragraph, list item and table row of a Markdown
document (and of each ``description`` of an OpenAPI document, each ``//`` comment of a ``.proto`` file) is a
statement, with the anchor of its rule id unless it is informative (:mod:`harness.gates.rules` says how a rule
is written)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

from harness.gates.rule_model import ID_PATTERN, INFORMATIVE, Document, Index, Problem, Rule

if TYPE_CHECKING:  # markdown-it is imported where documents are read: a cached index needs none of it
    from markdown_it.token import Token

__all__ = ["DocumentReader"]

_ATTRIBUTES = frozenset({"id", "data-applies", "data-unobservable"})
_ANCHOR_TAG = re.compile(r"<a\s[^>]*>\s*</a>", re.IGNORECASE)
_OPENAPI_DESCRIPTION = re.compile(r'"description"\s*:\s*"')


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


class DocumentReader:
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
