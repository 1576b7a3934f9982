"""Unit tests of the HTTP stubs' programmable faults: a status, a delay, a
malformed body, a dropped connection, for N requests or until cleared."""

from __future__ import annotations

import re
import socket
import threading
import time
from typing import Any

import pytest
import requests
from stub_support import TRACED, resolve, send, wait_until

from contracts.mail.stub import MailStub
from contracts.user.stub import UserStub
from harness.stubs.server import Fault, FaultKind

# --------------------------------------------------------------------------- faults


def test_fault_status_with_default_problem_body(users: UserStub) -> None:
    fault = users.fail_with(503)

    response = resolve(users, "a@example.com")

    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 503
    assert fault.applied == 1
    assert fault.remaining == 0
    assert users.users == {}  # answered instead of the stub
    assert resolve(users, "a@example.com").status_code == 201  # times=1: used up
    assert users.faults == []


def test_fault_status_with_custom_body(mail: MailStub) -> None:
    mail.fail_with(429, {"error": "slow down"})

    response = send(mail)

    assert response.status_code == 429
    assert response.json() == {"error": "slow down"}
    assert mail.messages == []


def test_fault_count_expires(mail: MailStub) -> None:
    fault = mail.fail_with(500, times=2)

    statuses = [send(mail, key=f"ch_{i}").status_code for i in range(4)]

    assert statuses == [500, 500, 202, 202]
    assert fault.applied == 2
    assert fault.exhausted


def test_fault_until_cleared(mail: MailStub) -> None:
    fault = mail.fail_with(502, times=None)

    statuses = [send(mail, key=f"ch_{i}").status_code for i in range(3)]
    mail.clear_faults()

    assert statuses == [502, 502, 502]
    assert fault.remaining is None
    assert fault.applied == 3
    assert send(mail, key="ch_x").status_code == 202


def test_fault_only_on_its_path(users: UserStub) -> None:
    user = users.add_user("a@example.com")
    users.fail_with(500, path=re.compile(r"/v1/users/usr_\w+"), times=None)
    users.drop_connection(path="/v1/users/resolve")

    assert requests.get(f"{users.url}/v1/users/{user.id}", headers=TRACED, timeout=5).status_code == 500
    with pytest.raises(requests.ConnectionError):
        resolve(users, "a@example.com")
    assert resolve(users, "a@example.com").status_code == 200
    assert requests.get(f"{users.url}/v1/users/{user.id}", headers=TRACED, timeout=5).status_code == 500


def test_fault_delay(mail: MailStub) -> None:
    fault = mail.delay(0.3)

    started = time.monotonic()
    response = send(mail)
    elapsed = time.monotonic() - started

    assert response.status_code == 202  # a delay goes on to the stub's answer
    assert 0.3 <= elapsed < 3
    assert fault.applied == 1
    assert mail.requests[0].duration >= 0.3
    started = time.monotonic()
    send(mail, key="ch_2")
    assert time.monotonic() - started < 0.3


def test_fault_delay_times_out_a_client(mail: MailStub) -> None:
    mail.delay(5)

    with pytest.raises(requests.ReadTimeout):
        send(mail, timeout=0.2)


def test_fault_delay_then_status(mail: MailStub) -> None:
    mail.delay(0.2)
    mail.fail_with(503)

    started = time.monotonic()
    response = send(mail)

    assert response.status_code == 503
    assert time.monotonic() - started >= 0.2
    assert mail.requests[0].fault == "delay 0.2s [1/1 applied], status 503 [1/1 applied]"
    assert mail.faults == []


def test_fault_malformed_invalid_json(users: UserStub) -> None:
    users.malformed()

    response = resolve(users, "a@example.com")

    assert response.status_code == 200
    with pytest.raises(requests.JSONDecodeError):
        response.json()


def test_fault_malformed_wrong_shape(users: UserStub) -> None:
    users.malformed("wrong_shape", status=201)

    response = resolve(users, "a@example.com")

    assert response.status_code == 201
    assert "id" not in response.json()
    assert users.users == {}


def test_fault_drop_connection(mail: MailStub) -> None:
    fault = mail.drop_connection()

    with pytest.raises(requests.ConnectionError):
        send(mail)

    assert fault.applied == 1
    [record] = mail.requests
    assert record.status is None
    assert record.fault == "drop connection [1/1 applied]"
    assert mail.messages == []
    assert send(mail).status_code == 202  # the next one is served
    assert "no response (connection dropped)" in mail.format_log()


def test_fault_drop_connection_writes_no_bytes(mail: MailStub) -> None:
    mail.drop_connection()
    host, port = mail.url.removeprefix("http://").split(":")

    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Idempotency-Key: k\r\nContent-Length: 2\r\n\r\n{}"
        )
        received = b""
        while chunk := sock.recv(1024):
            received += chunk

    assert received == b""


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"times": 0}, "times"), ({"status": 99}, "HTTP status"), ({"seconds": -1}, "negative")],
)
def test_fault_arguments_are_checked(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Fault(FaultKind.STATUS, **{"times": 1, **kwargs})


def test_stop_returns_promptly_while_a_delayed_request_is_in_flight() -> None:
    stub = MailStub().start()
    fault = stub.delay(60)
    outcome: list[BaseException | requests.Response] = []

    def call() -> None:
        try:
            outcome.append(send(stub, timeout=30))
        except requests.RequestException as exc:
            outcome.append(exc)

    client = threading.Thread(target=call)
    client.start()
    wait_until(lambda: fault.applied == 1)

    started = time.monotonic()
    stub.stop()
    assert time.monotonic() - started < 2
    client.join(5)
    assert not client.is_alive()
    assert isinstance(outcome[0], requests.ConnectionError)


def test_reset_cuts_a_delayed_request_short(mail_server: MailStub) -> None:
    mail_server.reset()
    fault = mail_server.delay(60)
    outcome: list[BaseException | requests.Response] = []

    def call() -> None:
        try:
            outcome.append(send(mail_server, timeout=30))
        except requests.RequestException as exc:
            outcome.append(exc)

    client = threading.Thread(target=call)
    client.start()
    wait_until(lambda: fault.applied == 1)
    mail_server.reset()
    client.join(5)

    assert isinstance(outcome[0], requests.ConnectionError)
    assert mail_server.requests == []  # the old request stays out of the new log
    assert send(mail_server).status_code == 202
    mail_server.reset()
