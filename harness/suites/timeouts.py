"""A test's deadline holds whatever the test does: pytest-timeout's timer, taken
over through its ``pytest_timeout_set_timer`` hook (registered with
:mod:`harness.suites.plugin` through its ``pytest_plugins``).

pytest-timeout's signal method fails a test that outlives its deadline by
raising pytest's ``Failed`` where the test is, once. Three things then made a
failing run wait for ever (under ``-x`` the whole run waits for the tests its
workers are in):

- pytest-timeout stops the timer as soon as a test's setup or call fails (in
  ``pytest_exception_interact``, meant for a debugger), so the teardown of a
  failed test has no deadline: a finalizer that waits on what will not come (a
  stuck stop) waits for ever;
- so does the teardown of a test that timed out: the timer fires once;
- a test that catches failures to examine them takes the timeout for one more:
  Hypothesis does so with every example, and goes on shrinking, replaying the
  example that was stuck, with no deadline left.

Here the timer runs until the test's run is over (unless a debugger takes
over: ``--pdb``, or one pytest-timeout detects); the same SIGALRM and the same
message, but in the test's call the exception is :class:`TestTimedOut`, a
``BaseException`` that no handler of failures takes for one (in setup and
teardown it stays ``Failed``, so that pytest still runs every finalizer); and
once the deadline has passed the timer is armed again: whatever still runs of
the test a timeout later is failed the same way, then the next finalizer runs.
A test's whole run is so bounded by a few times its timeout. Other methods
(``thread``) and timers off the main thread are left to pytest-timeout.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Generator
from types import FrameType
from typing import Any

import pytest

__all__ = ["TestTimedOut"]

_PHASE = pytest.StashKey[str | None]()
_RUNNING = pytest.StashKey[bool]()
_BETWEEN_PHASES_S = 1.0
"""How soon the deadline is looked at again when it passes between the test's phases, in pytest's own
hooks (reports, the failure bundle): an exception there would be pytest's internal error."""


class TestTimedOut(BaseException):
    """A test's call outlived its deadline. Not an ``Exception``: neither a test's
    ``except Exception`` nor Hypothesis (which also catches pytest's ``Failed``)
    takes it for a failure of its own to handle."""

    __test__ = False  # a class, not a test


@pytest.hookimpl(wrapper=True, trylast=True)  # inside pytest-timeout's, which stops the timer after it
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, Any, Any]:
    item.stash[_RUNNING] = True
    try:
        return (yield)
    finally:
        item.stash[_RUNNING] = False


def _in_phase(item: pytest.Item, phase: str) -> Generator[None, Any, Any]:
    item.stash[_PHASE] = phase
    try:
        return (yield)
    finally:
        item.stash[_PHASE] = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, Any, Any]:
    return (yield from _in_phase(item, "setup"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    return (yield from _in_phase(item, "call"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, Any]:
    return (yield from _in_phase(item, "teardown"))


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # a hook of pytest-timeout, where it is installed
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    if settings.method != "signal" or threading.current_thread() is not threading.main_thread():
        return None  # pytest-timeout's own timer
    import pytest_timeout

    expired = 0

    def on_deadline(signum: int, frame: FrameType | None) -> None:
        nonlocal expired
        __tracebackhide__ = True
        if not settings.disable_debugger_detection and pytest_timeout.is_debugging():
            return
        phase = item.stash.get(_PHASE, None)
        if phase is None:
            signal.setitimer(signal.ITIMER_REAL, _BETWEEN_PHASES_S)
            return
        expired += 1
        signal.setitimer(signal.ITIMER_REAL, settings.timeout)  # whatever still runs then is failed too
        terminal = item.config.get_terminal_writer()
        terminal.sep("+", title="Timeout")
        pytest_timeout.dump_stacks(terminal)
        terminal.sep("+", title="Timeout")
        message = pytest_timeout.PYTEST_FAILURE_MESSAGE % settings.timeout
        if expired > 1:
            message += f" Still running {(expired - 1) * settings.timeout}s after it."
        if phase == "call":
            raise TestTimedOut(message)
        pytest.fail(message, pytrace=True)  # setup or teardown: every finalizer still runs

    def cancel() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)

    item.cancel_timeout = cancel  # type: ignore[attr-defined]  # what pytest-timeout's cancel hook calls
    signal.signal(signal.SIGALRM, on_deadline)
    signal.setitimer(signal.ITIMER_REAL, settings.timeout)
    return True


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_timeout_cancel_timer(item: pytest.Item) -> bool | None:
    """Keep the timer while the test still runs (a failed setup or call asks to stop
    it, for a debugger), unless a debugger is to take over."""
    if item.stash.get(_RUNNING, False) and not item.config.getoption("usepdb", False):
        return True  # not stopped: the rest of the test's run keeps its deadline
    return None  # pytest-timeout stops it
