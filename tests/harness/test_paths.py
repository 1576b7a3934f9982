"""Where the project keeps what it makes: the bytecode of sessions that may not write it beside the sources."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.paths import PYCACHE_DIR, bytecode_env


def test_bytecode_is_left_alone_where_it_may_be_written() -> None:
    assert bytecode_env({}) == {}
    assert bytecode_env({"PYTHONDONTWRITEBYTECODE": ""}) == {}


def test_bytecode_that_may_not_be_written_beside_the_sources_goes_under_the_cache() -> None:
    assert bytecode_env({"PYTHONDONTWRITEBYTECODE": "1"}) == {
        "PYTHONDONTWRITEBYTECODE": "",
        "PYTHONPYCACHEPREFIX": str(PYCACHE_DIR),
    }
    assert bytecode_env({"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": "/elsewhere"}) == {
        "PYTHONDONTWRITEBYTECODE": "",
        "PYTHONPYCACHEPREFIX": "/elsewhere",
    }, "a prefix the environment names is kept"


def test_a_process_given_that_environment_writes_its_bytecode_there(tmp_path: Path) -> None:
    module = tmp_path / "some_module.py"
    module.write_text("VALUE = 1\n")
    env = {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(tmp_path / "pycache")}
    env |= bytecode_env(env)
    subprocess.run([sys.executable, "-c", "import some_module"], cwd=tmp_path, env=env, check=True, timeout=60)
    assert list((tmp_path / "pycache").rglob("some_module.*.pyc")), "no bytecode under the prefix"
    assert not (tmp_path / "__pycache__").exists(), "bytecode written beside the source"
