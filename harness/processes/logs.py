"""The logs of a service process, one file per incarnation: the current one
at ``log_path``, the earlier ones (before each restart) kept beside it as
``<name>.1.log``, ``<name>.2.log``, ... (:class:`ProcessLogs`)."""

from __future__ import annotations

from pathlib import Path

from harness.processes.errors import data_races

__all__ = ["ProcessLogs"]


class ProcessLogs:
    """What :class:`~harness.processes.service.ServiceProcess` reads of its logs."""

    name: str
    log_path: Path
    incarnations: list[Path]
    """Logs of earlier incarnations, oldest first."""

    def log_text(self) -> str:
        """The log of the current (or last) incarnation."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def logs(self) -> list[tuple[str, str]]:
        """Each incarnation's log by its name, oldest first (the current one last)."""
        parts = [(path.name, path.read_text(errors="replace")) for path in self.incarnations if path.exists()]
        return [*parts, (self.log_path.name + " (current)" * bool(self.incarnations), self.log_text())]

    def all_logs_text(self) -> str:
        """The logs of every incarnation, oldest first, each under a header
        once there was more than one."""
        if not self.incarnations:
            return self.log_text()
        return "".join(f"--- {name}\n{text}" for name, text in self.logs())

    def data_races(self) -> list[str]:
        """The race detector's reports in every incarnation's log (``-race`` builds), one string each."""
        return [race for _, log in self.logs() for race in data_races(log)]

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def retire_log(self) -> None:
        """Keep the current incarnation's log as an earlier one's, so the next starts a log of its own."""
        if self.log_path.exists():
            retired = self.log_path.with_name(f"{self.name}.{len(self.incarnations) + 1}.log")
            self.log_path.rename(retired)
            self.incarnations.append(retired)
