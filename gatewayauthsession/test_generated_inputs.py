"""Generated inputs at the boundary: Hypothesis draws every public request
field (``gatewayauthsession/strategies.py``) — valid, boundary and hostile
values over HTTP and gRPC, arbitrary JSON bodies, raw bytes on the gRPC
wire — and each answer must keep the error contract: a code of the table
(``contracts/errors.md``) over the status the table gives it, never a 5xx,
``INTERNAL`` or ``UNKNOWN``; for a refused input nothing mailed and no
session opened.

One stack serves each test's examples; each example is judged by what it
changed. Budgets follow the Hypothesis profile (``galaxy`` by default,
``galaxy-deep`` in ``nox -s deep``): ``EXAMPLES`` times its ``max_examples``.
A failure prints the falsifying input and the blob that replays it.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from contracts import email as policy
from contracts import tokens
from contracts.authsessionv1._pb import authsession_pb2
from contracts.errors import ApiError
from contracts.gatewayv1 import GatewayApi
from contracts.gatewayv1._pb import gateway_pb2
from contracts.gatewayv1.http_client import problem_error
from contracts.grpc_errors import ERROR_DOMAINS, grpc_error
from contracts.mail import MESSAGES_PATH
from contracts.tokens import b64url
from contracts.tracing import FixedTraceparent, continued_trace_id, require_traceparent
from gatewayauthsession import strategies as gen
from gatewayauthsession.scenario import LIMITS_OUT_OF_THE_WAY, log_in, session_ids
from gatewayauthsession.stack import Stack, Transport

# Hundreds of calls from one client, many for one email, many wrong codes
# for one challenge: the limits are test_limits.py's, out of the way here.
pytestmark = pytest.mark.stack(code_max_attempts=1000, **LIMITS_OUT_OF_THE_WAY)

EXAMPLES = 6  # times the profile's max_examples (15 by default: 90 a test)

_unique = itertools.count()


def budget() -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The settings of a generated-input check: the profile's, scaled. The
    stack is shared by the examples on purpose (each is judged by what it
    changed), so the function-scoped fixture check does not apply."""
    return settings(
        max_examples=settings().max_examples * EXAMPLES,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def _check_stable(err: ApiError) -> None:
    """Bad input gets a code of the table over its status, never INTERNAL."""
    assert err.code != "INTERNAL", f"bad input answered INTERNAL: {err}"
    err.check_against_table()


def _refusal(call: Callable[[], object]) -> ApiError | None:
    """The error ``call`` answered, checked against the table, or None."""
    try:
        call()
    except ApiError as err:
        refused = err
    else:
        return None
    _check_stable(refused)
    return refused


def _refused_with(allowed: set[str], call: Callable[[], object], what: str) -> ApiError:
    err = _refusal(call)
    assert err is not None, f"{what} was accepted"
    assert err.code in allowed, f"{what}: want one of {sorted(allowed)}, got {err}"
    return err


# ------------------------------------------------------------------ emails


@pytest.mark.rule(
    "email.refused.structure",
    "email.refused.invisible",
    "email.refused.lengths",
    "email.refused.idna",
    "email.refused.before-anything",
    "errors.bad-input.never-500",
)
def test_a_generated_email_is_accepted_or_refused_as_the_policy_says(stack: Stack, api: GatewayApi) -> None:
    @budget()
    @given(email=st.one_of(gen.valid_emails(), gen.hostile_emails(), gen.any_emails()))
    def check(email: str) -> None:
        mailed = len(stack.mail.messages)
        err = _refusal(lambda: api.start_email_login(email))
        sent = stack.mail.messages[mailed:]
        if err is not None:
            assert err.code == "INVALID_ARGUMENT", f"{email!r}: {err}"
            assert sent == [], f"{email!r} was refused, yet mailed: {sent}"
            return
        assert len(sent) == 1, f"{email!r} was accepted and mailed {len(sent)} times: {sent}"
        # What is mailed to is a normal form: the policy takes it and changes nothing.
        assert policy.is_normal(sent[0].to), (
            f"{email!r} was accepted and mailed to {sent[0].to!r}, whose normal form is not itself: "
            f"{policy.refusal(sent[0].to) or policy.normalize(sent[0].to)!r}"
        )

    check()
    assert session_ids(stack) == [], "starting a login opens no session"


@pytest.mark.rule("email.form.local-part", "email.form.domain-a-label", "email.scope", "email.idempotent")
def test_a_valid_email_is_accepted_and_mailed_in_its_normal_form(stack: Stack, api: GatewayApi) -> None:
    @budget()
    @given(email=gen.valid_emails(), upper=st.booleans())
    def check(email: str, upper: bool) -> None:
        mailed = len(stack.mail.messages)
        api.start_email_login(email.upper() if upper else email)
        assert [m.to for m in stack.mail.messages[mailed:]] == [email]

    check()


@pytest.mark.rule("email.form.domain-a-label", "email.refused.idna")
def test_the_service_normalises_every_edge_email_as_the_policy_oracle_does(stack: Stack, api: GatewayApi) -> None:
    """The oracle the generators trust (contracts/email.py) and the service agree
    where the policy's rules turn (``gen.edge_emails``): refused by one is refused
    by the other, and an accepted address is mailed to the oracle's normal form."""

    @budget()
    @given(email=gen.edge_emails())
    def check(email: str) -> None:
        mailed = len(stack.mail.messages)
        err = _refusal(lambda: api.start_email_login(email))
        sent = [m.to for m in stack.mail.messages[mailed:]]
        refused = policy.refusal(email)
        if refused is not None:
            assert err is not None, f"{email!r} was accepted and mailed to {sent}; the policy refuses it: {refused}"
            assert err.code == "INVALID_ARGUMENT", f"{email!r}: {err}"
            assert sent == [], f"{email!r} was refused, yet mailed: {sent}"
            return
        want = policy.normalize(email)
        assert err is None, f"{email!r} was refused ({err}); the policy takes it as {want!r}"
        assert sent == [want], f"{email!r} was mailed to {sent}; its normal form is {want!r}"

    check()


@pytest.mark.rule(
    "email.form.bare",
    "email.form.local-part",
    "email.refused.structure",
    "email.refused.invisible",
    "email.refused.lengths",
    "email.refused.idna",
    "email.refused.before-anything",
)
def test_a_hostile_email_is_invalid_and_nothing_is_mailed(stack: Stack, api: GatewayApi) -> None:
    @budget()
    @given(email=gen.hostile_emails())
    def check(email: str) -> None:
        _refused_with({"INVALID_ARGUMENT"}, lambda: api.start_email_login(email), repr(email))

    check()
    assert stack.mail.messages == []


# ------------------------------------------------------------------ codes and challenges


@pytest.mark.rule(
    "openapi.confirm.code", "openapi.confirm.challenge-id", "errors.code.invalid-code", "errors.bad-input.never-500"
)
def test_a_generated_code_or_challenge_id_opens_no_session(stack: Stack, api: GatewayApi) -> None:
    email = "codes@example.com"
    challenge = api.start_email_login(email)
    right = stack.mail.last_code(email)

    @budget()
    @given(code=gen.any_codes(), own_challenge=st.booleans(), other_id=gen.printable)
    @example(code="123456", own_challenge=False, other_id="not-a-challenge-id")  # malformed: still no challenge
    def check(code: str, own_challenge: bool, other_id: str) -> None:
        assume(code != right)
        challenge_id = challenge.challenge_id if own_challenge else other_id
        assume(challenge_id == challenge.challenge_id or other_id != challenge.challenge_id)
        err = _refused_with(
            {"INVALID_ARGUMENT", "INVALID_CODE", "CHALLENGE_NOT_FOUND"},
            lambda: api.confirm_email_login(challenge_id, code),
            f"challenge {challenge_id!r} code {code!r}",
        )
        if re.fullmatch(r"[0-9]{6}", code, flags=re.ASCII) is None:
            # Not six ASCII digits: malformed, whichever challenge it names.
            assert err.code == "INVALID_ARGUMENT", f"code {code!r}: {err}"
        elif own_challenge:
            assert err.code == "INVALID_CODE", f"a wrong well-formed code {code!r}: {err}"
        elif other_id:
            # Any other challenge id, well-formed or not, names no challenge.
            assert err.code == "CHALLENGE_NOT_FOUND", f"challenge {other_id!r}: {err}"

    check()
    assert session_ids(stack) == []
    # The right code still works: no generated input burned the challenge.
    login = api.confirm_email_login(challenge.challenge_id, right)
    assert session_ids(stack) == [login.session_id]


# ------------------------------------------------------------------ tokens and session ids


@pytest.mark.rule(
    "tokens.access.accepted-only-when",
    "tokens.access.compact-jws",
    "tokens.access.alg",
    "tokens.access.kid",
    "tokens.access.iss-aud",
    "tokens.access.typ",
    "tokens.access.exp-nbf",
    "tokens.access.numeric-dates",
    "tokens.access.session-live",
    "errors.code.unauthenticated",
)
def test_a_generated_access_token_is_unauthenticated(stack: Stack, api: GatewayApi) -> None:
    login = log_in(stack, api, f"tokens-{next(_unique)}@example.com")
    claims = tokens.claims_of(login.access_token)
    calls: dict[str, Callable[[str], object]] = {
        "me": api.me,
        "list_sessions": api.list_sessions,
        "logout": api.logout,
        "revoke_session": lambda token: api.revoke_session(token, login.session_id),
    }

    # Expired means before now, not yet valid after it: one now for every example
    # (their draws must not depend on the clock); the test takes well under the 30 s leeway.
    now = int(time.time())

    @budget()
    @given(token=gen.access_tokens(claims, stack.keys.current, now), op=st.sampled_from(sorted(calls)))
    def check(token: str, op: str) -> None:
        assume(token != login.access_token)
        _refused_with({"UNAUTHENTICATED"}, lambda: calls[op](token), f"{op} with {token!r}")

    check()
    # Nothing a forged token asked for was done.
    assert api.me(login.access_token).session_id == login.session_id
    assert session_ids(stack) == [login.session_id]


@pytest.mark.rule(
    "openapi.refresh.refresh-token",
    "openapi.sessions.session-id-param",
    "errors.code.invalid-refresh-token",
    "errors.code.session-not-found",
)
def test_a_generated_refresh_token_or_session_id_changes_nothing(stack: Stack, api: GatewayApi) -> None:
    login = log_in(stack, api, f"refresh-{next(_unique)}@example.com")
    base64url = st.binary(min_size=32, max_size=32).map(b64url)

    @budget()
    @given(refresh=st.one_of(gen.printable, base64url, st.text(max_size=60)), session_id=st.text(max_size=60))
    def check(refresh: str, session_id: str) -> None:
        assume(refresh != login.refresh_token and session_id != login.session_id)
        _refused_with(
            {"INVALID_REFRESH_TOKEN", "INVALID_ARGUMENT"}, lambda: api.refresh_session(refresh), f"refresh {refresh!r}"
        )
        # Any other value names no session; only an empty one is no argument at all (over HTTP, no route), and
        # `.`, `..` or one holding `/` or `\\` a path that names no route.
        empty = {"INVALID_ARGUMENT", "METHOD_NOT_ALLOWED"} if not session_id else set()
        _refused_with(
            {"SESSION_NOT_FOUND", "NOT_FOUND"} | empty,
            lambda: api.revoke_session(login.access_token, session_id),
            f"revoke {session_id!r}",
        )

    check()
    assert session_ids(stack) == [login.session_id]
    assert api.refresh_session(login.refresh_token).session_id == login.session_id


# ------------------------------------------------------------------ trace context


@pytest.mark.since("galaxy/platform/tracecontext")
@pytest.mark.rule(
    "tracing.accept.continue",
    "tracing.accept.version",
    "tracing.accept.ids",
    "tracing.accept.flags",
    "tracing.accept.malformed-replaced",
    "tracing.accept.never-an-error",
    "openapi.traceparent",
)
def test_a_generated_traceparent_is_continued_or_replaced_never_refused(stack: Stack, transport: Transport) -> None:
    trace = FixedTraceparent("")
    client = stack.client(transport, trace=trace)

    @budget()
    @given(value=gen.traceparents())
    def check(value: str) -> None:
        trace.value = value
        seen = len(stack.mail.requests)
        client.start_email_login(f"trace-{next(_unique)}@example.com")  # a malformed one is never an error
        [sent] = [require_traceparent(r.headers) for r in stack.mail.requests[seen:] if r.path == MESSAGES_PATH]
        continued = continued_trace_id(value)
        if continued is not None:
            assert sent.trace_id == continued, f"the well-formed {value!r} was not continued: {sent}"
        else:
            assert sent.flags == "00", f"the malformed {value!r} was continued: {sent}"
            assert sent.trace_id not in value, f"the malformed {value!r} was continued: {sent}"

    check()


# ------------------------------------------------------------------ raw HTTP bodies

POSTS = {
    "/v1/auth/email/start": {"email"},
    "/v1/auth/email/confirm": {"challenge_id", "code"},
    "/v1/auth/refresh": {"refresh_token"},
}


def _documented(body: bytes, fields: set[str]) -> bool:
    """Whether ``body`` is a request as documented: UTF-8 JSON, one object
    with exactly ``fields``, each once and each a string."""
    try:
        doc = json.loads(body.decode("utf-8"), object_pairs_hook=lambda items: ("object", items))
    except ValueError:
        return False
    if not (isinstance(doc, tuple) and doc[0] == "object"):
        return False
    keys = [key for key, _ in doc[1]]
    return sorted(keys) == sorted(fields) and all(isinstance(value, str) for _, value in doc[1])


@pytest.mark.parametrize("path", sorted(POSTS))
@pytest.mark.rule(
    "openapi.body.strict",
    "galaxy.gateway.request-bodies",
    "errors.bad-input.never-500",
    "errors.code.invalid-argument",
    transport="http",
)
def test_a_generated_http_body_gets_a_problem_from_the_table(stack: Stack, path: str) -> None:
    documents = gen.json_documents().map(lambda doc: json.dumps(doc).encode())
    # Objects spelled by hand: duplicate, case-variant and extra keys.
    keyed = st.lists(
        st.tuples(st.sampled_from([*POSTS[path], "Email", "CODE", "extra"]), st.text(max_size=10)),
        min_size=1,
        max_size=4,
    ).map(lambda pairs: ("{" + ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in pairs) + "}").encode())

    @budget()
    @given(body=st.one_of(documents, keyed, st.binary(max_size=80)))
    def check(body: bytes) -> None:
        mailed = len(stack.mail.messages)
        resp = stack.http.request("POST", path, data=body, headers={"Content-Type": "application/json"})
        documented = _documented(body, POSTS[path])
        if resp.status_code < 400:
            assert documented, f"{body!r} is no documented request, yet was accepted ({resp.status_code})"
            return
        err = problem_error(resp)
        _check_stable(err)
        assert resp.status_code < 500, f"{body!r}: {err}"
        assert len(stack.mail.messages) == mailed, f"{body!r} was refused, yet mailed"
        if not documented:
            assert err.code == "INVALID_ARGUMENT", f"{body!r} is no documented request: {err}"

    check()
    assert session_ids(stack) == []


