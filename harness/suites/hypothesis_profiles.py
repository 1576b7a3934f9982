"""The Hypothesis profiles of every suite, registered on import; ``galaxy`` is loaded
unless the run names another (``--hypothesis-profile``, handled after this module is
imported). Imported by :mod:`harness.topology.plugin` in every process of a suite's run
that runs tests, and in an xdist controller only when the run names a profile."""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

# Budgets of the suites' Hypothesis scenarios (generated inputs, model-based tests).
# "galaxy" keeps the suite fast; "galaxy-deep" is the opt-in long run, ``nox -s deep``.
# No example database: a failure is replayed from the blob and seed it prints.
settings.register_profile(
    "galaxy", max_examples=15, stateful_step_count=20, deadline=None, database=None, print_blob=True
)
# A mutant's test run needs to know that a test fails, not its shortest failing case: the
# suite's budgets without the shrink phase, which can take minutes (nox -s mutation).
settings.register_profile("galaxy-mutation", settings.get_profile("galaxy"), phases=[Phase.explicit, Phase.generate])
settings.register_profile(
    "galaxy-deep", max_examples=300, stateful_step_count=50, deadline=None, database=None, print_blob=True
)
# Budgets of the schemathesis tests (nox -s schemathesis): examples per
# operation and generation phase, and steps per stateful scenario. Each
# operation's examples share one stack, as the model's do.
for _profile, _examples, _steps in (("schemathesis", 30, 10), ("schemathesis-deep", 300, 20)):
    settings.register_profile(
        _profile,
        max_examples=_examples,
        stateful_step_count=_steps,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
settings.load_profile("galaxy")


def run_timeout_s() -> int:
    """pytest-timeout's bound for a whole Hypothesis run under the loaded profile. A passing run of
    the default budget takes seconds, but a failing one goes on to shrink, which Hypothesis bounds
    at five minutes: the timeout must not cut it short of printing the shortest failing case. A
    deeper budget gets about 100 ms a step on top."""
    return max(900, settings().max_examples * settings().stateful_step_count // 10)
