"""Concurrent histories under a nemesis, and their checking: the run itself
(:mod:`~harness.robustness.runner`, ``python -m harness.robustness``): clients
calling any declared topology's stack while the nemesis breaks it
(:mod:`~harness.robustness.nemesis`), with the operations a suite gives it
(:mod:`~harness.robustness.workload`); the record of every operation of a run
(:mod:`~harness.robustness.history`), per-session linearizability against the
session model (:mod:`~harness.robustness.linearizability`, through the Go tool
``histcheck``), the cross-source invariants (:mod:`~harness.robustness.invariants`)
and the verdict on a stored history (:mod:`~harness.robustness.check`)."""
