"""When the mail or user service fails, callers get a clear, bounded error,
no session is created, and nothing is lost once the dependency recovers:
which answers of theirs the wire contracts accept and which are failures,
and the deadline each upstream call gets."""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc
import pytest

from contracts.errors import ApiError
from contracts.gatewayv1 import GatewayApi
from contracts.mail import MESSAGES_PATH
from contracts.user import RESOLVE_PATH, USERS_BY_ID
from gatewayauthsession.scenario import call_lines, expect_error, log_in, served, session_events, session_ids
from gatewayauthsession.stack import Stack
from harness.stubs.server import HttpStub

UPSTREAM_TIMEOUT = 0.5
WAITING = "slower-than-the-deadline"

FAULTS: dict[str, Callable[[HttpStub], object]] = {
    "status-500": lambda stub: stub.fail_with(500, times=None),
    "status-503": lambda stub: stub.fail_with(503, times=None),
    "connection-drop": lambda stub: stub.drop_connection(times=None),
    WAITING: lambda stub: stub.delay(UPSTREAM_TIMEOUT * 4, times=None),
}
USER_FAULTS: dict[str, Callable[[HttpStub], object]] = {
    **FAULTS,
    "malformed-json": lambda stub: stub.malformed("invalid_json", times=None),
    "wrong-shape": lambda stub: stub.malformed("wrong_shape", times=None),
}


def _cases(faults: dict[str, Callable[[HttpStub], object]]) -> list[object]:
    """The faults as parameters; the one that makes the call wait out its deadline is marked so."""
    return [pytest.param(name, marks=[pytest.mark.waits] if name == WAITING else []) for name in faults]


@pytest.mark.stack(upstream_timeout=f"{UPSTREAM_TIMEOUT}s")
@pytest.mark.parametrize("fault", _cases(FAULTS))
@pytest.mark.rule(
    "mail.answer",
    "errors.code.dependency-unavailable",
    "errors.dependency.innermost",
    "galaxy.env.authsession-upstream-timeout",
    "openapi.response.dependency-unavailable",
    "openapi.start.challenge-created",  # no 200 unless the code was sent
)
def test_a_failing_mail_service_gives_a_clear_error_and_no_login(stack: Stack, api: GatewayApi, fault: str) -> None:
    FAULTS[fault](stack.mail)

    started = time.monotonic()
    expect_error("DEPENDENCY_UNAVAILABLE", api.start_email_login, "quinn@example.com", dependency="mail")
    assert time.monotonic() - started < UPSTREAM_TIMEOUT + 2, "the error must come within the upstream deadline"
    assert session_ids(stack) == []

    stack.mail.clear_faults()
    login = log_in(stack, api, "quinn@example.com")
    assert api.me(login.access_token).email == "quinn@example.com"


DEFAULT_UPSTREAM_TIMEOUT = 2.0  # AUTHSESSION_UPSTREAM_TIMEOUT's default (galaxy/README.md)


@pytest.mark.needs_stub(
    "user", "programs the stub's faults (statuses, malformed bodies); authsessionuser breaks the link"
)
@pytest.mark.stack(upstream_timeout=f"{UPSTREAM_TIMEOUT}s")
@pytest.mark.parametrize("fault", _cases(USER_FAULTS))
@pytest.mark.rule(
    "user.resolve-on-confirm",
    "user.answer-fields",
    "errors.code.dependency-unavailable",
    "errors.dependency.innermost",
    "galaxy.env.authsession-upstream-timeout",
    "redis.private.challenge",
)
def test_a_failing_user_service_gives_a_clear_error_and_keeps_the_code(
    stack: Stack, api: GatewayApi, fault: str
) -> None:
    challenge = api.start_email_login("ruth@example.com")
    code = stack.mail.last_code("ruth@example.com")
    USER_FAULTS[fault](stack.user_stub)

    started = time.monotonic()
    expect_error("DEPENDENCY_UNAVAILABLE", api.confirm_email_login, challenge.challenge_id, code, dependency="user")
    assert time.monotonic() - started < UPSTREAM_TIMEOUT + 2, "the error must come within the upstream deadline"
    assert session_ids(stack) == []

    # Nothing was lost: once the user service is back, the same code works.
    stack.user_stub.clear_faults()
    login = api.confirm_email_login(challenge.challenge_id, code)
    assert session_ids(stack) == [login.session_id]


