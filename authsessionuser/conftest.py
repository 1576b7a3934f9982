"""The suite's hooks: its declaration (``topology.py``) for the harness, and the gateway API fixtures
(``transport``, ``api``) of gatewayauthsession, whose stack facade this suite shares."""

from __future__ import annotations

import pytest

from authsessionuser.topology import TOPOLOGY
from harness.suites.options import runs_tests

__all__ = ["TOPOLOGY"]


def pytest_configure(config: pytest.Config) -> None:
    if runs_tests(config):
        config.pluginmanager.import_plugin("gatewayauthsession.fixtures")
