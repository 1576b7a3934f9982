"""Root conftest: loads the harness's pytest plugin for every test tree."""

pytest_plugins = ["harness.suites.plugin"]