@pytest.mark.stack(resend_cooldown="1h", start_limit_per_email=1, start_limit_per_client=1)
@pytest.mark.rule(
    "redis.private.resend-cooldown", "redis.private.starts-email", "redis.private.starts-client", "mail.answer"
)
def test_a_code_the_mail_service_failed_to_send_uses_up_no_limit(stack: Stack, api: GatewayApi) -> None:
    stack.mail.fail_with(503)  # once
    expect_error("DEPENDENCY_UNAVAILABLE", api.start_email_login, "quill@example.com", dependency="mail")

    # The cooldown, the email's start and the client's start were given back: the retry is the first start.
    login = log_in(stack, api, "quill@example.com")
    assert api.me(login.access_token).email == "quill@example.com"
    expect_error("RATE_LIMITED", api.start_email_login, "quill@example.com")  # and the limits still hold


# ------------------------------------------------------------------ what an upstream answer may be


def _mailed(stack: Stack) -> list[tuple[str, str]]:
    """(challenge id, code) of every request authsession made of the mail service, answered or not."""
    return [
        (r.headers["idempotency-key"], r.json["data"]["code"]) for r in stack.mail.requests if r.path == MESSAGES_PATH
    ]


MAIL_ACCEPTED = {
    "200": (200, {}),
    "201": (201, {"id": "m1"}),
    "202-no-id": (202, {}),
    "204": (204, {}),
    "299": (299, {}),
}
MAIL_REFUSED = {"302": 302, "304": 304, "400": 400, "404": 404, "409": 409, "429": 429, "502": 502}


@pytest.mark.parametrize("answer", MAIL_ACCEPTED)
@pytest.mark.rule("mail.answer", "mail.request")
def test_any_2xx_from_the_mail_service_is_a_delivery(stack: Stack, api: GatewayApi, answer: str) -> None:
    status, body = MAIL_ACCEPTED[answer]
    stack.mail.fail_with(status, body)

    challenge = api.start_email_login("any2xx@example.com")
    [(challenge_id, code)] = _mailed(stack)
    assert challenge_id == challenge.challenge_id
    login = api.confirm_email_login(challenge.challenge_id, code)
    assert session_ids(stack) == [login.session_id]


@pytest.mark.parametrize("answer", MAIL_REFUSED)
@pytest.mark.rule("mail.answer", "errors.code.dependency-unavailable", "errors.dependency.innermost")
def test_any_other_answer_of_the_mail_service_is_a_failed_delivery_and_the_challenge_is_forgotten(
    stack: Stack, api: GatewayApi, answer: str
) -> None:
    stack.mail.fail_with(MAIL_REFUSED[answer])

    expect_error("DEPENDENCY_UNAVAILABLE", api.start_email_login, "non2xx@example.com", dependency="mail")
    [(challenge_id, code)] = _mailed(stack)
    expect_error("CHALLENGE_NOT_FOUND", api.confirm_email_login, challenge_id, code)
    assert session_ids(stack) == []


def _user(**fields: object) -> dict[str, object]:
    """A user answer: the stub's fields with ``fields`` changed (None: left out)."""
    user = {"id": "usr_answered", "email": "answer@example.com", "status": "active"} | fields
    return {k: v for k, v in user.items() if v is not None}


