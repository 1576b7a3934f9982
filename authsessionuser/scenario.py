"""The suite's steps: a user's sessions opened over the public edge, disabled and enabled at the user
service's admin API, and what the gateway then lets through; the gateway steps are gatewayauthsession's."""

from __future__ import annotations

import time

from contracts.errors import ApiError
from contracts.gatewayv1 import Login
from contracts.user.client import AdminUser
from gatewayauthsession.scenario import expect_error
from gatewayauthsession.stack import TRANSPORTS, Stack

__all__ = ["await_revocation", "refused_at_the_edge", "working_at_the_edge"]


def await_revocation(stack: Stack, user_id: str, *, within: float = 10.0) -> AdminUser:
    """The user, as the admin API shows it once the revocation of its latest disable is done; no call but
    these reads is made meanwhile (the user service delivers it on its own)."""
    deadline = time.monotonic() + within
    while (user := stack.user_service.admin.get(user_id)).revocation.state != "done":
        assert time.monotonic() < deadline, f"the revocation is not done after {within}s: {user.revocation}"
        time.sleep(0.05)
    return user


def refused_at_the_edge(stack: Stack, *logins: Login) -> None:
    """Each login's access token is refused by the gateway over both transports, and its refresh token
    refreshes nothing."""
    for login in logins:
        for transport in TRANSPORTS:
            expect_error("UNAUTHENTICATED", stack.api(transport).me, login.access_token)
        expect_error("INVALID_REFRESH_TOKEN", stack.api("http").refresh_session, login.refresh_token)


def working_at_the_edge(stack: Stack, *logins: Login) -> None:
    """Each login's access token is accepted by the gateway over both transports, for its own session."""
    for login in logins:
        for transport in TRANSPORTS:
            try:
                me = stack.api(transport).me(login.access_token)
            except ApiError as err:
                raise AssertionError(f"{transport}: the access token of session {login.session_id}: {err}") from err
            assert me.session_id == login.session_id
