"""A test id given without its suite's folder is found, or named with the candidates, at once
(harness/suites/testids.py): in a nox session's arguments and in a pytest run's."""

from __future__ import annotations

from pathlib import Path

import pytest
from scratch_suite import every_test_id, run_pytest

from harness.paths import PROJECT_ROOT
from harness.suites.testids import TestIdError, resolve, suite_args

TESTS = """
import unittest


def test_one():
    pass


def test_two():
    pass


class TestGroup:
    def test_three(self):
        pass


TestGenerated: type[unittest.TestCase] = unittest.TestCase
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for file in ("suite/test_login.py", "suite/test_faults.py", "suite/deep/test_model.py", "other/test_faults.py"):
        (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / file).write_text(TESTS)
    return tmp_path


@pytest.mark.parametrize(
    ("arg", "want"),
    [
        pytest.param("suite/test_login.py::test_one", "suite/test_login.py::test_one", id="as-given"),
        pytest.param("test_login.py::test_one[http]", "suite/test_login.py::test_one[http]", id="without-folder"),
        pytest.param("test_login.py", "suite/test_login.py", id="a-file"),
        pytest.param("test_model.py::test_two", "suite/deep/test_model.py::test_two", id="in-a-subfolder"),
        pytest.param("deep/test_model.py", "suite/deep/test_model.py", id="part-of-the-folder"),
        pytest.param("-k", "-k", id="an-option"),
        pytest.param("expired", "expired", id="no-test-id"),
    ],
)
def test_a_test_id_is_read_in_the_folder_that_has_it(root: Path, arg: str, want: str) -> None:
    assert resolve(arg, [root / "suite", root / "other"], root) == want


@pytest.mark.parametrize(
    "arg",
    [
        "suite/test_login.py::test_one[http-param]",
        "test_login.py::TestGroup::test_three",
        "suite/test_login.py::TestGenerated",
        "suite/test_login.py::",
    ],
)
def test_a_name_the_file_defines_is_taken(root: Path, arg: str) -> None:
    assert resolve(arg, [root / "suite"], root).endswith(arg.removeprefix("suite/"))


def test_a_name_the_file_does_not_define_is_named_with_the_nearest(root: Path) -> None:
    with pytest.raises(TestIdError) as caught:
        resolve("test_login.py::test_onee[http]", [root / "suite"], root)
    assert (
        str(caught.value)
        == "test_login.py::test_onee[http]: test_login.py has no test test_onee; did you mean test_one?"
    )


@pytest.mark.parametrize(
    ("arg", "want"),
    [
        pytest.param(
            "test_faults.py::test_one",
            "test_faults.py::test_one: no such file in {root}; it is other/test_faults.py::test_one or "
            "suite/test_faults.py::test_one: give one",
            id="in-two-folders",
        ),
        pytest.param(
            "test_logn.py::test_one",
            "test_logn.py::test_one: no file test_logn.py in {root} nor under suite, other; "
            "did you mean suite/test_login.py?",
            id="misspelled",
        ),
        pytest.param(
            "test_zzz.py",
            "test_zzz.py: no file test_zzz.py in {root} nor under suite, other; "
            "pytest --collect-only -q lists the tests",
            id="nothing-near",
        ),
    ],
)
def test_a_test_id_found_nowhere_or_twice_is_one_line(root: Path, arg: str, want: str) -> None:
    with pytest.raises(TestIdError) as caught:
        resolve(arg, [root / "suite", root / "other"], root)
    assert str(caught.value) == want.format(root=root)


@pytest.mark.parametrize(
    ("args", "want"),
    [
        pytest.param([], ["suite"], id="nothing-named"),
        pytest.param(["-k", "login", "-n", "0"], ["suite", "-k", "login", "-n", "0"], id="options-only"),
        pytest.param(["suite/test_login.py::test_one"], ["suite/test_login.py::test_one"], id="a-rerun-sh-id"),
        pytest.param(
            ["test_faults.py::test_two", "-n", "0"], ["suite/test_faults.py::test_two", "-n", "0"], id="without-folder"
        ),
        pytest.param(
            ["--ignore", "suite/test_faults.py", "-p", "x.py"],
            ["suite", "--ignore", "suite/test_faults.py", "-p", "x.py"],
            id="an-options-value",
        ),
        pytest.param(["other/test_faults.py"], ["suite", "other/test_faults.py"], id="another-folders-test"),
    ],
)
def test_a_sessions_arguments_run_the_suite_or_the_tests_it_names(root: Path, args: list[str], want: list[str]) -> None:
    assert suite_args(args, ["suite"], root) == want


def test_a_pytest_run_reads_an_id_without_its_folder_and_says_so(root: Path) -> None:
    done = run_pytest(root, "-p", "harness.suites.testids", "-o", "testpaths=suite other", "test_login.py::test_two")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_login.py::test_two read as suite/test_login.py::test_two" in done.stdout
    assert "1 passed" in done.stdout


def test_a_pytest_run_under_xdist_names_an_id_found_twice_at_once(root: Path) -> None:
    done = run_pytest(root, "-p", "harness.suites.testids", "-o", "testpaths=suite other", "-n", "2", "test_faults.py")
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        f"ERROR: test_faults.py: no such file in {root}; it is other/test_faults.py or suite/test_faults.py: give one"
    ]

    found = run_pytest(
        root, "-p", "harness.suites.testids", "-o", "testpaths=suite other", "-n", "2", "deep/test_model.py"
    )
    assert "3 passed" in found.stdout, found.stdout + found.stderr


def test_the_conftest_of_the_folder_found_is_loaded_as_the_command_line_is_parsed(root: Path) -> None:
    (root / "suite" / "conftest.py").write_text(  # a conftest pytest must load before it parses the command line
        "def pytest_addoption(parser):\n    parser.addoption('--suite-option', action='store_true')\n"
    )
    done = run_pytest(
        root, "-p", "harness.suites.testids", "-o", "testpaths=suite", "test_login.py::test_one", "--suite-option"
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_test_id_of_the_suites_is_read_as_itself() -> None:
    folders = [PROJECT_ROOT / "gatewayauthsession", PROJECT_ROOT / "tests"]
    ids = every_test_id()
    assert [nodeid for nodeid in ids if resolve(nodeid, folders, PROJECT_ROOT) != nodeid] == []
