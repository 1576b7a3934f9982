"""Schemathesis against the OpenAPI document the gateway serves (``nox -s schemathesis``).

Every operation of the document is called on a real stack of its own with
inputs generated from the document: its examples, boundary values of its
schemas (the coverage phase) and random ones (fuzzing), valid and invalid.
Every answer is checked against the document by all of schemathesis's
checks: no 5xx, a documented status, content type and headers, a body that
matches the schema, an invalid input refused and a valid one accepted, the
bearer token enforced, and so on. The stateful test follows the document's
links (a challenge id from a start into a confirm, the tokens of a confirm
or a refresh into the calls that take them), so that the operations behind
a bearer token are reached with a live one, and after a logout or a
revocation with a dead one.

The document is read from its source file (``galaxy/gateway/api/openapi``),
which each stack first proves to be what its gateway serves at
``/openapi.json``. (schemathesis's ``from_fixture``, which loads a document
from a URL at run time, reads a pytest node attribute that pytest 9 no
longer has.)

Tokens: a valid case of an operation behind a bearer token gets the access
token of a login of its own (made through the stack's client); in the
stateful test the tokens flow along the links only, as a client's would, and
a confirm gets the code mailed for its challenge, as its user would read it.

The stacks are raised for exploring the document rather than with the
suite's defaults: the gateway's per-address limit and authsession's
per-client limits are high, so that generated calls get past them to the
handlers; the deadlines are long, since the mail and user stubs answer from
the test's own busy process; and every stack allows one start per email,
so that a call that repeats an email (the document's example, say) gets the
429 ``RATE_LIMITED`` answer (with ``Retry-After``), which is checked too.

Budget: the Hypothesis profile ``schemathesis`` (examples per operation and
phase, steps per stateful scenario) or ``schemathesis-deep``
(``nox -s schemathesis -- --deep``), both in ``harness/suites/hypothesis_profiles.py``.
Collected only under ``-m schemathesis``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import settings
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis import Case
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response

from gatewayauthsession.scenario import log_in, mailed_code
from gatewayauthsession.stack import Stack
from harness.paths import galaxy_root
from harness.suites.hypothesis_profiles import run_timeout_s

# Settings for exploring the document: calls get past the per-address and per-client limits to the
# handlers, and the deadlines leave the stubs, which answer from the busy test process, time to answer.
EXPLORING: dict[str, int | str] = {
    "upstream_timeout": "5s",
    "gateway_authsession_timeout": "8s",
    "start_limit_per_client": 1_000_000,
    "failed_attempts_per_hour": 1_000_000,
    "login_rate_per_minute": 6_000_000,
    "login_burst": 1_000_000,
}

pytestmark = [
    pytest.mark.schemathesis,
    pytest.mark.stack(**EXPLORING, start_limit_per_email=1),
    pytest.mark.timeout(run_timeout_s()),
]

DOCUMENT = galaxy_root() / "gateway" / "api" / "openapi" / "openapi.json"
CONFIRM = "POST /v1/auth/email/confirm"

# Every check schemathesis has for an OpenAPI document, each with its defaults. A call that gets no
# answer within the gateway's longest deadline and then some fails as a timeout.
CONFIG = {"checks": {"enabled": True}, "request-timeout": 10}
SOURCE = DOCUMENT.read_bytes()
schema = schemathesis.openapi.from_dict(json.loads(SOURCE), config=SchemathesisConfig.from_dict(CONFIG))


_LOGINS = itertools.count()


def _live_token(stack: Stack) -> str:
    """The access token of a new login, with an email of its own (so that no per-email limit is reached)."""
    return log_in(stack, stack.http, f"token-{next(_LOGINS)}@example.com").access_token


@pytest.fixture
def gateway(stack: Stack) -> str:
    """The base URL of the stack's gateway, once it is shown to serve the document under test."""
    served = stack.http.request("GET", "/openapi.json")
    assert served.status_code == 200
    assert served.content == SOURCE, f"the gateway does not serve {DOCUMENT} (as this run read it) as /openapi.json"
    return "http://" + stack.gateway.address("http")


