"""Unit tests of the HTTP stubs: harness.stubs.server, contracts.mail.stub, contracts.user.stub."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from stub_support import MESSAGE, TRACED, TRACEPARENT, BuggyStub, resolve, send

from contracts.mail.stub import MailMessage, MailStub
from contracts.user.stub import User, UserStub

ROOT = Path(__file__).resolve().parents[2]

# --------------------------------------------------------------------------- lifecycle


def test_start_returns_self_and_serves_on_loopback() -> None:
    stub = MailStub()
    assert not stub.running
    with pytest.raises(RuntimeError, match="not running"):
        _ = stub.url
    assert stub.start() is stub
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", stub.url)
        assert stub.start() is stub  # already running: no-op
        assert send(stub).status_code == 202
    finally:
        stub.stop()
    assert not stub.running


def test_stop_is_idempotent_and_closes_the_port() -> None:
    stub = UserStub()
    stub.stop()  # never started: fine
    with stub:
        url = stub.url
    stub.stop()
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{url}/v1/users/resolve", json={"email": "a@example.com"}, timeout=2)


def test_a_stopped_stub_can_start_again() -> None:
    stub = UserStub()
    with stub:
        pass
    with stub:
        assert resolve(stub, "a@example.com").status_code == 201


# --------------------------------------------------------------------------- mail


def test_mail_accepts_and_stores_a_message(mail: MailStub) -> None:
    response = send(mail, key="ch_1")

    assert response.status_code == 202
    message_id = response.json()["id"]
    assert re.fullmatch(r"msg_[0-9a-f]+", message_id)
    assert mail.messages == [
        MailMessage(
            to="ada@example.com",
            template="login_code",
            data={"code": "123456", "expires_at": "2026-01-01T00:10:00Z"},
            idempotency_key="ch_1",
            id=message_id,
        )
    ]
    assert mail.messages_to("ADA@example.com") == mail.messages
    assert mail.messages_to("bob@example.com") == []
    assert mail.last_code("ada@example.com") == "123456"


def test_mail_last_code_is_the_latest(mail: MailStub) -> None:
    send(mail, key="ch_1")
    send(mail, key="ch_2", body={**MESSAGE, "data": {"code": "654321", "expires_at": "2026-01-01T00:10:00Z"}})
    send(
        mail,
        key="ch_3",
        body={**MESSAGE, "to": "bob@example.com", "data": {"code": "111111", "expires_at": "2026-01-01T00:10:00Z"}},
    )

    assert mail.last_code("ada@example.com") == "654321"
    assert mail.last_code("bob@example.com") == "111111"
    assert [m.idempotency_key for m in mail.messages_to("ada@example.com")] == ["ch_1", "ch_2"]


def test_mail_last_code_without_a_message_lists_what_was_delivered(mail: MailStub) -> None:
    send(mail, key="ch_1")
    with pytest.raises(AssertionError, match=r"no code to 'bob@example\.com'") as failure:
        mail.last_code("bob@example.com")
    assert "to='ada@example.com'" in str(failure.value)
    assert "code='123456'" in str(failure.value)


def test_mail_last_code_when_nothing_was_delivered(mail: MailStub) -> None:
    with pytest.raises(AssertionError, match="delivered 0 message"):
        mail.last_code("ada@example.com")


def test_mail_same_idempotency_key_gets_the_same_id_and_is_stored_once(mail: MailStub) -> None:
    first = send(mail, key="ch_1")
    again = send(mail, key="ch_1")
    other = send(mail, key="ch_2")

    assert first.status_code == again.status_code == other.status_code == 202
    assert first.json()["id"] == again.json()["id"] != other.json()["id"]
    assert [m.idempotency_key for m in mail.messages] == ["ch_1", "ch_2"]


def test_mail_reused_idempotency_key_with_another_message_is_a_violation(mail: MailStub) -> None:
    send(mail, key="ch_1")
    response = send(
        mail, key="ch_1", body={**MESSAGE, "data": {"code": "999999", "expires_at": "2026-01-01T00:10:00Z"}}
    )

    assert response.status_code == 422
    assert len(mail.messages) == 1
    with pytest.raises(AssertionError, match="reused with a different message"):
        mail.check()


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        pytest.param({k: v for k, v in MESSAGE.items() if k != "to"}, None, '"to" must be', id="no-to"),
        pytest.param({**MESSAGE, "to": "not-an-address"}, None, '"to" must be', id="bad-to"),
        pytest.param({**MESSAGE, "to": 7}, None, '"to" must be', id="to-not-string"),
        pytest.param({k: v for k, v in MESSAGE.items() if k != "template"}, None, '"template"', id="no-template"),
        pytest.param({**MESSAGE, "template": ""}, None, '"template"', id="empty-template"),
        pytest.param({**MESSAGE, "template": "welcome"}, None, '"template"', id="other-template"),
        pytest.param({**MESSAGE, "data": {"code": "123456"}}, None, '"data.expires_at"', id="no-expiry"),
        pytest.param(
            {**MESSAGE, "data": {"code": "123456", "expires_at": "soon"}}, None, '"data.expires_at"', id="bad-expiry"
        ),
        pytest.param({k: v for k, v in MESSAGE.items() if k != "data"}, None, '"data" must be', id="no-data"),
        pytest.param({**MESSAGE, "data": {"expires_at": "2026-01-01T00:10:00Z"}}, None, '"data.code"', id="no-code"),
        pytest.param({**MESSAGE, "data": {"code": 123456}}, None, '"data.code"', id="code-not-string"),
        pytest.param(["not", "an", "object"], None, "JSON object", id="not-an-object"),
        pytest.param(b'{"to": ', {"Content-Type": "application/json"}, "not JSON", id="invalid-json"),
        pytest.param(b"", {"Content-Type": "application/json"}, "empty", id="empty-body"),
        pytest.param(b"to=ada", {"Content-Type": "text/plain"}, "Content-Type", id="wrong-content-type"),
        pytest.param(MESSAGE, {"Idempotency-Key": ""}, "Idempotency-Key", id="empty-idempotency-key"),
        pytest.param(MESSAGE, {"Idempotency-Key": None}, "Idempotency-Key", id="no-idempotency-key"),
        pytest.param(MESSAGE, {"traceparent": TRACEPARENT.upper()}, "traceparent", id="upper-case-traceparent"),
        pytest.param(MESSAGE, {"traceparent": TRACEPARENT + "-00"}, "traceparent", id="traceparent-fifth-field"),
        pytest.param(
            MESSAGE, {"traceparent": "00-" + "0" * 32 + "-00f067aa0ba902b7-01"}, "traceparent", id="zero-trace-id"
        ),
    ],
)
def test_mail_rejects_a_malformed_request_with_400(
    mail: MailStub, body: Any, headers: dict[str, str | None] | None, reason: str
) -> None:
    all_headers: dict[str, str | None] = {"Idempotency-Key": "ch_1", **TRACED, **(headers or {})}
    if isinstance(body, bytes):
        response = requests.post(f"{mail.url}/v1/messages", data=body, headers=all_headers, timeout=5)
    else:
        response = requests.post(f"{mail.url}/v1/messages", json=body, headers=all_headers, timeout=5)

    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert reason in response.json()["detail"]
    assert mail.messages == []
    assert len(mail.violations) == 1
    with pytest.raises(AssertionError, match=re.escape(reason)):
        mail.check()
    mail.check()  # reported once, then forgotten


def test_mail_unknown_endpoint_and_method_are_violations(mail: MailStub) -> None:
    assert requests.post(f"{mail.url}/v1/message", json=MESSAGE, timeout=5).status_code == 404
    assert requests.get(f"{mail.url}/v1/messages", timeout=5).status_code == 405

    assert mail.violations == [
        "POST /v1/message: mail stub has no endpoint /v1/message",
        "GET /v1/messages: GET is not allowed on /v1/messages (only POST)",
    ]
    with pytest.raises(AssertionError, match="2 request"):
        mail.check()


# --------------------------------------------------------------------------- users


def test_users_resolve_creates_on_first_sight_then_finds(users: UserStub) -> None:
    created = resolve(users, "ada@xn--bcher-kva.example")
    found = resolve(users, "ada@xn--bcher-kva.example")

    assert created.status_code == 201
    assert found.status_code == 200
    user = created.json()
    assert found.json() == user
    assert re.fullmatch(r"usr_[0-9a-f]{32}", user["id"])
    assert user == {"id": user["id"], "email": "ada@xn--bcher-kva.example", "status": "active"}
    assert users.users == {user["id"]: User(user["id"], "ada@xn--bcher-kva.example", "active")}
    assert users.user_by_email("ADA@Bücher.example") == User(user["id"], "ada@xn--bcher-kva.example", "active")
    assert users.violations == []


def test_users_name_a_user_by_the_normal_form_and_hold_the_caller_to_sending_it(users: UserStub) -> None:
    """contracts/email.md: ``José@BÜCHER.example`` and its normal form are one user (the user service's answer);
    authsession sends only normal forms, so the other spelling is the caller's contract violation."""
    created = resolve(users, "jose\u0301@xn--bcher-kva.example")
    other = resolve(users, "JOSÉ@BÜCHER.example")

    assert (created.status_code, other.status_code) == (201, 200)
    assert created.json() == other.json()
    assert created.json()["email"] == "josé@xn--bcher-kva.example"
    assert len(users.violations) == 2
    with pytest.raises(AssertionError, match="not a normal form"):
        users.check()


def test_users_refuse_an_address_the_policy_refuses_as_the_service_does(users: UserStub) -> None:
    response = resolve(users, "ada@exa\u200bmple.com")

    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "INVALID_ARGUMENT"
    assert users.users == {}
    with pytest.raises(AssertionError, match=r"holds U\+200B"):
        users.check()


def test_a_change_crossing_one_emails_resolve_runs_before_its_answer_arrives(users: UserStub) -> None:
    """The crossed resolve is answered as the user stood; the change is made before that answer
    arrives, only once, and only for its email."""
    user = users.add_user("eve@example.com")
    seen: list[str] = []

    def disable() -> None:
        seen.append(users.disable(user.id).status)

    users.cross_resolve("Eve@example.com", disable)
    assert resolve(users, "other@example.com").status_code == 201
    assert seen == [], "another email's resolve crosses nothing"
    assert resolve(users, "eve@example.com").json()["status"] == "active", "answered as the user stood"
    assert seen == ["disabled"], "the change made before the answer arrived"
    assert resolve(users, "eve@example.com").json()["status"] == "disabled"
    assert seen == ["disabled"], "once"
    assert not users.uncross_resolve("eve@example.com", disable), "the crossing was used up"
    users.cross_resolve("eve@example.com", disable)
    assert users.uncross_resolve("eve@example.com", disable)
    resolve(users, "eve@example.com")
    assert seen == ["disabled"], "a crossing forgotten never runs"


def test_two_crossings_of_one_email_run_one_a_resolve_in_their_order(users: UserStub) -> None:
    ran: list[str] = []

    def first() -> None:
        ran.append("first")

    def second() -> None:
        ran.append("second")

    users.cross_resolve("kim@example.com", first)
    users.cross_resolve("kim@example.com", second)
    resolve(users, "kim@example.com")
    assert ran == ["first"]
    assert not users.uncross_resolve("kim@example.com", first), "the first ran"
    assert users.uncross_resolve("kim@example.com", second), "the second waits for the next resolve"
    resolve(users, "kim@example.com")
    assert ran == ["first"]


def test_users_get_by_id(users: UserStub) -> None:
    user = users.add_user("bob@example.com")

    found = requests.get(f"{users.url}/v1/users/{user.id}", headers=TRACED, timeout=5)
    missing = requests.get(f"{users.url}/v1/users/usr_nobody", headers=TRACED, timeout=5)

    assert found.status_code == 200
    assert found.json() == {"id": user.id, "email": "bob@example.com", "status": "active"}
    assert missing.status_code == 404
    assert (missing.json()["status"], missing.json()["code"]) == (404, "NOT_FOUND")
    assert users.violations == []  # an unknown user is a normal answer, not a broken caller


def test_users_add_user_and_disable(users: UserStub) -> None:
    carol = users.add_user("carol@example.com")
    dan = users.add_user("dan@example.com", status="disabled")

    assert resolve(users, "carol@example.com").json()["status"] == "active"
    assert resolve(users, "dan@example.com").json() == {"id": dan.id, "email": "dan@example.com", "status": "disabled"}

    assert users.disable("CAROL@example.com") == User(carol.id, "carol@example.com", "disabled")
    assert users.disable(carol.id).status == "disabled"
    assert resolve(users, "carol@example.com").status_code == 200
    assert requests.get(f"{users.url}/v1/users/{carol.id}", headers=TRACED, timeout=5).json()["status"] == "disabled"
    assert set(users.users) == {carol.id, dan.id}


def test_users_arrangement_errors(users: UserStub) -> None:
    users.add_user("erin@example.com")
    with pytest.raises(ValueError, match="already has a user"):
        users.add_user("ERIN@example.com")
    with pytest.raises(LookupError, match=r"no user 'nobody@example\.com'.*erin@example\.com"):
        users.disable("nobody@example.com")
    assert users.user_by_email("nobody@example.com") is None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b'{"email": "a@example.com"', "not JSON", id="invalid-json"),
        pytest.param(b'["a@example.com"]', "JSON object", id="not-an-object"),
        pytest.param(b"{}", 'must be {"email"', id="no-email"),
        pytest.param(b'{"email": "a@example.com", "name": "a"}', 'must be {"email"', id="unknown-field"),
        pytest.param(b'{"email": "nobody"}', "not one local part, one @ and one domain", id="not-an-address"),
        pytest.param(b'{"email": 1}', 'must be {"email"', id="email-not-string"),
    ],
)
def test_users_resolve_rejects_a_malformed_request_with_400(users: UserStub, data: bytes, reason: str) -> None:
    response = requests.post(
        f"{users.url}/v1/users/resolve", data=data, headers={"Content-Type": "application/json", **TRACED}, timeout=5
    )

    assert response.status_code == 400
    assert reason in response.json()["detail"]
    assert response.json()["code"] == "INVALID_ARGUMENT"
    assert users.users == {}
    with pytest.raises(AssertionError, match="breaking its contract"):
        users.check()


