"""Disabling a user at the user service ends every session of it at once (OWASP ASVS 5.0, V7.4.2): the admin
API answers once authsession acknowledged the revocation, and from then on the gateway refuses every access
token of those sessions, over HTTP and gRPC, on the very next request. A disabled user gets no session, even one
whose login was resolving the user as it was disabled; enabling it again lets it log in anew and brings no old
session back (galaxy/README.md, "user"; contracts/tokens.md, "Revoking every session of a user")."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest

from authsessionuser.scenario import refused_at_the_edge, working_at_the_edge
from contracts.errors import ApiError
from contracts.gatewayv1 import GatewayApi, Login
from contracts.tracing import TRACE_ID_KEY
from gatewayauthsession.scenario import (
    REPEATED_LOGINS,
    call_lines,
    code_for,
    expect_error,
    log_in,
    log_lines,
    session_ids,
)
from gatewayauthsession.stack import TRANSPORTS, Stack, Transport

pytestmark = REPEATED_LOGINS


REVOCATION_WAIT_S = 5.0


@pytest.mark.stack(revocation_wait=f"{REVOCATION_WAIT_S:.0f}s")
@pytest.mark.rule(
    "galaxy.user.disable.sessions-end",
    "galaxy.user.disable.wait",
    "galaxy.user.disable.delivery",
    "galaxy.user.disable.idempotent",
    "galaxy.user.generation",
    "galaxy.user.revocation-view",
    "galaxy.env.user-revocation-wait",
    "tokens.revoke-all.every-session",
    "tokens.access.session-live",
    "errors.code.unauthenticated",
)
def test_disabling_a_user_ends_every_session_and_access_token_at_once(stack: Stack, transport: Transport) -> None:
    mine = [log_in(stack, stack.api(t), "dora@example.com") for t in (*TRANSPORTS, transport)]
    bystander = log_in(stack, stack.api(transport), "bea@example.com")
    working_at_the_edge(stack, *mine)

    started = time.monotonic()
    disabled = stack.user_service.admin.disable(mine[0].user_id)
    took = time.monotonic() - started

    # It answers once authsession acknowledged, not at the end of the wait it may take.
    assert took < REVOCATION_WAIT_S / 2, f"the disable answered after {took:.1f}s"
    assert (disabled.http_status, disabled.status, disabled.generation) == (200, "disabled", 2)
    assert (disabled.revocation.state, disabled.revocation.generation) == ("done", 2)
    assert disabled.revocation.revoked_sessions == len(mine)
    # The request right after the acknowledgement: each token is refused by it, nothing waited for.
    api = stack.api(transport)
    for login in mine:
        expect_error("UNAUTHENTICATED", api.me, login.access_token)
    refused_at_the_edge(stack, *mine)
    working_at_the_edge(stack, bystander)
    assert session_ids(stack) == [bystander.session_id]
    assert stack.user_service.api.get(mine[0].user_id).status == "disabled"
    # The revocation went out in the disable's trace: authsession's call is in the test's.
    [revoke_all] = call_lines(stack, "authsession", "RevokeAllSessions")
    assert revoke_all[TRACE_ID_KEY] == stack.trace.trace_id, revoke_all

    # Disabling a disabled user changes nothing.
    again = stack.user_service.admin.disable(mine[0].user_id)
    assert (again.http_status, again.generation, again.revocation.state, again.revocation.generation) == (
        200,
        2,
        "done",
        2,
    )
    assert again.status_changed_at == disabled.status_changed_at
    working_at_the_edge(stack, bystander)


@pytest.mark.rule("galaxy.user.admin-routes-apart", "errors.code.not-found")
def test_no_admin_action_is_reached_through_the_public_listener(stack: Stack, api: GatewayApi) -> None:
    login = log_in(stack, api, "pat@example.com")
    public = stack.user_service.api
    for method, action in (("GET", ""), ("POST", "/disable"), ("POST", "/enable")):
        answer = public.request(method, f"/v1/admin/users/{login.user_id}{action}")
        assert answer.status_code == 404, f"{method} {action} on the public listener: {answer.status_code}"
        assert answer.json()["code"] == "NOT_FOUND"
    assert stack.user_service.admin.get(login.user_id).status == "active"
    working_at_the_edge(stack, login)


@pytest.mark.rule("user.resolve-on-confirm", "galaxy.user.disable.sessions-end", "errors.code.user-disabled")
def test_a_disabled_user_gets_no_session(stack: Stack, api: GatewayApi) -> None:
    first = log_in(stack, api, "gus@example.com")
    stack.user_service.admin.disable(first.user_id)
    challenge = api.start_email_login("gus@example.com")
    code = code_for(stack, challenge)

    expect_error("USER_DISABLED", api.confirm_email_login, challenge.challenge_id, code)
    assert session_ids(stack) == []
    # The challenge is used up, as for any disabled user: the same code opens nothing later.
    expect_error("CHALLENGE_NOT_FOUND", api.confirm_email_login, challenge.challenge_id, code)


@pytest.mark.rule("galaxy.user.enable.outcome", "galaxy.user.enable.idempotent", "galaxy.user.generation")
def test_enabling_a_user_again_lets_it_log_in_and_brings_no_session_back(stack: Stack, api: GatewayApi) -> None:
    old = log_in(stack, api, "enzo@example.com")
    stack.user_service.admin.disable(old.user_id)

    enabled = stack.user_service.admin.enable(old.user_id)

    assert (enabled.http_status, enabled.status, enabled.generation) == (200, "active", 3)
    assert (enabled.revocation.state, enabled.revocation.generation) == ("done", 2)
    refused_at_the_edge(stack, old)
    new = log_in(stack, api, "enzo@example.com")
    assert new.user_id == old.user_id, "enabled again, it is the same user"
    working_at_the_edge(stack, new)
    assert session_ids(stack) == [new.session_id]
    # Enabling an active user changes nothing.
    again = stack.user_service.admin.enable(old.user_id)
    assert (again.status, again.generation) == ("active", 3)
    working_at_the_edge(stack, new)


RESOLVE_HELD_S = 1.0
"""How long the user service's answers to authsession are held back in the scenario below."""


