"""What a boundary suite gives the robustness runner: its operations.

The runner (:mod:`harness.robustness.runner`) knows no service: it raises a
stack of the suite's declared topology, runs client threads and the nemesis,
and judges the history. The suite says what its clients do, in
``<suite>/robustness.py``, as ``WORKLOAD``, an object with:

- ``profiles``: the :class:`Profile` each round runs under (its stack's
  settings, the services' documented variables), in order;
- ``params(settings)``: what the checker needs to judge a history made under
  those settings (``retry_grace_ns``, ``limits``; :mod:`harness.robustness.check`);
- ``begin(stack, recorder, seed)``: a :class:`Round` over a fresh stack, whose
  ``step(client, rng)`` makes one random operation of the public API (recorded
  with ``recorder``, retries and all), ``settle(client, rng, until)`` finishes
  what the client left half done once the traffic stops (a confirm whose answer
  was lost, retried until it is answered), ``evidence()`` reads what other
  sources hold at the end (the mail journal, the keyspace) and ``close()``
  releases its clients.

``step`` is called from one thread per client, concurrently; a client that
makes calls side by side (a burst of retries, two clients racing) records each
under a client id of its own, :func:`lane` of its thread's.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.robustness.history import Recorder
from harness.topology.settings import Settings
from harness.topology.stack import Stack

__all__ = ["LANES", "Profile", "Round", "Workload", "lane"]

LANES = 8
"""Client ids per client thread: the thread's own calls and those it makes side by side."""


def lane(client: int, n: int) -> int:
    """The client id of the ``n``-th call client thread ``client`` makes side by side (0: its own)."""
    if not 0 <= n < LANES:
        raise ValueError(f"a client has lanes 0 to {LANES - 1}, not {n}")
    return client * LANES + n


@dataclass(frozen=True)
class Profile:
    """The settings one round's stack runs under, by documented variable, and why."""

    name: str
    settings: Mapping[str, object] = field(default_factory=dict)
    about: str = ""


class Round(Protocol):
    def step(self, client: int, rng: random.Random) -> None: ...
    def settle(self, client: int, rng: random.Random, until: float) -> None: ...
    def evidence(self) -> Mapping[str, Any]: ...
    def close(self) -> None: ...


class Workload(Protocol):
    profiles: Sequence[Profile]

    def params(self, settings: Settings) -> dict[str, Any]: ...
    def begin(self, stack: Stack, recorder: Recorder, seed: int) -> Round: ...
