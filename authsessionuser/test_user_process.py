"""The user service as a process (``galaxy/README.md``, its user section and "Readiness and health"): its
settings refused one line each, its two listeners each with the probes, readiness that asks its Redis and
not authsession, and its storage failing as a dependency, never as a user that is not there."""

from __future__ import annotations

import time

import pytest
import requests

from authsessionuser.scenario import working_at_the_edge
from contracts.errors import ApiError
from gatewayauthsession.by_hand import by_hand, run_to_exit
from gatewayauthsession.namespace import get_inside, own_network_namespace
from gatewayauthsession.scenario import beyond_shared_checks, expect_error, log_in
from gatewayauthsession.stack import Stack
from harness.forensics.timeline import json_lines

CONFIGURATION = "user: configuration: "
READY_TIMEOUT_S = 0.25  # USER_READY_TIMEOUT's default
PROBES = 4
"""Readiness probes in a row on each listener while Redis answers nothing."""
SPREAD = 1.5
"""The fastest of the probes after the first answers within this many times the default bound. Probes that
arrive together share one check, so the first may join one already under way and be answered early; each later
one is sent as the answer before it comes, starts a check of its own and waits it out. A bound twice the default
answers none within 1.5 times it; the default fails this only if a busy machine holds up every later probe by
half the bound (125 ms) or more."""

CONFIG_PROBLEMS: dict[str, str | None] = {
    "USER_REDIS_URL": None,
    "USER_AUTHSESSION_ADDR": None,
    "USER_REDIS_TIMEOUT": "one second",
    "USER_READY_TIMEOUT": "-1s",
    "USER_REVOCATION_RETRY_MIN": "soon",
    "USER_SHUTDOWN_TIMEOUT": "later",
    "USER_LOG_LEVEL": "loud",
}


def _lines(proc_stderr: str) -> list[str]:
    lines = proc_stderr.splitlines()
    assert all(line.startswith(CONFIGURATION) for line in lines), lines
    return lines


@pytest.mark.rule(
    "galaxy.process.configuration",
    "galaxy.env.user-redis-url",
    "galaxy.env.user-authsession-addr",
    "galaxy.env.user-redis-timeout",
    "galaxy.env.user-ready-timeout",
    "galaxy.env.user-revocation-retry-min",
    "galaxy.env.user-shutdown-timeout",
    "galaxy.env.user-log-level",
)
def test_every_bad_or_missing_setting_of_the_user_service_is_one_line_and_exit_code_2(stack: Stack) -> None:
    proc, seconds = run_to_exit(stack, "user", CONFIG_PROBLEMS)

    assert (proc.returncode, proc.stdout) == (2, ""), proc
    assert seconds < 5
    lines = _lines(proc.stderr)
    assert len(lines) == len(CONFIG_PROBLEMS), lines
    assert {var for var in CONFIG_PROBLEMS for line in lines if var in line} == set(CONFIG_PROBLEMS), lines


@pytest.mark.rule("galaxy.process.configuration", "galaxy.env.user-admin-addr", "galaxy.env.user-http-addr")
def test_the_admin_api_cannot_share_the_public_listener(stack: Stack) -> None:
    proc, _ = run_to_exit(stack, "user", {"USER_HTTP_ADDR": "127.0.0.1:7", "USER_ADMIN_ADDR": "127.0.0.1:7"})

    assert proc.returncode == 2, proc
    [line] = _lines(proc.stderr)
    assert "USER_ADMIN_ADDR" in line, line
    assert "USER_HTTP_ADDR" in line, line


def _probe(stack: Stack, listener: str, path: str) -> requests.Response:
    return requests.get(f"http://{stack.address('user', listener)}{path}", timeout=5)


@pytest.mark.rule(
    "galaxy.readiness.user-listeners",
    "galaxy.readiness.user-dependencies",
    "galaxy.user.admin-api",
    "galaxy.env.user-ready-timeout",
    "galaxy.env.user-ready-file",
    "galaxy.env.user-http-addr",
    "galaxy.env.user-admin-addr",
)
def test_readiness_is_on_both_listeners_asks_redis_within_its_bound_and_not_authsession(stack: Stack) -> None:
    # The ready file named both listeners; each serves the probes.
    assert set(stack.process("user").addresses) == {"http", "admin"}
    for listener in ("http", "admin"):
        for path in ("/healthz", "/readyz"):
            resp = _probe(stack, listener, path)
            assert (resp.status_code, resp.json()) == (200, {"status": "ok"}), (listener, path, resp.text)

    # authsession is a soft dependency: without it the user service stays ready.
    stack.process("authsession").kill()
    for listener in ("http", "admin"):
        assert _probe(stack, listener, "/readyz").status_code == 200, listener

    # Its Redis is a hard one: a Redis that answers nothing makes it not ready, within the readiness bound.
    stack.redis.pause()
    try:
        for listener in ("http", "admin"):

            def probe(listener: str = listener) -> tuple[requests.Response, float]:
                started = time.monotonic()
                resp = _probe(stack, listener, "/readyz")
                return resp, round(time.monotonic() - started, 3)

            # The first probe may join a check begun before Redis paused, answered ready within the bound: only
            # that answer is asked again; each later probe is sent after an answer of a check begun after it.
            early = beyond_shared_checks(probe, lambda a: a[0].status_code == 200 and a[1] < READY_TIMEOUT_S)
            answers = early[-1:] + [probe() for _ in range(PROBES - 1)]
            seconds = [took for _, took in answers]
            for resp, _ in answers:
                assert resp.status_code == 503, (listener, resp.text, [(a.status_code, t) for a, t in early])
                problem = resp.json()
                dependency = (problem["code"], problem["metadata"]["dependency"])
                assert dependency == ("DEPENDENCY_UNAVAILABLE", "redis"), problem
            bound = READY_TIMEOUT_S * SPREAD
            assert min(seconds[1:]) < bound, f"{listener}'s later /readyz probes all took {bound}s or more: {seconds}"
            assert _probe(stack, listener, "/healthz").status_code == 200, listener  # alive all the same
    finally:
        stack.redis.resume()


