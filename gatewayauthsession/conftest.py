"""The boundary suite's hooks. Its declaration (``topology.py``) is all the
harness needs to build, raise and break its stacks (:mod:`harness.topology.plugin`);
here: the gateway API fixtures (``fixtures.py``), registered where tests run, and
the schemathesis tests collected only when asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatewayauthsession.topology import TOPOLOGY
from harness.suites.options import runs_tests

__all__ = ["TOPOLOGY"]

# The schemathesis tests need the "schemathesis" dependency group and a budget of their own: they are
# collected only when the run selects them (``-m schemathesis``, as ``nox -s schemathesis`` does).
SCHEMATHESIS_TESTS = Path(__file__).parent / "openapi"


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path == SCHEMATHESIS_TESTS and "schemathesis" not in (config.option.markexpr or ""):
        return True
    return None


def pytest_configure(config: pytest.Config) -> None:
    if runs_tests(config):
        config.pluginmanager.import_plugin("gatewayauthsession.fixtures")
    config.addinivalue_line(
        "markers", "schemathesis: generated from the gateway's OpenAPI document (nox -s schemathesis); only with -m"
    )
