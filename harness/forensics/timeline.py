"""One chronological timeline of a failing test: every hop its requests made,
from every source (service logs, stub journals, Redis commands), merged and
grouped by trace, with the failing step marked.

The model is generic: a :class:`Hop` is one call from one part to another
(``source -> target``), or, with ``source == target``, something a part
noted on its own (an error line). What turns a service's log line or a
stub's request into a hop is the suite's (it knows the parts' names);
:func:`json_lines` reads JSON-lines logs, :func:`attribute` gives a hop that
carries no trace id (a Redis command) the trace of the call its client was
serving at the time, and :func:`render_text` and
:func:`harness.forensics.timeline_html.render_html` draw the result. Lines that are no
hop (a library's debug chatter, health polling) are only counted, by kind.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

__all__ = ["Hop", "Timeline", "attribute", "json_lines", "parse_time", "render_text", "run_label", "runs", "subjects"]

TERMINAL_HOPS = 150
"""At most this many hops of the timeline are printed (those nearest the failing step)."""

SUBJECTS = 6
SUBJECT_HOPS = 12
"""At most SUBJECTS things the failing step's calls were about are followed, each through its last SUBJECT_HOPS."""


@dataclass(frozen=True)
class Hop:
    """One call, ``source -> target``, begun at ``start`` (seconds since the
    epoch) and answered ``status`` after ``duration`` seconds (None: not
    known); ``error`` when that status is a failure. ``origin`` names the
    record it was read from (``"<service> log"``), ``detail`` anything else
    worth a look (an error message, a Redis command in full with its answer),
    ``subject`` what the call is about when that is something other calls are
    about too (a Redis key): a failure lists every call about what its failing
    step's calls were about (:func:`subjects`)."""

    start: float
    source: str
    target: str
    operation: str
    status: str = ""
    duration: float | None = None
    trace_id: str | None = None
    error: bool = False
    origin: str = ""
    detail: str = ""
    subject: str = ""

    @property
    def end(self) -> float:
        return self.start + (self.duration or 0.0)

    @property
    def note(self) -> bool:
        """Whether it is something a part noted on its own, not a call."""
        return self.source == self.target


@dataclass
class Timeline:
    """Hops oldest first; ``failing`` is the index of the failing step (None:
    none found); ``chatter`` counts the lines folded away, by kind;
    ``trace_id`` is the test's own trace, when it has one."""

    hops: list[Hop]
    chatter: Counter[str] = field(default_factory=Counter)
    failed_at: float | None = None
    failing: int | None = None
    trace_id: str | None = None
    title: str = ""

    @classmethod
    def merge(
        cls,
        hops: Iterable[Hop],
        *,
        chatter: Mapping[str, int] | None = None,
        failed_at: float | None = None,
        trace_id: str | None = None,
        title: str = "",
    ) -> Timeline:
        ordered = sorted(attribute(hops), key=lambda h: (h.start, h.end))
        timeline = cls(ordered, Counter(chatter or {}), failed_at, None, trace_id, title)
        timeline.failing = failing_step(ordered, failed_at)
        return timeline

    @property
    def participants(self) -> list[str]:
        """Every part named by a hop: those in calls in the order they first appear
        (caller before callee), then those that only noted something."""
        seen: dict[str, None] = {}
        for hop in sorted(self.hops, key=lambda h: h.note):
            seen.setdefault(hop.source)
            seen.setdefault(hop.target)
        return list(seen)

    def traces(self) -> list[tuple[str | None, list[int]]]:
        """The hops' indices grouped by trace id, the test's own trace first, then
        in the order each trace first appears; hops of no trace last."""
        groups: dict[str | None, list[int]] = {}
        if self.trace_id is not None and any(h.trace_id == self.trace_id for h in self.hops):
            groups[self.trace_id] = []
        for i, hop in enumerate(self.hops):
            groups.setdefault(hop.trace_id, []).append(i)
        untraced = groups.pop(None, None)
        listed: list[tuple[str | None, list[int]]] = list(groups.items())
        if untraced:
            listed.append((None, untraced))
        return listed

    def trace_name(self, trace_id: str | None) -> str:
        """A trace's title: ``trace <id>``, marked when it is the test's own; ``no trace`` for hops of none."""
        if trace_id is None:
            return "no trace"
        return f"trace {trace_id}" + (" (this test's)" if trace_id == self.trace_id else "")

    def folded(self) -> str:
        """The lines folded away, counted by kind (``16 grpc-go debug lines, 1 health checks``); empty when none."""
        return ", ".join(f"{count} {kind}" for kind, count in sorted(self.chatter.items()))

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "trace_id": self.trace_id,
            "failed_at": self.failed_at,
            "failing": self.failing,
            "chatter": dict(self.chatter),
            "participants": self.participants,
            "hops": [asdict(h) for h in self.hops],
        }