RESOLVE_ACCEPTED = {
    "200": (200, _user()),
    "201": (201, _user()),
    "unknown-fields": (200, _user(plan="pro", tags=["a"])),
    "id-of-256-bytes": (200, _user(id="u" * 256)),
    "another-email": (200, _user(email="someone-else@example.com")),
    "email-not-an-address": (200, _user(email="")),
}
RESOLVE_REFUSED = {
    "202": (202, _user()),
    "204": (204, {}),
    "404": (404, None),
    "409": (409, None),
    "no-id": (200, _user(id=None)),
    "empty-id": (200, _user(id="")),
    "id-of-257-bytes": (200, _user(id="u" * 257)),
    "id-a-number": (200, _user(id=42)),
    "no-email": (200, _user(email=None)),
    "email-a-number": (200, _user(email=42)),
    "email-null": (200, {"id": "usr_answered", "email": None, "status": "active"}),
    "no-status": (200, _user(status=None)),
    "status-in-capitals": (200, _user(status="ACTIVE")),
    "another-status": (200, _user(status="blocked")),
    "a-list": (200, [_user()]),
}


def _resolve_answered(stack: Stack, api: GatewayApi, status: int, body: object) -> tuple[str, str]:
    """A login started, its challenge id and code, and the user service set to answer
    the next resolve with ``status`` and ``body``."""
    challenge = api.start_email_login("answer@example.com")
    stack.user_stub.fail_with(status, body, path=RESOLVE_PATH)
    return challenge.challenge_id, stack.mail.last_code("answer@example.com")


@pytest.mark.parametrize("answer", RESOLVE_ACCEPTED)
@pytest.mark.needs_stub("user", "has the stub answer what the contract allows or refuses")
@pytest.mark.rule("user.answer-fields", "user.resolve-on-confirm", "user.shape")
def test_a_user_the_contract_allows_is_resolved_whatever_else_it_carries(
    stack: Stack, api: GatewayApi, answer: str
) -> None:
    status, body = RESOLVE_ACCEPTED[answer]
    challenge_id, code = _resolve_answered(stack, api, status, body)

    login = api.confirm_email_login(challenge_id, code)
    assert login.user_id == body["id"]
    assert api.me(login.access_token).user_id == body["id"]


@pytest.mark.parametrize("answer", RESOLVE_REFUSED)
@pytest.mark.needs_stub("user", "has the stub answer what the contract allows or refuses")
@pytest.mark.rule("user.answer-fields", "user.resolve-on-confirm", "errors.dependency.innermost")
def test_a_user_answer_the_contract_does_not_allow_is_a_failure_of_the_user_service(
    stack: Stack, api: GatewayApi, answer: str
) -> None:
    challenge_id, code = _resolve_answered(stack, api, *RESOLVE_REFUSED[answer])

    expect_error("DEPENDENCY_UNAVAILABLE", api.confirm_email_login, challenge_id, code, dependency="user")
    assert session_ids(stack) == []
    login = served(api.confirm_email_login, challenge_id, code)  # the code stays usable
    assert session_ids(stack) == [login.session_id]


@pytest.mark.parametrize(
    "answer", ["another-users-id", "500", "not-a-user"], ids=["another-users-id", "500", "not-a-user"]
)
@pytest.mark.needs_stub("user", "has the stub answer what the contract allows or refuses")
@pytest.mark.rule("user.answer-fields", "tokens.refresh.owner-checked")
def test_an_owner_answer_the_contract_does_not_allow_changes_nothing(
    stack: Stack, api: GatewayApi, answer: str
) -> None:
    login = log_in(stack, api, "owner@example.com")
    if answer == "another-users-id":
        stack.user_stub.fail_with(200, _user(id="usr_someone_else"), path=USERS_BY_ID)
    elif answer == "500":
        stack.user_stub.fail_with(500, path=USERS_BY_ID)
    else:
        stack.user_stub.fail_with(200, {"user": login.user_id}, path=USERS_BY_ID)

    expect_error("DEPENDENCY_UNAVAILABLE", api.refresh_session, login.refresh_token, dependency="user")
    assert api.me(login.access_token).session_id == login.session_id
    assert served(api.refresh_session, login.refresh_token).session_id == login.session_id  # the token stayed usable


