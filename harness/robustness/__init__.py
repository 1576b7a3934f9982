"""Concurrent histories and their checking: the record of every operation of a
run (:mod:`~harness.robustness.history`), per-session linearizability against
the session model (:mod:`~harness.robustness.linearizability`, through the Go
tool ``histcheck``), the cross-source invariants (:mod:`~harness.robustness.invariants`)
and the verdict on a stored history (:mod:`~harness.robustness.check`)."""