@pytest.mark.parametrize(
    "traceparent",
    [
        pytest.param("", id="empty"),
        pytest.param(TRACEPARENT.upper(), id="upper-case"),
        pytest.param("ff" + TRACEPARENT[2:], id="version-ff"),
        pytest.param(TRACEPARENT[:-1], id="one-digit-flags"),
    ],
)
def test_users_refuse_a_malformed_traceparent(users: UserStub, traceparent: str) -> None:
    user = users.add_user("tracy@example.com")
    headers = {"traceparent": traceparent}

    resolved = requests.post(
        f"{users.url}/v1/users/resolve", json={"email": "tracy@example.com"}, headers=headers, timeout=5
    )
    got = requests.get(f"{users.url}/v1/users/{user.id}", headers=headers, timeout=5)

    assert (resolved.status_code, got.status_code) == (400, 400)
    assert "traceparent" in resolved.json()["detail"]
    assert len(users.violations) == 2
    with pytest.raises(AssertionError, match="traceparent"):
        users.check()


def test_a_request_without_traceparent_is_let_through(mail: MailStub, users: UserStub) -> None:
    """A service built before the trace context sends none; the tracing scenarios require it."""
    headers = {"Idempotency-Key": "ch_1", "traceparent": None}
    assert requests.post(f"{mail.url}/v1/messages", json=MESSAGE, headers=headers, timeout=5).status_code == 202
    assert requests.post(f"{users.url}/v1/users/resolve", json={"email": "a@example.com"}, timeout=5).status_code == 201
    assert [r.header("traceparent") for r in mail.requests + users.requests] == [None, None]
    assert mail.violations == users.violations == []


