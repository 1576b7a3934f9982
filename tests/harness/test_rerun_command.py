"""A failure bundle's default rerun command (no suite session to rerun through) is this
interpreter's pytest with the run's own plugins and configuration (failure_report.own_options)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from harness.forensics.failure_report import own_options


def _config(args: list[str], where: Path) -> pytest.Config:
    params = pytest.Config.InvocationParams(args=args, plugins=None, dir=where)
    return cast(pytest.Config, SimpleNamespace(invocation_params=params))


CASES = {
    "plugins": (
        ["-p", "harness.suites.plugin", "-pno:cacheprovider", "t.py"],
        ["-p", "harness.suites.plugin", "-p", "no:cacheprovider"],
    ),
    "config-and-rootdir-made-absolute": (
        ["-c", "cfg.ini", "--rootdir=root", "t.py::test_x"],
        ["-c", "/w/cfg.ini", "--rootdir", "/w/root"],
    ),
    "ini-overrides": (
        ["-o", "timeout=5", "--override-ini=xfail_strict=false"],
        ["-o", "timeout=5", "--override-ini", "xfail_strict=false"],
    ),
    "not-the-rest": (["-p", "randomly", "-p", "no:randomly", "-k", "x", "-n", "2"], ["-p", "no:randomly"]),
}


@pytest.mark.parametrize(("args", "kept"), CASES.values(), ids=CASES.keys())
def test_the_run_s_own_options_are_kept(args: list[str], kept: list[str]) -> None:
    assert own_options(_config(args, Path("/w"))) == kept