def failing_step(hops: list[Hop], failed_at: float | None) -> int | None:
    """The hop to blame, of those begun before the failure (all, when its time is
    not known): the first with an error status within the last call the test
    itself made (from a part that calls but is never called), else that call;
    with no such call, the last hop begun before the failure."""
    before = [i for i, h in enumerate(hops) if failed_at is None or h.start <= failed_at]
    if not before:
        return None
    callers = {h.source for h in hops} - {h.target for h in hops}
    entries = [i for i in before if hops[i].source in callers and not hops[i].note]
    if not entries:
        return before[-1]
    last = entries[-1]
    for i in before:
        if i > last and hops[i].error and hops[i].start <= hops[last].end:
            return i
    return last


def attribute(hops: Iterable[Hop]) -> list[Hop]:
    """``hops``, each without a trace id given the trace of the call its
    source was serving when it began (the one traced hop whose target is that
    source and whose span holds its start); left without one when no call or
    more than one of different traces qualifies."""
    listed = list(hops)
    serving: dict[str, list[Hop]] = {}
    for hop in listed:
        if hop.trace_id is not None and not hop.note:
            serving.setdefault(hop.target, []).append(hop)
    out = []
    for hop in listed:
        traces = set()
        if hop.trace_id is None:
            traces = {c.trace_id for c in serving.get(hop.source, ()) if c.start <= hop.start <= c.end}
        out.append(replace(hop, trace_id=traces.pop()) if len(traces) == 1 else hop)
    return out


def parse_time(value: Any) -> float | None:
    """An RFC 3339 time (nanoseconds and ``Z`` allowed) as seconds since the epoch, or None."""
    if not isinstance(value, str):
        return None
    text = value.replace("Z", "+00:00")
    if "." in text:  # Python takes at most six digits of a fraction
        head, _, rest = text.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:digits][:6].ljust(6, '0')}{rest[digits:]}"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def json_lines(text: str) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSON-lines log, skipping any other line (a Go
    panic's or a goroutine dump's)."""
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds * 1000:.1f}ms"


def _shown(timeline: Timeline, limit: int) -> tuple[list[int], int]:
    """The indices of the hops to print (the ``limit`` nearest the failing step, ending
    a few after it) and how many were left out."""
    n = len(timeline.hops)
    if n <= limit:
        return list(range(n)), 0
    anchor = timeline.failing if timeline.failing is not None else n - 1
    end = min(n, anchor + 1 + min(5, limit // 4))
    start = max(0, end - limit)
    return list(range(start, start + limit)), n - limit


RUN = 3
"""Consecutive uneventful hops between the same two parts of one trace, this many or more, print as one line."""


def runs(timeline: Timeline, indices: list[int]) -> list[list[int]]:
    """``indices`` cut into runs: consecutive uneventful hops (no error, not the
    failing step, not a note) between the same two parts with one status, when
    there are RUN or more of them; every other hop a run of its own."""
    cut: list[list[int]] = []

    def quiet(i: int) -> bool:
        hop = timeline.hops[i]
        return not hop.error and not hop.note and i != timeline.failing

    for i in indices:
        if cut and quiet(i) and quiet(cut[-1][-1]):
            prev, hop = timeline.hops[cut[-1][-1]], timeline.hops[i]
            if (prev.source, prev.target, prev.status) == (hop.source, hop.target, hop.status):
                cut[-1].append(i)
                continue
        cut.append([i])
    return [part for run in cut for part in ([run] if len(run) >= RUN else [[i] for i in run])]


def run_label(timeline: Timeline, run: list[int]) -> str:
    """What a run of hops is called: ``22 calls: MULTI, GET, ...``."""
    ops = ", ".join(dict.fromkeys(timeline.hops[i].operation.split(" ", 1)[0] for i in run))
    return f"{len(run)} calls: {ops}"


def _run_line(timeline: Timeline, run: list[int], t0: float, width: int) -> str:
    hops = [timeline.hops[i] for i in run]
    first = hops[0]
    who = f"{first.source} -> {first.target}"
    what = run_label(timeline, run)
    took = sum(h.duration or 0.0 for h in hops)
    return f"   +{first.start - t0:8.3f}s  {who:<{width}}  {what:<44.44}  {'all ' + first.status:<16}  {_ms(took):>9}"


def _line(timeline: Timeline, i: int, t0: float, width: int) -> str:
    hop = timeline.hops[i]
    mark = ">>" if i == timeline.failing else ("!!" if hop.error else "  ")
    who = f"{hop.source}: note" if hop.note else f"{hop.source} -> {hop.target}"
    when = f"+{hop.start - t0:8.3f}s"
    line = f"{mark} {when}  {who:<{width}}  {hop.operation:<44.44}  {hop.status:<16}  {_ms(hop.duration):>9}"
    if i == timeline.failing:
        line += "  <- failing step"
    if hop.detail and (hop.error or hop.note):
        line += f"  ({hop.detail[:100]})"
    return line.rstrip()


def _within_failing_step(timeline: Timeline, hop: Hop) -> bool:
    """Whether ``hop`` is of the failing step's trace and began while that step lasted."""
    if timeline.failing is None:
        return False
    step = timeline.hops[timeline.failing]
    return hop.trace_id == step.trace_id and step.start <= hop.start <= step.end