# ------------------------------------------------------------------ raw gRPC messages


def _methods(service: Any) -> list[str]:
    return [f"/{service.full_name}/{method.name}" for method in service.methods]


GATEWAY_METHODS = _methods(gateway_pb2.DESCRIPTOR.services_by_name["GatewayService"])
AUTHSESSION_METHODS = _methods(authsession_pb2.DESCRIPTOR.services_by_name["AuthSessionService"])


@pytest.mark.parametrize("service", ["gateway", "authsession"])
@pytest.mark.rule("galaxy.grpc.malformed-request", "errors.bad-input.never-500", transport="grpc")
def test_raw_bytes_on_the_grpc_wire_get_a_status_from_the_table(stack: Stack, service: str) -> None:
    methods = GATEWAY_METHODS if service == "gateway" else AUTHSESSION_METHODS
    target = (stack.gateway if service == "gateway" else stack.authsession).address("grpc")
    protobuf_ish = st.lists(
        st.tuples(st.integers(0, 15), st.sampled_from([0, 1, 2, 5]), st.binary(max_size=12)), max_size=4
    ).map(lambda fields: b"".join(bytes([(n << 3) | t]) + len(v).to_bytes(1, "big") + v for n, t, v in fields))

    with grpc.insecure_channel(target) as channel:
        calls: dict[str, grpc.UnaryUnaryMultiCallable[bytes, bytes]] = {
            m: channel.unary_unary(m, request_serializer=None, response_deserializer=None)  # bytes in, bytes out
            for m in methods
        }

        @budget()
        @given(method=st.sampled_from(methods), body=st.one_of(st.binary(max_size=64), protobuf_ish))
        def check(method: str, body: bytes) -> None:
            mailed = len(stack.mail.messages)
            try:
                calls[method](body, timeout=5)
            except grpc.RpcError as raised:
                err = grpc_error(raised, ERROR_DOMAINS[service])
                assert err.status not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), (
                    f"{method} {body!r}: {err}"
                )
                _check_stable(err)
                assert len(stack.mail.messages) == mailed, f"{method} {body!r} was refused, yet mailed"

        check()
    assert session_ids(stack) == []