class _Cases:
    """The cases a test ran, by operation (``"POST /v1/auth/refresh"``) and by operation and
    status (``"POST /v1/auth/refresh 401"``)."""

    def __init__(self) -> None:
        self.operations: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()

    def ran(self, case: Case[Any], response: Response) -> None:
        self.operations[case.operation.label] += 1
        self.statuses[f"{case.operation.label} {response.status_code}"] += 1


@pytest.fixture
def cases(request: pytest.FixtureRequest) -> Iterator[_Cases]:
    """The cases the test ran, recorded in the JUnit XML: ``cases``, the total, which the session
    checks, and each count. A test that ran no case fails. They go to the test's user properties
    directly, as the failure bundle's does: pytest's ``record_property`` warns under the xunit2
    family, which the warnings-as-errors configuration makes an error outside xdist (``-n 0``)."""
    ran = _Cases()
    yield ran
    properties = request.node.user_properties
    properties.append(("cases", ran.operations.total()))
    properties += sorted((ran.operations + ran.statuses).items())
    assert ran.operations.total(), "no case ran"


@schema.parametrize()
@pytest.mark.rule(
    "openapi.document.served",
    "errors.bad-input.never-500",
    "openapi.errors.problem",
    "openapi.problem.document",
    "openapi.problem.type",
    "openapi.problem.status",
    "openapi.problem.code",
    "openapi.header.retry-after",
    "openapi.bearer-auth",
    "openapi.route.method-not-allowed",
    "openapi.header.allow",
    "openapi.start.challenge-id",
    "openapi.login.response",
    "openapi.login.access-token",
    "openapi.login.refresh-token",
    "openapi.login.session-id",
    "openapi.refresh.rotation",
    transport="http",
)
def test_every_operation_answers_as_documented(case: Case[Any], stack: Stack, gateway: str, cases: _Cases) -> None:
    """A valid case of an operation behind a bearer token carries a live one, of a login of its own
    (a case may log out or revoke it); an invalid case keeps what was generated, as does every case
    that another check makes from it (no token, a wrong one)."""
    headers = None
    if case.operation.definition.raw.get("security") and case.meta and case.meta.generation.mode.is_positive:
        headers = {"Authorization": f"Bearer {_live_token(stack)}"}
    cases.ran(case, case.call_and_validate(base_url=gateway, headers=headers))


@pytest.mark.rule(
    "openapi.link.confirm-the-challenge",
    "openapi.link.with-get-me",
    "openapi.link.with-list-sessions",
    "openapi.link.with-refresh-session",
    "openapi.link.with-revoke-session",
    "openapi.link.with-logout",
    "openapi.link.revoke-a-listed-session",
    "openapi.confirm.session-created",
    transport="http",
)
def test_linked_operations_answer_as_documented(stack: Stack, gateway: str, cases: _Cases) -> None:
    """Scenarios along the document's links; a valid confirm of a challenge gets the code
    mailed for it (an invalid one keeps what was generated)."""

    class Linked(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Case[Any]) -> None:
            valid = case.meta is None or case.meta.generation.mode.is_positive
            if case.operation.label == CONFIRM and valid and isinstance(case.body, dict):
                code = mailed_code(stack, case.body.get("challenge_id"))
                if code is not None:
                    case.body = {**case.body, "code": code}

        def after_call(self, response: Response, case: Case[Any]) -> None:
            super().after_call(response, case)
            cases.ran(case, response)

        def get_call_kwargs(self, case: Case[Any]) -> dict[str, Any]:
            return {"base_url": gateway}

    # The stack keeps state (a challenge is used once, a session revoked stays revoked), so a
    # scenario that starts as an earlier one did may not go on as it did. Hypothesis stops there;
    # as schemathesis's own runner does, that ends the run without a failure (a check that failed
    # raises its failure instead).
    with contextlib.suppress(FlakyStrategyDefinition):
        Linked.run(settings=settings())
    assert cases.statuses[f"{CONFIRM} 200"], "no scenario confirmed a login"
