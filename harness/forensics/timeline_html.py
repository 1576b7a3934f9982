"""A :class:`~harness.forensics.timeline.Timeline` as one self-contained HTML page: a
sequence diagram (inline SVG) of the hops, one diagram per trace with the
parts as lifelines, the failing step marked, and every hop in a table below.
Inline CSS, SVG and JavaScript only: the page loads nothing, so it opens
from a failure bundle on any machine, offline. The script adds what a
reader clicks: a trace's diagram folds and unfolds, and one button shows
only the test's own trace."""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime

from harness.forensics.timeline import Hop, Timeline, run_label, runs

__all__ = ["render_html"]

_COLUMN = 190
_LEFT = 150
_ROW = 30
_HEAD = 46

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1d2330; background: #fff; }
h1 { font-size: 1.3em; margin: 0 0 .2em; } h2 { font-size: 1.05em; margin: 1.2em 0 .3em; cursor: pointer; }
#summary { margin: .3em 0 1em; padding: .5em .8em; background: #f3f5f9; border-left: 4px solid #c0392b; }
button { font: inherit; margin-right: .5em; }
section.folded svg { display: none; } section.folded h2::before { content: "\\25b8 "; }
section h2::before { content: "\\25be "; }
svg text { font: 12px ui-monospace, monospace; fill: #1d2330; }
svg .part rect { fill: #e8edf6; stroke: #5b6b8c; } svg .part text { font-weight: bold; }
svg .life { stroke: #9aa6bf; stroke-dasharray: 4 4; }
svg .hop line { stroke: #2b4c8c; stroke-width: 1.5; } svg .hop polygon { fill: #2b4c8c; }
svg .hop.error line { stroke: #d68910; } svg .hop.error polygon { fill: #d68910; }
svg .hop.error text.label { fill: #9a5b00; }
svg .hop.failing line { stroke: #c0392b; stroke-width: 3; } svg .hop.failing polygon { fill: #c0392b; }
svg .hop.failing text { fill: #c0392b; font-weight: bold; }
svg .hop.failing rect.band { fill: #fdecea; }
svg rect.band { fill: transparent; }
svg .note rect { fill: #fff7e0; stroke: #d68910; }
svg text.time { fill: #6b768c; }
table { border-collapse: collapse; margin-top: .5em; font: 12px ui-monospace, monospace; }
td, th { border: 1px solid #d5dbe6; padding: 2px 6px; text-align: left; vertical-align: top; }
tr.failing td { background: #fdecea; font-weight: bold; } tr.error td { background: #fff4e0; }
.folded-lines { color: #6b768c; }
"""

_JS = """
(function () {
  var data = JSON.parse(document.getElementById("timeline-data").textContent);
  var failing = data.failing === null ? null : data.hops[data.failing];
  var summary = document.getElementById("summary");
  var text = data.hops.length + " hops in " + document.querySelectorAll("section.trace").length + " trace(s). ";
  if (failing) {
    text += "Failing step: " + failing.source + " \\u2192 " + failing.target + " " + failing.operation +
      (failing.status ? " (" + failing.status + ")" : "") + ".";
  } else {
    text += "No hop began before the failure.";
  }
  summary.textContent = text;
  document.querySelectorAll("section.trace h2").forEach(function (h) {
    h.addEventListener("click", function () { h.parentNode.classList.toggle("folded"); });
  });
  var own = document.getElementById("only-own");
  if (own) {
    own.addEventListener("click", function () {
      var showAll = own.dataset.all === "1";
      document.querySelectorAll("section.trace").forEach(function (s) {
        s.style.display = showAll || s.dataset.own === "1" ? "" : "none";
      });
      own.dataset.all = showAll ? "0" : "1";
      own.textContent = showAll ? "only this test's trace" : "every trace";
    });
  }
})();
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1000:.1f} ms"


def _tip(hop: Hop) -> str:
    return f"{hop.source} -> {hop.target}: {hop.operation} {hop.status} {_ms(hop.duration)} [{hop.origin}] {hop.detail}"


def _hop_svg(  # noqa: PLR0917 - one row of the diagram, from one place
    hop: Hop, index: int, row: int, x: dict[str, int], t0: float, failing: bool, run: list[Hop] | None = None
) -> str:
    y = _HEAD + row * _ROW + 18
    classes = "hop" + (" error" if hop.error else "") + (" failing" if failing else "") + (" run" if run else "")
    tip = "\n".join(_tip(h).strip() for h in run) if run else _tip(hop).strip()
    parts = [f'<g class="{classes}" data-index="{index}"><title>{_e(tip)}</title>']
    width = _LEFT + _COLUMN * len(x)
    parts.append(f'<rect class="band" x="0" y="{y - 20}" width="{width}" height="{_ROW}"/>')
    parts.append(f'<text class="time" x="6" y="{y}">+{hop.start - t0:.3f}s</text>')
    took = sum(h.duration or 0.0 for h in run) if run else hop.duration
    label = f"{hop.operation} {hop.status} {_ms(took)}".strip()
    if hop.note:
        cx = x[hop.source]
        parts.append(
            f'<g class="note"><rect x="{cx - 6}" y="{y - 13}" width="{min(len(label) * 7 + 12, _COLUMN * 2)}" '
            f'height="18" rx="3"/><text class="label" x="{cx}" y="{y}">{_e(label[:50])}</text></g>'
        )
        end = cx + min(len(label) * 7 + 12, _COLUMN * 2)
    else:
        x1, x2 = x[hop.source], x[hop.target]
        tip_x = x2 - 7 if x2 > x1 else x2 + 7
        parts.append(f'<line x1="{x1}" y1="{y}" x2="{tip_x}" y2="{y}"/>')
        sign = -1 if x2 > x1 else 1
        parts.append(f'<polygon points="{x2},{y} {x2 + sign * 8},{y - 4} {x2 + sign * 8},{y + 4}"/>')
        lx = min(x1, x2) + 6
        parts.append(f'<text class="label" x="{lx}" y="{y - 5}">{_e(label[:70])}</text>')
        end = max(x1, x2, lx + round(len(label[:70]) * 7.5))
    if failing:
        parts.append(f'<text class="marker" x="{end + 12}" y="{y}">\u25c0 failing step</text>')
    parts.append("</g>")
    return "".join(parts)


def _section(timeline: Timeline, trace_id: str | None, members: list[int], x: dict[str, int], t0: float) -> str:
    own = trace_id is not None and trace_id == timeline.trace_id
    name = timeline.trace_name(trace_id)
    has_failing = timeline.failing in members
    cut = runs(timeline, members)
    height = _HEAD + _ROW * len(cut) + 10
    width = _LEFT + _COLUMN * len(x)
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">']
    for part, cx in x.items():
        svg.append(
            f'<g class="part"><rect x="{cx - 80}" y="4" width="160" height="26" rx="4"/>'
            f'<text x="{cx}" y="22" text-anchor="middle">{_e(part)}</text></g>'
            f'<line class="life" x1="{cx}" y1="30" x2="{cx}" y2="{height}"/>'
        )
    for row, run in enumerate(cut):
        first = timeline.hops[run[0]]
        if len(run) == 1:
            svg.append(_hop_svg(first, run[0], row, x, t0, run[0] == timeline.failing))
        else:
            merged = Hop(first.start, first.source, first.target, run_label(timeline, run), "all " + first.status)
            svg.append(_hop_svg(merged, run[0], row, x, t0, False, [timeline.hops[i] for i in run]))
    svg.append("</svg>")
    classes = "trace" + (" folded" if trace_id is None and not has_failing else "")
    return (
        f'<section class="{classes}" data-own="{1 if own else 0}"><h2>{_e(name)}: {len(members)} hop(s)'
        f"{' — holds the failing step' if has_failing else ''}</h2>{''.join(svg)}</section>"
    )


def _table(timeline: Timeline, t0: float) -> str:
    rows = [
        "<tr><th>#</th><th>time</th><th>from</th><th>to</th><th>operation</th><th>status</th>"
        "<th>duration</th><th>trace</th><th>from record</th><th>detail</th></tr>"
    ]
    for i, hop in enumerate(timeline.hops):
        cls = "failing" if i == timeline.failing else ("error" if hop.error else "")
        rows.append(
            f'<tr class="{cls}"><td>{i}</td><td>+{hop.start - t0:.4f}s</td><td>{_e(hop.source)}</td>'
            f"<td>{_e(hop.target)}</td><td>{_e(hop.operation)}</td><td>{_e(hop.status)}</td>"
            f"<td>{_ms(hop.duration)}</td><td>{_e((hop.trace_id or '')[:12])}</td><td>{_e(hop.origin)}</td>"
            f"<td>{_e(hop.detail)}</td></tr>"
        )
    return f"<details><summary>every hop as a table</summary><table>{''.join(rows)}</table></details>"


def render_html(timeline: Timeline) -> str:
    """The page (a complete HTML document)."""
    x = {part: _LEFT + _COLUMN * i + _COLUMN // 2 for i, part in enumerate(timeline.participants)}
    t0 = timeline.hops[0].start if timeline.hops else 0.0
    started = datetime.fromtimestamp(t0, UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC") if timeline.hops else "-"
    sections = [_section(timeline, trace_id, members, x, t0) for trace_id, members in timeline.traces()]
    folded = timeline.folded()
    data = json.dumps(timeline.to_json()).replace("</", "<\\/")
    button = '<button id="only-own" data-all="0">only this test\'s trace</button>' if timeline.trace_id else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(timeline.title or 'timeline')}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_e(timeline.title or 'timeline')}</h1>"
        f"<div>first hop at {_e(started)}; times below are from it</div>"
        f'<div id="summary">{len(timeline.hops)} hops</div>{button}'
        f"{''.join(sections) or '<p>no hop was recorded</p>'}"
        f'<p class="folded-lines">folded: {_e(folded or "nothing")}</p>'
        f"{_table(timeline, t0)}"
        f'<script type="application/json" id="timeline-data">{data}</script><script>{_JS}</script>'
        "</body></html>\n"
    )