def subjects(timeline: Timeline) -> dict[str, list[int]]:
    """What the calls made within the failing step were about (the hops of its
    trace begun while it lasted that name a subject, as a Redis command names
    its key), each with every hop of the timeline about it: so a step that
    found a key empty shows who wrote, expired or deleted it, and when, or
    that nobody did."""
    named: dict[str, list[int]] = {}
    for hop in timeline.hops:
        if hop.subject and _within_failing_step(timeline, hop):
            named.setdefault(hop.subject, [])
        if len(named) == SUBJECTS:
            break
    for i, hop in enumerate(timeline.hops):
        if hop.subject in named:
            named[hop.subject].append(i)
    return named


def _subject_lines(timeline: Timeline, t0: float, width: int) -> list[str]:
    named = subjects(timeline)
    if not named:
        return []
    lines = ["what the failing step's calls were about, and every call about it:"]
    for subject, indices in named.items():
        shown = indices[-SUBJECT_HOPS:]
        more = f" ({len(indices) - len(shown)} earlier left out)" if len(shown) < len(indices) else ""
        lines.append(f"  {subject}: {len(indices)} call(s){more}")
        for i in shown:
            hop = timeline.hops[i]
            mark = ">>" if _within_failing_step(timeline, hop) else "  "
            said, arrow, answer = (hop.detail or f"{hop.operation} -> {hop.status}").rpartition(" -> ")
            what = (said if len(said) <= 100 else said[:99] + "…") + arrow + answer[:60]
            lines.append(f"  {mark} +{hop.start - t0:8.3f}s  {hop.source + ' -> ' + hop.target:<{width}}  {what}")
    return lines


def render_text(timeline: Timeline, *, limit: int = TERMINAL_HOPS) -> str:
    """The timeline for a terminal: a header, then the hops trace by trace,
    one line each (time since the first hop, ``from -> to``, operation,
    status, duration), the failing step marked ``>>`` and other errors
    ``!!``, a run of uneventful hops between the same two parts on one line,
    every call about what the failing step's calls were about (:func:`subjects`),
    and the folded chatter counted at the end."""
    if not timeline.hops:
        lines = ["no hop was recorded"]
    else:
        shown, left_out = _shown(timeline, limit)
        keep = set(shown)
        t0 = timeline.hops[0].start
        width = max(len(f"{h.source} -> {h.target}") for h in timeline.hops)
        traces = timeline.traces()
        lines = [f"{len(timeline.hops)} hops in {len(traces)} trace(s), times from the first hop"]
        if left_out:
            lines.append(f"({left_out} hops far from the failing step are left out here; timeline.html has all)")
        for trace_id, members in traces:
            mine = [i for i in members if i in keep]
            if not mine:
                continue
            lines.append(f"{timeline.trace_name(trace_id)}: {len(members)} hop(s)")
            for run in runs(timeline, mine):
                lines.append(
                    _line(timeline, run[0], t0, width) if len(run) == 1 else _run_line(timeline, run, t0, width)
                )
        if timeline.failing is None:
            lines.append("(no hop began before the failure)")
        lines.extend(_subject_lines(timeline, t0, width))
    if timeline.chatter:
        lines.append(f"folded: {timeline.folded()}")
    return "\n".join(lines)