@pytest.mark.stack(links=("authsession->user",), gateway_authsession_timeout="15s", upstream_timeout="5s")
@pytest.mark.rule(
    "tokens.revoke-all.mark-first",
    "tokens.revoke-all.confirm-checks-mark",
    "tokens.revoke-all.confirm-resolves-again",
    "tokens.revoke-all.no-session-outlives",
)
def test_a_user_disabled_while_its_login_resolves_it_gets_no_session(stack: Stack, api: GatewayApi) -> None:
    """The user service answers a confirm's resolve "active"; before authsession reads the answer (held back on
    the link) the user is disabled and every session of it revoked. The confirm must not open a session that
    outlives that revocation: authsession resolves the user again and answers USER_DISABLED."""
    earlier = log_in(stack, api, "mallory@example.com")
    challenge = api.start_email_login("mallory@example.com")
    code = code_for(stack, challenge)
    answered: list[Login | ApiError] = []

    def confirm() -> None:
        try:
            answered.append(api.confirm_email_login(challenge.challenge_id, code))
        except ApiError as err:
            answered.append(err)

    with stack.link("authsession", "user").latency(ms=int(RESOLVE_HELD_S * 1000), direction="downstream"):
        confirming = threading.Thread(target=confirm)
        confirming.start()
        time.sleep(RESOLVE_HELD_S / 3)  # the resolve has reached the user service and been answered
        disabled = stack.user_service.admin.disable(earlier.user_id)
        confirming.join(timeout=30)
    assert not confirming.is_alive()

    # The premise: the user service answered the confirm's resolve before it disabled the user.
    resolves = _access_times(stack, "POST", "/v1/users/resolve")
    [disable] = _access_times(stack, "POST", f"/v1/admin/users/{earlier.user_id}/disable")
    assert len(resolves) >= 3, f"the login, the confirm and its second resolve; got {resolves}"
    assert resolves[1] < disable, (
        f"the confirm's resolve came after the disable: resolves {resolves}, disable {disable}"
    )
    assert (disabled.http_status, disabled.revocation.revoked_sessions) == (200, 1)

    [outcome] = answered
    assert isinstance(outcome, ApiError), f"a disabled user's login opened session {outcome}"
    assert outcome.code == "USER_DISABLED", outcome
    outcome.check_against_table()
    assert session_ids(stack) == []
    refused_at_the_edge(stack, earlier)


def _access_times(stack: Stack, method: str, path: str) -> list[datetime]:
    """When the user service answered each request of ``method path``, oldest first (its access lines)."""
    return sorted(
        datetime.fromisoformat(str(r["time"]))
        for r in log_lines(stack, "user")
        if r.get("msg") == "http request" and r.get("method") == method and r.get("path") == path
    )


@pytest.mark.rule("galaxy.user.admin-api", "errors.code.invalid-argument")
def test_an_admin_action_with_a_body_is_refused_and_changes_nothing(stack: Stack, api: GatewayApi) -> None:
    login = log_in(stack, api, "body@example.com")
    admin = stack.user_service.admin
    for action in ("disable", "enable"):
        answer = admin.request("POST", f"/v1/admin/users/{login.user_id}/{action}", json={"reason": "a body"})
        assert (answer.status_code, answer.json().get("code")) == (400, "INVALID_ARGUMENT"), (
            f"{action} with a body answered {answer.status_code} {answer.text}"
        )
    user = admin.get(login.user_id)
    assert (user.status, user.generation, user.revocation.state) == ("active", 1, "none"), user
    working_at_the_edge(stack, login)
