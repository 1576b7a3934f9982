"""The verdict on a stored history: per-session linearizability against the
session model (:mod:`harness.robustness.linearizability`) and the cross-source
invariants (:mod:`harness.robustness.invariants`), with a page for a failure.

A failure is shown as its smallest story: the fewest operations that still
break the model (or the operations an invariant names), drawn as a failure
timeline (:func:`harness.forensics.timeline_html.render_html`, each client a
lifeline) beside porcupine's own visualization, on one page that also gives
the run's seed and the command that replays it, when the history's header
names one (``meta["replay"]``). A stored history can be judged again at any
time, by this checker or a newer one::

    python -m harness.robustness.check path/to/history.jsonl [--out DIR]

The invariants that need other sources take them from the history's evidence
(``delivered``: the challenge id of each message the mail service accepted;
``live_sessions``: the sessions live in the keyspace at the end;
``session_owners``: the user of each of them) and its params (``limits``:
:class:`~harness.robustness.invariants.Limit` as JSON).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.forensics.timeline import Hop, Timeline
from harness.forensics.timeline_html import render_html
from harness.robustness.history import History, Operation, read_history
from harness.robustness.invariants import Limit, Violation, check_invariants
from harness.robustness.linearizability import LinearizabilityReport, check_linearizability

__all__ = ["Verdict", "check", "main", "story_timeline"]

_SHOWN_INPUTS = ("email", "challenge_id", "code", "refresh_token", "access_token", "session_id", "user_id")
_SHOWN_OUTPUTS = ("challenge_id", "session_id", "refresh_token", "error", "reason")


@dataclass(frozen=True)
class Verdict:
    """What the checker found in one history; ``page`` is the failure page, when one was written."""

    history: Path
    seed: Any
    linearizability: LinearizabilityReport
    violations: tuple[Violation, ...]
    page: Path | None = None

    @property
    def passed(self) -> bool:
        return self.linearizability.result == "ok" and not self.violations

    def describe(self) -> str:
        lin = self.linearizability
        lines = [
            f"{self.history}: {'passed' if self.passed else 'FAILED'} (seed {self.seed})",
            f"  linearizability: {lin.result}, {len(lin.partitions)} sessions, {lin.operations} operations "
            f"({len(lin.unattributed)} naming no session), checked in {lin.seconds:.2f}s",
        ]
        for failing in lin.failing:
            lines.append(f"  {failing.key} (session {failing.session_id or '?'}) breaks the session model:")
            lines += [f"    {step}" for step in failing.story]
        lines += [f"  {v.describe()}" for v in self.violations]
        if self.page is not None:
            lines.append(f"  page: {self.page}")
        return "\n".join(lines)


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 10 else "…" + text[-6:]


def _hop(history: History, o: Operation, system: str) -> Hop:
    args = ", ".join(f"{k}={_short(o.input[k])}" for k in _SHOWN_INPUTS if k in o.input)
    outs = " ".join(_short(o.output[k]) for k in _SHOWN_OUTPUTS if k in o.output)
    wall = history.started_at + (o.invoked - history.started_ns) / 1e9
    return Hop(
        start=wall,
        source=f"client {o.client}",
        target=system,
        operation=f"#{o.id} {o.op}({args})",
        status=f"{o.status} {outs}".strip(),
        duration=None if o.completed is None else (o.completed - o.invoked) / 1e9,
        trace_id="story",
        error=o.status != "ok",
        origin="history",
        detail=json.dumps({"input": o.input, "output": o.output}, sort_keys=True),
    )


def story_timeline(history: History, ids: Iterable[int], title: str) -> Timeline:
    """The operations ``ids`` of ``history`` as a failure timeline: each client a part,
    each operation a call to the system (``meta["system"]``, else ``service``), the
    last to begin marked as the failing step."""
    keep = set(ids)
    system = str(history.meta.get("system", "service"))
    hops = [_hop(history, o, system) for o in history.operations() if o.id in keep]
    timeline = Timeline.merge(hops, title=title)
    timeline.failing = len(timeline.hops) - 1 if timeline.hops else None
    return timeline


def _write_page(verdict: Verdict, history: History, out_dir: Path) -> Path:
    """One page for the failures: the seed and replay command, then each failing
    story (its timeline page and porcupine's), then each invariant broken."""
    out_dir.mkdir(parents=True, exist_ok=True)
    replay = history.meta.get("replay")
    parts = [
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>history check</title>",
        "<style>body{font:14px/1.4 system-ui,sans-serif;margin:1.5em}code,pre{font:12px ui-monospace,monospace}"
        "li{margin:.3em 0}</style></head><body>",
        f"<h1>{html.escape(verdict.history.name)}: what breaks the session model and the invariants</h1>",
        f"<p>seed <code>{html.escape(str(verdict.seed))}</code></p>",
        f"<p>replay the run:</p><pre>{html.escape(str(replay))}</pre>" if replay else "",
        f"<p>judge it again:</p><pre>python -m harness.robustness.check {html.escape(str(verdict.history))}</pre>",
    ]
    for n, failing in enumerate(verdict.linearizability.failing, 1):
        story = out_dir / f"story-{n}.html"
        title = f"{failing.key}: the fewest operations that break the session model (seed {verdict.seed})"
        story.write_text(render_html(story_timeline(history, failing.minimal, title)))
        links = [f"<a href='{story.name}'>timeline</a>"]
        for label, path in (("porcupine", failing.visualization), ("whole session", failing.full_visualization)):
            if path is not None:
                links.append(f"<a href='{html.escape(os.path.relpath(path, out_dir))}'>{label}</a>")
        steps = "".join(f"<li><code>{html.escape(s)}</code></li>" for s in failing.story)
        parts.append(
            f"<h2>{html.escape(failing.key)} (session {html.escape(failing.session_id or '?')}): "
            f"{len(failing.minimal)} of its {len(failing.operations)} operations</h2>"
            f"<p>{' · '.join(links)}</p><ol>{steps}</ol>"
        )
    for n, violation in enumerate(verdict.violations, 1):
        link = ""
        if violation.operations:
            story = out_dir / f"invariant-{n}.html"
            title = f"{violation.invariant} (seed {verdict.seed})"
            story.write_text(render_html(story_timeline(history, violation.operations, title)))
            link = f" <a href='{story.name}'>timeline</a>"
        parts.append(f"<h2>{html.escape(violation.invariant)}</h2><p>{html.escape(violation.message)}{link}</p>")
    page = out_dir / "index.html"
    page.write_text("".join(parts) + "</body></html>\n")
    return page


def check(
    path: Path,
    *,
    out_dir: Path | None = None,
    timeout: float = 60.0,
    delivered: Iterable[str] | None = None,
    live_sessions: Iterable[str] | None = None,
    session_owners: Mapping[str, str] | None = None,
    limits: Sequence[Limit] | None = None,
) -> Verdict:
    """Judge the history at ``path``. The evidence and limits not given come from the
    history itself; a failure's page (and porcupine's) go to ``out_dir``."""
    history = read_history(path)
    lin = check_linearizability(path, html_dir=None if out_dir is None else out_dir / "porcupine", timeout=timeout)
    if limits is None:
        limits = [Limit.from_json(doc) for doc in history.params.get("limits", [])]
    violations = check_invariants(
        history,
        delivered=history.evidence.get("delivered") if delivered is None else delivered,
        live_sessions=history.evidence.get("live_sessions") if live_sessions is None else live_sessions,
        session_owners=history.evidence.get("session_owners") if session_owners is None else session_owners,
        limits=limits,
    )
    verdict = Verdict(path, history.seed, lin, tuple(violations))
    if out_dir is not None and (lin.failing or violations):
        verdict = Verdict(path, history.seed, lin, tuple(violations), _write_page(verdict, history, out_dir))
    return verdict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.robustness.check",
        description="Judge a stored history: per-session linearizability against the session model, and the "
        "invariants. Exit 0 when it passes, 1 when it does not, 2 when it cannot be judged.",
    )
    parser.add_argument("history", type=Path)
    parser.add_argument("--out", type=Path, help="where a failure's pages go (default: beside the history)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds each session's check may take")
    args = parser.parse_args(argv)
    out = args.out or args.history.with_name(args.history.stem + "-check")
    try:
        verdict = check(args.history, out_dir=out, timeout=args.timeout)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(verdict.describe())
    if verdict.passed:
        return 0
    return 1 if verdict.linearizability.failing or verdict.violations else 2  # 2: a check timed out, nothing failed


if __name__ == "__main__":
    sys.exit(main())