# --------------------------------------------------------------------------- request log, reset


def test_requests_are_logged(mail: MailStub) -> None:
    before = time.time()
    send(mail, key="ch_1")
    requests.get(f"{mail.url}/v1/messages?x=1", timeout=5)
    after = time.time()

    first, second = mail.requests
    assert (first.method, first.path, first.status) == ("POST", "/v1/messages", 202)
    assert first.header("Idempotency-Key") == "ch_1"
    assert first.headers["content-type"] == "application/json"
    assert first.json == MESSAGE
    assert first.json_error is None
    assert (second.method, second.path, second.query, second.status) == ("GET", "/v1/messages", "x=1", 405)
    assert second.json is None
    assert before <= first.at <= second.at <= after
    with pytest.raises(AssertionError):
        mail.check()


def test_format_log_describes_requests_faults_and_violations(mail: MailStub) -> None:
    mail.fail_with(503, times=1)
    send(mail, key="ch_fault")
    send(mail, key="", body={"to": "x"})
    mail.drop_connection(path="/elsewhere", times=None)

    text = mail.format_log()

    assert text.startswith(f"mail stub at {mail.url}: 2 request(s)")
    assert "#1 POST /v1/messages -> 503" in text
    assert "fault: status 503 [1/1 applied]" in text
    assert "idempotency-key: ch_fault" in text
    assert '"to": "ada@example.com"' in text
    assert "#2 POST /v1/messages -> 400" in text
    assert "note: the Idempotency-Key header is missing or empty" in text
    assert "contract violations:" in text
    assert "active faults:\n  - drop connection on /elsewhere [until cleared]" in text
    with pytest.raises(AssertionError, match="Idempotency-Key"):
        mail.check()


