"""The secret-leak check every test's teardown runs (``Stack.leaked_secrets``)
finds a login code or a token written to a service's log, and does not take
six digits inside a longer number, or inside a trace id, for a code."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.gatewayv1 import GatewayApi
from gatewayauthsession.scenario import log_in
from gatewayauthsession.stack import Stack


def _appended(log: Path, line: str) -> str:
    """``line`` appended to the log file; returns the file's text before it."""
    before = log.read_text()
    log.write_text(before + line + "\n")
    return before


@pytest.mark.rule("galaxy.logs.no-secrets")
def test_a_code_or_a_token_in_a_service_log_is_found(stack: Stack, api: GatewayApi) -> None:
    login = log_in(stack, api, "leaky@example.com")
    code = str(stack.mail.messages[-1].data["code"])
    assert stack.leaked_secrets() == []

    log = stack.authsession.log_path
    for secret in (code, login.refresh_token, login.access_token):
        before = _appended(log, f'{{"msg":"oops","value":"{secret}"}}')
        try:
            assert stack.leaked_secrets() == [secret]
        finally:
            log.write_text(before)  # this test's own teardown runs the same check


def test_six_digits_inside_a_longer_number_or_a_trace_id_are_no_leak(stack: Stack, api: GatewayApi) -> None:
    log_in(stack, api, "careful@example.com")
    code = str(stack.mail.messages[-1].data["code"])
    # As the services write it: compact JSON, the trace attributes after the message.
    line = f'{{"msg":"ok","time_ns":17{code}42,"trace_id":"ab{code}cd{"0" * 20}","span_id":"f{code}e12345678"}}'
    before = _appended(stack.gateway.log_path, line)
    try:
        assert stack.leaked_secrets() == []
    finally:
        stack.gateway.log_path.write_text(before)
