"""A mistyped session or tag gets the closest names (harness/suites/hints.py), as ./noxw prints them."""

from __future__ import annotations

from typing import Any

import pytest

from harness.suites.hints import closest, nox_hints

LISTING: list[dict[str, Any]] = [
    {"session": "gatewayauthsession", "name": "gatewayauthsession", "python": "3.11", "tags": ["suite", "ci"]},
    {"session": "harness", "name": "harness", "python": "3.11", "tags": ["harness", "ci"]},
    {"session": "go_test(gateway)", "name": "go_test", "python": None, "tags": ["go", "ci"]},
    {"session": "go_test(authsession)", "name": "go_test", "python": None, "tags": ["go", "ci"]},
    {"session": "skew(gateway-at-base)", "name": "skew", "python": "3.11", "tags": ["skew", "ci"]},
]


@pytest.mark.parametrize(
    ("word", "names", "want"),
    [
        pytest.param("gatewayauthsesion", ["gatewayauthsession", "harness"], ["gatewayauthsession"], id="a-typo"),
        pytest.param("go_tst", ["go_test", "lint"], ["go_test"], id="a-letter-left-out"),
        pytest.param("skew", ["skew(a)", "skew(b)", "lint"], ["skew(a)", "skew(b)"], id="a-base-name"),
        pytest.param("zzzqqq", ["gatewayauthsession", "harness"], [], id="nothing-near"),
        pytest.param("a", [f"a{n}" for n in range(9)], ["a0", "a1", "a2"], id="at-most-three"),
    ],
)
def test_closest_names(word: str, names: list[str], want: list[str]) -> None:
    assert closest(word, names) == want


@pytest.mark.parametrize(
    ("argv", "want"),
    [
        pytest.param(
            ["-s", "gatewayauthsesion"],
            ["no session 'gatewayauthsesion'; did you mean 'gatewayauthsession'? (./noxw -l lists them)"],
            id="session",
        ),
        pytest.param(
            ["--session=harnes", "--", "-k", "x"],
            ["no session 'harnes'; did you mean 'harness'? (./noxw -l lists them)"],
            id="session-with-equals",
        ),
        pytest.param(
            ["-s", "harness", "go_tst"],
            ["no session 'go_tst'; did you mean 'go_test'? (./noxw -l lists them)"],
            id="one-of-two",
        ),
        pytest.param(["-t", "sekew"], ["no tag 'sekew'; did you mean 'skew'? (./noxw -l lists them)"], id="tag"),
        pytest.param(["-s", "qqq"], ["no session 'qqq', nor one like it: ./noxw -l lists them"], id="nothing-near"),
        pytest.param(
            ["-s", "harness", "-k", "refresh"],
            [
                "no session matches -k 'refresh' (nox's -k chooses sessions); to choose tests, give pytest's -k "
                "after --: ./noxw -s harness -- -k 'refresh'"
            ],
            id="pytest-k-before-the-dashes",
        ),
        pytest.param(["-s", "go_test", "gatewayauthsession-3.11", "skew(gateway-at-base)"], [], id="all-known"),
        pytest.param(["-s", "harness", "--", "-s", "nosuch"], [], id="after-the-dashes"),
    ],
)
def test_what_nox_refused_is_named_with_the_closest_names(argv: list[str], want: list[str]) -> None:
    assert nox_hints(argv, LISTING) == want