def test_reset_forgets_state_log_faults_and_violations(mail_server: MailStub, user_server: UserStub) -> None:
    mail_server.reset()  # whatever earlier tests left (tests run in random order)
    user_server.reset()
    send(mail_server, key="ch_1")
    send(mail_server, key="")  # a violation
    mail_server.fail_with(500, times=None)
    user_server.add_user("a@example.com")

    mail_server.reset()
    user_server.reset()

    assert mail_server.messages == []
    assert mail_server.requests == []
    assert mail_server.faults == []
    assert mail_server.violations == []
    mail_server.check()
    assert user_server.users == {}
    # the same key is new again, and no fault is left
    assert send(mail_server, key="ch_1").status_code == 202
    assert len(mail_server.messages) == 1
    mail_server.reset()


# --------------------------------------------------------------------------- errors in server threads


def test_check_reraises_a_stub_error_in_the_test_thread() -> None:
    with BuggyStub() as stub:
        response = requests.get(f"{stub.url}/boom", timeout=5)
        assert requests.get(f"{stub.url}/ok", timeout=5).status_code == 200

        assert response.status_code == 500
        [boom, ok] = stub.requests
        assert boom.status == 500
        assert boom.note == "stub error: RuntimeError('stub bug: boom')"
        assert ok.status == 200
        with pytest.raises(RuntimeError, match="stub bug: boom"):
            stub.check()
        stub.check()  # reported once


