"""The closest names to a mistyped one, for a line that says what was meant.

* :func:`closest` — the known names nearest a given one.
* :func:`nox_hints` — for a nox command line that nox refused (exit 3: a session or a
  tag it does not know, no session left by ``-k``), one line per mistake, naming the
  closest sessions or tags of ``nox -l --json``.
* ``python -m harness.suites.hints ARGS`` — nox run with ARGS in this process, those
  lines added when nox refuses them: how ``./noxw`` runs nox (in its environment, which
  holds nox and the standard library only, as this module needs).
"""

from __future__ import annotations

import difflib
import json
import subprocess
import sys
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["NOX_SELECTION_ERROR", "closest", "nox_hints", "run_nox"]

NOX_SELECTION_ERROR = 3
"""nox's exit code when its session selection (names, tags, keywords) leaves nothing to run."""

_SESSIONS = ("-s", "-e", "--session", "--sessions")
_TAGS = ("-t", "--tags")
_KEYWORDS = ("-k", "--keywords")
_NOXFILE = ("-f", "--noxfile")
_NEAR = 0.6
_MARGIN = 0.15


def closest(word: str, names: Iterable[str], *, most: int = 3) -> list[str]:
    """The names nearest ``word``, best first, at most ``most``: those near it (difflib's ratio of at least 0.6)
    and nearly as near as the nearest (within 0.15 of it); a name that starts with ``word`` (a session's base name,
    a parametrized one's) is as near as can be. None when nothing is near."""
    scored = sorted(
        ((1.0 if name.startswith(word) else difflib.SequenceMatcher(None, word, name).ratio(), name) for name in names),
        key=lambda pair: (-pair[0], pair[1]),
    )
    if not scored:
        return []
    floor = max(_NEAR, scored[0][0] - _MARGIN)
    return [name for score, name in scored if score >= floor][:most]


def _values(argv: Sequence[str], flags: tuple[str, ...]) -> list[str]:
    """The values given to any of ``flags`` on a nox command line (each takes the words up to the next option),
    before ``--``."""
    values: list[str] = []
    taking = False
    for arg in argv:
        if arg == "--":
            break
        name, eq, value = arg.partition("=")
        if arg.startswith("-"):
            taking = arg in flags
            if eq and name in flags:
                values.append(value)
        elif taking:
            values.append(arg)
    return values


def nox_hints(argv: Sequence[str], listing: Sequence[dict[str, Any]]) -> list[str]:
    """What nox command line ``argv`` got wrong, one line each, given the sessions ``nox -l --json`` lists."""
    keywords, given = _values(argv, _KEYWORDS), _values(argv, _SESSIONS)
    if keywords:  # nox then ignores -s and -t: the keywords chose no session
        return [
            f"no session matches -k {keywords[-1]!r} (nox's -k chooses sessions); to choose tests, give pytest's -k "
            f"after --: ./noxw -s {given[0] if given else 'gatewayauthsession'} -- -k {keywords[-1]!r}"
        ]
    sessions: set[str] = set()
    signatures: set[str] = set()  # nox also takes "name-python"; never offered
    tags: set[str] = set()
    for entry in listing:
        sessions |= {entry["session"], entry["name"]}
        if entry.get("python"):
            signatures.add(f"{entry['name']}-{entry['python']}")
        tags |= set(entry.get("tags") or ())
    lines = [_unknown("session", name, closest(name, sessions)) for name in given if name not in sessions | signatures]
    lines += [_unknown("tag", tag, closest(tag, tags)) for tag in _values(argv, _TAGS) if tag not in tags]
    return lines


def _unknown(kind: str, name: str, near: list[str]) -> str:
    if near:
        return f"no {kind} {name!r}; did you mean {' or '.join(repr(n) for n in near)}? (./noxw -l lists them)"
    return f"no {kind} {name!r}, nor one like it: ./noxw -l lists them"


def _listing(argv: Sequence[str]) -> list[dict[str, Any]]:
    """Every session of the noxfile ``argv`` names (or the default one), as ``nox -l --json`` lists them (``-k True``:
    not only those a plain ``nox`` runs); empty when nox cannot list them."""
    noxfile = _values(argv, _NOXFILE)
    cmd = [sys.executable, "-m", "nox", "-l", "--json", "-k", "True", *(("-f", noxfile[-1]) if noxfile else ())]
    listed = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    try:
        parsed: list[dict[str, Any]] = json.loads(listed.stdout)
    except ValueError:
        return []
    return parsed


def run_nox(argv: Sequence[str]) -> None:
    """nox with ``argv``, in this process; when it refuses its selection, the lines of :func:`nox_hints` follow
    its own. Exits as nox does."""
    import nox.__main__

    sys.argv = ["nox", *argv]
    try:
        nox.__main__.main()
    except SystemExit as done:
        if done.code == NOX_SELECTION_ERROR:
            for line in nox_hints(argv, _listing(argv)):
                print(f"noxw: {line}", file=sys.stderr)
        raise


if __name__ == "__main__":
    run_nox(sys.argv[1:])