@pytest.mark.rule(
    "user.storage-failure",
    "galaxy.user.disable.atomic",
    "errors.code.dependency-unavailable",
    "galaxy.env.user-redis-timeout",
)
def test_a_user_the_service_cannot_read_is_unavailable_never_not_found(stack: Stack) -> None:
    login = log_in(stack, stack.api("http"), "stored@example.com")
    api, admin = stack.user_service.api, stack.user_service.admin

    stack.redis.pause()
    try:
        for call, args in (
            (api.get, (login.user_id,)),
            (api.get, ("usr_" + "0" * 32,)),  # not there, could it be read: still no 404 while it cannot
            (api.resolve, ("stored@example.com",)),
            (admin.get, (login.user_id,)),
            (admin.disable, (login.user_id,)),
        ):
            started = time.monotonic()
            err = expect_error("DEPENDENCY_UNAVAILABLE", call, *args, dependency="redis")
            assert isinstance(err, ApiError)
            assert time.monotonic() - started < 5, f"{call.__name__}{args} waited for Redis"
    finally:
        stack.redis.resume()

    # Nothing of it was lost or changed: the user is there and active, its session still works at the edge.
    assert api.get(login.user_id).status == "active"
    assert admin.get(login.user_id).generation == 1
    working_at_the_edge(stack, login)


ADMIN_DEFAULT = "127.0.0.1:8091"  # galaxy/README.md, USER_ADMIN_ADDR
PUBLIC_DEFAULT_PORT = "8090"  # galaxy/README.md, USER_HTTP_ADDR: ":8090", every interface
ANOTHER_LOOPBACK = "127.0.0.2"  # another of loopback's addresses, not the admin default's


@pytest.mark.rule("galaxy.user.admin-listener", "galaxy.env.user-admin-addr", "galaxy.env.user-http-addr")
def test_unless_told_the_public_api_listens_everywhere_and_the_admin_api_on_loopback_only(stack: Stack) -> None:
    """A user process given neither listen address, in a network namespace of its own (its default ports
    free there whatever else the machine runs), asked from inside it. Its Redis is out of reach there, so
    an admin route answers as the admin API does when its storage fails (``user.storage-failure``): 503
    DEPENDENCY_UNAVAILABLE naming redis, never a 404."""
    changes: dict[str, str | None] = {"USER_HTTP_ADDR": None, "USER_ADMIN_ADDR": None}
    proc = by_hand(stack, "user", changes, through=own_network_namespace()).start()
    assert not set(changes) & set(proc.env), proc.env

    assert proc.address("admin") == ADMIN_DEFAULT, f"the admin API listens on {proc.address('admin')}"
    assert proc.address("http").rsplit(":", 1)[1] == PUBLIC_DEFAULT_PORT, proc.address("http")
    served = get_inside(proc, f"http://{ADMIN_DEFAULT}/v1/admin/users/usr_{'0' * 32}")
    assert served is not None, f"nothing answers on {ADMIN_DEFAULT}"
    assert (served.status, served.json()["code"]) == (503, "DEPENDENCY_UNAVAILABLE"), served
    assert served.json()["metadata"]["dependency"] == "redis", served
    # The public API is on every interface: another of the namespace's addresses reaches it.
    public = get_inside(proc, f"http://{ANOTHER_LOOPBACK}:{PUBLIC_DEFAULT_PORT}/healthz")
    assert public is not None, f"nothing answers on {ANOTHER_LOOPBACK}:{PUBLIC_DEFAULT_PORT}"
    assert public.status == 200, public
    # The admin API is bound to loopback's one address, not to every interface: that address reaches nothing.
    admin_port = ADMIN_DEFAULT.rsplit(":", 1)[1]
    assert get_inside(proc, f"http://{ANOTHER_LOOPBACK}:{admin_port}/healthz") is None
    assert proc.stop() == 0


@pytest.mark.rule("galaxy.env.user-log-level")
def test_unless_told_the_user_service_logs_at_info(stack: Stack) -> None:
    proc = by_hand(stack, "user", {"USER_LOG_LEVEL": None}).start()
    unknown = f"/v1/admin/users/usr_{'0' * 32}"
    assert requests.get(f"http://{proc.address('admin')}{unknown}", timeout=5).status_code == 404
    proc.stop()

    lines = list(json_lines(proc.all_logs_text()))
    levels = {str(line.get("level")) for line in lines}
    assert "DEBUG" not in levels, f"debug lines at the default level: {levels}"
    access = [line for line in lines if line.get("msg") == "http request" and line.get("path") == unknown]
    assert len(access) == 1, f"the request's access line (info) at the default level: {access}; levels {levels}"