def test_check_reraises_an_assertion_failed_in_stub_code() -> None:
    with BuggyStub() as stub:
        assert requests.get(f"{stub.url}/assert", timeout=5).status_code == 500
        with pytest.raises(AssertionError, match="stub assertion failed"):
            stub.check()
        stub.check()


def test_check_still_reports_after_stop() -> None:
    stub = BuggyStub().start()
    requests.get(f"{stub.url}/boom", timeout=5)
    stub.stop()
    with pytest.raises(RuntimeError, match="boom"):
        stub.check()


def test_check_passes_when_all_went_well(mail: MailStub) -> None:
    send(mail)
    mail.check()


def test_importing_the_stubs_does_not_import_the_server_library() -> None:
    code = (
        "import sys, contracts.mail.stub, contracts.user.stub; "
        "print('pytest_httpserver' in sys.modules, 'werkzeug' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == "False False"


def test_a_stopped_stub_restarts_on_the_same_address() -> None:
    stub = MailStub().start()
    try:
        url = stub.url
        stub.stop()
        with pytest.raises(requests.ConnectionError):
            requests.get(url + "/", timeout=2)
        stub.start()
        assert stub.url == url
        assert requests.get(url + "/no-such-route", timeout=2).status_code == 404
    finally:
        stub.stop()


def test_the_request_lines_of_a_stub_carry_no_colour_codes() -> None:
    """werkzeug colours a 404 yellow and another 4xx red; the lines go to stderr (as a test's captured output,
    the JUnit XML and the failure bundle get them) as plain text."""
    script = (
        "import requests\n"
        "from contracts.mail.stub import MailStub\n"
        "with MailStub() as stub:\n"
        "    requests.get(stub.url + '/nowhere', timeout=10)\n"
        "    requests.post(stub.url + '/v1/messages', data=b'{', timeout=10)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert '"GET /nowhere HTTP/1.1" 404' in done.stderr
    assert '"POST /v1/messages HTTP/1.1" 400' in done.stderr
    assert "\x1b[" not in done.stderr
