"""What every test's stack is checked for after the test: no secret (a login
code mailed, a token a client received) in any service log, no stub that met
a request breaking its wire contract, no data race reported (``-race`` builds)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from harness.processes.service import ServiceProcess

__all__ = ["StackChecks"]

_TRACE_ATTRS = re.compile(r',"(?:trace_id|span_id)":"[0-9a-f]*"')


class StackChecks:
    """The checks of :class:`~harness.topology.stack.Stack`."""

    stubs: Mapping[str, Any]
    secret_sources: list[Callable[[], Iterable[str]]]

    @property
    def processes(self) -> tuple[ServiceProcess, ...]:
        raise NotImplementedError

    def service_logs(self) -> str:
        return "".join(proc.all_logs_text() for proc in self.processes)

    def secrets(self) -> set[str]:
        """Everything that must never appear in a service log: the stubs' secrets
        (a login code mailed) and what the suite's clients received (tokens)."""
        found: set[str] = set()
        for stub in self.stubs.values():
            if callable(getattr(stub, "secrets", None)):
                found.update(stub.secrets())
        for source in self.secret_sources:
            found.update(source())
        return {s for s in found if s}

    def leaked_secrets(self) -> list[str]:
        """Secrets that appear in a service log (which includes every URL it
        logged). A number counts only as a number of its own, not as digits
        inside a longer one (a nanosecond timestamp, say)."""
        # Trace and span ids are random hex, in which a code's six digits may
        # turn up by chance: they are no secret, and are left out.
        logs = _TRACE_ATTRS.sub("", self.service_logs())
        # A plain substring test first: it settles nearly every secret, and a
        # pattern of its own per secret would be compiled for each one.
        return sorted(s for s in self.secrets() if s in logs and re.search(rf"(?<![0-9]){re.escape(s)}(?![0-9])", logs))

    def check_stubs(self) -> None:
        """Fail if a stub met a request that broke its wire contract or erred."""
        for stub in self.stubs.values():
            stub.check()

    def data_races(self) -> list[str]:
        """Race-detector reports in any service log of the stack, restarted
        processes included (``-race`` builds); empty when none."""
        return [race for proc in self.processes for race in proc.data_races()]