@pytest.mark.needs_stub("user", "has the stub answer what the contract allows or refuses")
@pytest.mark.rule(
    "tokens.refresh.owner-checked",
    "redis.events.reason-revoked",
    "redis.events.signal",
    "errors.code.invalid-refresh-token",
)
def test_a_refresh_whose_owner_the_user_service_no_longer_knows_revokes_the_session(
    stack: Stack, api: GatewayApi
) -> None:
    login = log_in(stack, api, "vanished@example.com")
    with session_events(stack) as events:
        stack.user_stub.fail_with(404, path=USERS_BY_ID)
        expect_error("INVALID_REFRESH_TOKEN", api.refresh_session, login.refresh_token)
        expect_error("UNAUTHENTICATED", api.me, login.access_token)
        assert session_ids(stack) == []
        assert events() == [
            {"type": "session.revoked", "session_id": login.session_id, "user_id": login.user_id, "reason": "revoked"}
        ]


# ------------------------------------------------------------------ deadlines


@pytest.mark.stack(gateway_authsession_timeout="1s", upstream_timeout="10s")
@pytest.mark.parametrize(
    "dependency",
    [
        pytest.param("mail", marks=pytest.mark.waits),
        pytest.param("user", marks=[pytest.mark.waits, pytest.mark.needs_stub("user", "has the stub hang")]),
    ],
)
@pytest.mark.rule(
    "errors.deadline.upstream-budget",
    "errors.dependency.innermost",
    "galaxy.env.gateway-authsession-timeout",
    "galaxy.env.authsession-upstream-timeout",
)
def test_an_upstream_call_gets_the_callers_deadline_when_that_is_shorter_than_its_own(
    stack: Stack, api: GatewayApi, dependency: str
) -> None:
    """With the gateway's deadline at 1 s and the upstream timeout at 10 s, a mail or
    user service that hangs is still named, within the gateway's second: authsession
    ends the call early enough for its answer to reach the gateway in time."""
    challenge = api.start_email_login("budget@example.com") if dependency == "user" else None
    stub = stack.mail if dependency == "mail" else stack.user_stub
    stub.delay(5.0, times=None)

    started = time.monotonic()
    if challenge is None:
        expect_error("DEPENDENCY_UNAVAILABLE", api.start_email_login, "budget@example.com", dependency="mail")
    else:
        code = stack.mail.last_code("budget@example.com")
        expect_error("DEPENDENCY_UNAVAILABLE", api.confirm_email_login, challenge.challenge_id, code, dependency="user")
    assert time.monotonic() - started < 1.0 + 2.0, "answered by the gateway's deadline (a margin for a busy machine)"
    stub.clear_faults()


@pytest.mark.rule("errors.deadline.no-work-past-deadline", "tracing.hop.authsession-grpc")
def test_a_call_that_arrives_with_no_time_left_does_nothing(stack: Stack) -> None:
    """A call whose deadline leaves less than the margin its answer needs when it
    arrives is answered DEADLINE_EXCEEDED, with no ErrorInfo, and writes nothing: no
    code is mailed, no limit counted (the same email starts at once afterwards, the
    30 s resend cooldown untouched)."""
    with stack.authsession_client() as client:
        arrived: list[dict[str, object]] = []
        tries = 5  # the client's own clock may give up before the call is even sent
        for _ in range(tries):
            with pytest.raises(ApiError) as info:
                client.start_email_login("late@example.com", "192.0.2.1", timeout=0.04)
            assert info.value.status == grpc.StatusCode.DEADLINE_EXCEEDED, info.value
            arrived = call_lines(stack, "authsession", "StartEmailLogin")
            if arrived:
                break
        assert arrived, f"no call arrived at authsession in {tries} tries"
        assert {(line["code"], line.get("error_code")) for line in arrived} <= {("DeadlineExceeded", None)}, arrived
        assert _mailed(stack) == []
        client.start_email_login("late@example.com", "192.0.2.1")
    assert len(_mailed(stack)) == 1
