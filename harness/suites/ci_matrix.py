"""CI's job matrix, from the sessions tagged ``ci`` and the suite registry.

    ./noxw -l --json -t ci | python3 -m harness.suites.ci_matrix

reads nox's session list on stdin and prints the matrix of
``.github/workflows/ci.yml`` (``{"include": [...]}``): one job per session,
except that a registered suite's session whose recorded durations pass the
registry's budget (``ci_shard_budget_s``, :func:`harness.suites.registry.shard_count`)
is fanned out into N jobs, each running ``-- --shard K/N`` (balanced by the same
durations, :mod:`harness.suites.shards`). Each job has its ``session``, the ``args``
after the session name and a ``name`` to show. Only the standard library is
imported, so CI runs this before any environment is made."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.paths import PROJECT_ROOT
from harness.suites.registry import shard_count, suites

__all__ = ["jobs", "main"]


def jobs(sessions: Iterable[Mapping[str, Any]], root: Path = PROJECT_ROOT) -> list[dict[str, str]]:
    """The jobs of ``sessions`` (nox's ``-l --json`` entries), in their order."""
    registered = {suite.name: suite for suite in suites(root)}
    found = []
    for entry in sessions:
        session = str(entry["session"])
        suite = registered.get(session)
        total = shard_count(suite, root) if suite is not None else 1
        if total == 1:
            found.append({"session": session, "args": "", "name": session})
            continue
        for k in range(1, total + 1):
            found.append({"session": session, "args": f"-- --shard {k}/{total}", "name": f"{session} {k}/{total}"})
    return found


def main(argv: list[str] | None = None) -> int:
    if argv:
        print("usage: ./noxw -l --json -t ci | python3 -m harness.suites.ci_matrix", file=sys.stderr)
        return 2
    print(json.dumps({"include": jobs(json.load(sys.stdin))}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
