"""The input contract (SPEC "The input contract"): what either service refuses
at its edge, and that a refused input leaves nothing behind."""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from contracts import tokens
from contracts.errors import ApiError
from contracts.gatewayv1 import GatewayApi
from contracts.gatewayv1.http_client import problem_error
from contracts.grpc_errors import ERROR_DOMAINS, grpc_error
from contracts.user import RESOLVE_PATH
from gatewayauthsession.scenario import (
    REPEATED_LOGINS,
    code_for,
    expect_error,
    log_in,
    raw_http,
    session_ids,
    session_record,
    wrong_code,
)
from gatewayauthsession.stack import Stack, Transport


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.rule(
    "errors.code.unauthenticated",
    "openapi.response.unauthenticated",
    "tokens.access.numeric-dates",
    "tokens.access.claim-times",
)
def test_a_time_claim_given_as_a_string_is_unauthenticated(stack: Stack, api: GatewayApi, claim: str) -> None:
    login = log_in(stack, api, "numeric-date@example.com")
    claims = tokens.claims_of(login.access_token)
    # Re-signed as they are, the claims are accepted: only the claim's type differs below.
    assert api.me(tokens.sign(claims, stack.keys.current)).session_id == login.session_id

    forged = tokens.sign(claims | {claim: str(claims[claim])}, stack.keys.current)

    expect_error("UNAUTHENTICATED", api.me, forged)


@pytest.mark.parametrize(
    ("claim", "value"),
    [("exp", 1e15), ("iat", -1), ("nbf", -1)],
    ids=["exp-beyond-year-9999", "negative-iat", "negative-nbf"],
)
@pytest.mark.rule("errors.code.unauthenticated", "openapi.response.unauthenticated", "tokens.access.numeric-dates")
def test_an_absurd_time_claim_is_unauthenticated(stack: Stack, api: GatewayApi, claim: str, value: float) -> None:
    # Each of these would pass the time checks themselves (a far future
    # expiry, a long past issue or start), so only the NumericDate rule refuses them.
    login = log_in(stack, api, "absurd-time@example.com")
    forged = tokens.sign(tokens.claims_of(login.access_token) | {claim: value}, stack.keys.current)

    expect_error("UNAUTHENTICATED", api.me, forged)


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: 28\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 28\r\n",
    ],
    ids=["length-then-chunked", "chunked-then-length"],
)
@pytest.mark.rule(
    "galaxy.gateway.http-framing",
    "openapi.body.framing",
    "openapi.response.invalid-framing",
    "errors.code.invalid-argument",
    transport="http",
)
def test_a_request_with_content_length_and_transfer_encoding_is_refused_and_the_connection_closed(
    stack: Stack, framing: bytes
) -> None:
    body = b'{"email":"framing@example.com"}'
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    # A second request pipelined behind the first: a server that kept the
    # connection would answer it too.
    request = (
        b"POST /v1/auth/email/start HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        + framing
        + b"\r\n"
        + chunked
        + b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n"
    )

    resp, answer, after = raw_http(stack, request)

    assert resp.status == 400, answer
    assert resp.getheader("Connection", "").lower() == "close"
    problem = json.loads(answer)
    assert problem["code"] == "INVALID_ARGUMENT"
    assert resp.getheader("Content-Type", "").startswith("application/problem+json")
    assert after == b"", f"the connection was kept open after the 400 (then read {after!r})"
    assert stack.mail.messages == []


@pytest.mark.rule("galaxy.gateway.http-framing", "openapi.body.framing", transport="http")
def test_a_request_framed_by_content_length_alone_is_served(stack: Stack) -> None:
    body = b'{"email":"framing-ok@example.com"}'
    request = (
        b"POST /v1/auth/email/start HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )

    resp, answer, _ = raw_http(stack, request)

    assert resp.status == 200, answer
    assert len(stack.mail.messages_to("framing-ok@example.com")) == 1


JSON = {"Content-Type": "application/json"}
START = "/v1/auth/email/start"


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (b'{"email": "a\xff@example.com"}', "email"),
        (b'{"email": "a\xed\xa0\x80@example.com"}', "email"),  # an encoded surrogate
        (b'{"email": "a\\ud800@example.com"}', "email"),  # an escaped unpaired one
        (b'{"email": "dup-a@example.com", "email": "dup-b@example.com"}', "email"),
        (b'{"email": "case-a@example.com", "Email": "case-b@example.com"}', "Email"),
        (b'{"Email": "case-only@example.com"}', "Email"),
        (b'{"EMAIL": "upper@example.com"}', "EMAIL"),
        (b'{"email": null}', "email"),
    ],
    ids=[
        "invalid-utf8",
        "encoded-surrogate",
        "escaped-surrogate",
        "duplicate-key",
        "case-variant-beside",
        "case-variant-instead",
        "upper-case-key",
        "null-value",
    ],
)
@pytest.mark.rule(
    "galaxy.gateway.request-bodies", "openapi.body.strict", "errors.code.invalid-argument", transport="http"
)
def test_a_start_body_read_two_ways_is_refused_and_nothing_is_mailed(stack: Stack, body: bytes, names: str) -> None:
    resp = stack.http.request("POST", START, data=body, headers=JSON)

    err = problem_error(resp)
    assert err.code == "INVALID_ARGUMENT", err
    err.check_against_table()
    assert f'"{names}"' in err.detail, f"the problem should name field {names!r}: {err.detail!r}"
    assert stack.mail.messages == []


@pytest.mark.parametrize(
    "body",
    [
        '{{"challenge_id": "{id}", "code": "{wrong}", "code": "{code}"}}',
        '{{"challenge_id": "{id}", "Code": "{code}"}}',
        '{{"challenge_id": "{id}", "challenge_id": "{id}", "code": "{code}"}}',
    ],
    ids=["duplicate-code", "case-variant-code", "duplicate-id"],
)
@pytest.mark.rule(
    "galaxy.gateway.request-bodies", "openapi.body.strict", "errors.code.invalid-argument", transport="http"
)
def test_a_confirm_body_read_two_ways_opens_no_session(stack: Stack, body: str) -> None:
    challenge = stack.http.start_email_login("confirm-strict@example.com")
    code = stack.mail.last_code("confirm-strict@example.com")

    resp = stack.http.request(
        "POST",
        "/v1/auth/email/confirm",
        data=body.format(id=challenge.challenge_id, code=code, wrong=wrong_code(code)).encode(),
        headers=JSON,
    )

    err = problem_error(resp)
    assert err.code == "INVALID_ARGUMENT", err
    err.check_against_table()
    assert session_ids(stack) == []
    # The refused body was never compared: the right code still opens a session.
    login = stack.http.confirm_email_login(challenge.challenge_id, code)
    assert session_ids(stack) == [login.session_id]


@pytest.mark.parametrize(
    "email",
    [
        "a" * 65 + "@example.com",
        "u@" + "d" * 64 + ".example",
        "a" * 64 + "@" + "d" * 63 + "." + "d" * 63 + "." + "d" * 62,
        "zero\u200bwidth@example.com",
        "user@exa\u200dmple.com",
        "user@\u202eexample.com",
        "\u2067user@example.com",
        "\ufeffuser@example.com",
        "soft\u00adhyphen@example.com",
        "user\u00a0@example.com",
        " user@example.com",
        "user@example.com\t",
        "user\x7f@example.com",
        "user@xn--bcher-kva-.example",
        "user@xn--.example",
        "user@example.com.",
        "user@ab--cd.example",
        "user@-example.com",
        '"ab"@example.com',
    ],
    ids=[
        "local-part-65-octets",
        "label-64-octets",
        "address-255-octets",
        "zero-width-space",
        "zero-width-joiner-in-domain",
        "rtl-override",
        "rtl-isolate",
        "byte-order-mark",
        "soft-hyphen",
        "no-break-space",
        "leading-space",
        "trailing-tab",
        "delete-control",
        "a-label-not-round-tripping",
        "empty-a-label",
        "trailing-dot",
        "hyphens-third-and-fourth",
        "leading-hyphen",
        "quoted-local-part",
    ],
)
@pytest.mark.rule(
    "email.refused.lengths",
    "email.refused.invisible",
    "email.refused.idna",
    "email.form.no-trim",
    "email.form.local-part",
    "email.refused.before-anything",
    "errors.code.invalid-argument",
    "openapi.start.email",
)
def test_an_email_the_policy_refuses_is_invalid_and_nothing_is_mailed(
    stack: Stack, api: GatewayApi, email: str
) -> None:
    expect_error("INVALID_ARGUMENT", api.start_email_login, email)

    assert stack.mail.messages == []


@pytest.mark.rule("email.refused.lengths")
def test_the_longest_addresses_the_policy_allows_are_accepted(stack: Stack, api: GatewayApi) -> None:
    longest_local = "a" * 64 + "@example.com"
    longest_address = "a" * 64 + "@" + "d" * 63 + "." + "d" * 63 + "." + "d" * 61

    for email in (longest_local, longest_address):
        assert len(email.encode()) <= 254
        log_in(stack, api, email)
        assert len(stack.mail.messages_to(email)) == 1


@REPEATED_LOGINS
@pytest.mark.rule("email.form.domain-a-label", "email.scope", "user.normalised-request")
def test_the_u_label_and_a_label_forms_of_a_domain_are_one_account(stack: Stack, api: GatewayApi) -> None:
    spellings = ["idn@bücher.example", "idn@xn--bcher-kva.example", "IDN@BÜCHER.example", "idn@XN--BCHER-KVA.example"]

    logins = [log_in(stack, api, email) for email in spellings]

    assert len({login.user_id for login in logins}) == 1, [login.user_id for login in logins]
    assert {api.me(login.access_token).email for login in logins} == {"idn@xn--bcher-kva.example"}
    assert len(stack.mail.messages_to("idn@xn--bcher-kva.example")) == len(spellings)
    # One user, named by the normal form. That authsession sent the user service that form and never the
    # spelling, the user stub checks of every request (another spelling breaks user.normalised-request).
    user = stack.users.user_by_email("idn@xn--bcher-kva.example")
    assert user is not None
    assert (user.id, user.email) == (logins[0].user_id, "idn@xn--bcher-kva.example")


NORMAL_FORMS = {
    # spelling: its normal form (what a near miss of the policy would make of it instead)
    "final-sigma": ("ΟΔΟΣ@example.com", "οδοσ@example.com"),  # simple lowercase, not the final ς
    "dotted-capital-i": ("İ@example.com", "i@example.com"),  # simple lowercase, not i + U+0307
    "capital-sharp-s": ("ẞ@example.com", "ß@example.com"),  # lowercased, not case-folded to ss
    "ligature": ("ﬁ@example.com", "ﬁ@example.com"),  # NFC, not NFKC's fi
    "decomposed-accent": ("JOSE\u0301@example.com", "jos\u00e9@example.com"),  # NFC composes
    "kelvin-sign": ("\u212a@example.com", "k@example.com"),  # NFC maps the sign to K, then lowercase
    "sharp-s-in-a-domain": ("user@straße.example", "user@xn--strae-oqa.example"),  # not transitional strasse
    "full-width-domain": (
        "user@\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com",
        "user@example.com",
    ),  # the UTS #46 mapping
    "upper-case-u-label": ("user@ÖBB.at", "user@xn--bb-eka.at"),
}


@REPEATED_LOGINS
@pytest.mark.parametrize("case", NORMAL_FORMS)
@pytest.mark.needs_stub("user", "reads the address each resolve asked for from the stub's journal")
@pytest.mark.rule(
    "email.scope",
    "email.idempotent",
    "email.form.local-part",
    "email.form.domain-a-label",
    "user.normalised-request",
    "redis.session.email",
    "openapi.me.email",
    "openapi.start.email",
)
def test_an_email_is_mailed_resolved_and_kept_in_exactly_its_normal_form(
    stack: Stack, api: GatewayApi, case: str
) -> None:
    """The normal form the policy names, not merely some form of the address: what
    the code is mailed to, what the user service is asked to resolve, what the
    session keeps; and the normal form, normalised again, is the same account."""
    spelling, normal = NORMAL_FORMS[case]
    login = log_in(stack, api, spelling)
    again = log_in(stack, api, normal)

    assert [m.to for m in stack.mail.messages] == [normal, normal]
    resolved = [r.json["email"] for r in stack.user_stub.requests if r.path == RESOLVE_PATH]
    assert resolved == [normal, normal]
    assert again.user_id == login.user_id
    assert api.me(login.access_token).email == normal
    record = session_record(stack, login.session_id)
    assert record is not None
    assert record.email == normal


@pytest.mark.stack(resend_cooldown="30s")
@pytest.mark.rule("email.form.domain-a-label", "email.scope")
def test_the_limits_count_both_forms_of_a_domain_as_one_email(stack: Stack, api: GatewayApi) -> None:
    api.start_email_login("cooldown@bücher.example")

    expect_error("RATE_LIMITED", api.start_email_login, "cooldown@xn--bcher-kva.example")
    assert len(stack.mail.messages) == 1


@pytest.mark.rule(
    "email.refused.invalid-utf8", "email.refused.before-anything", "errors.code.invalid-argument", "email.scope"
)
def test_an_email_that_is_not_utf8_or_holds_a_replacement_character_is_refused(
    stack: Stack, api: GatewayApi, transport: Transport
) -> None:
    """U+FFFD only stands for something lost, and bytes that are not UTF-8 are no
    address: each is INVALID_ARGUMENT, at the gateway's API and at authsession's,
    before anything is counted or mailed."""
    expect_error("INVALID_ARGUMENT", api.start_email_login, "utf\ufffd@example.com")
    expect_error("INVALID_ARGUMENT", api.start_email_login, "utf@exa\ufffdmple.com")
    not_utf8 = "utf\xff@example.com".encode("latin-1")
    if transport == "http":
        body = b'{"email":"' + not_utf8 + b'"}'
        resp = stack.http.request(
            "POST", "/v1/auth/email/start", data=body, headers={"Content-Type": "application/json"}
        )
        assert problem_error(resp).code == "INVALID_ARGUMENT", resp.text
    for service, method in (
        ("gateway", "/galaxy.gateway.v1.GatewayService/StartEmailLogin"),
        ("authsession", "/galaxy.authsession.v1.AuthSessionService/StartEmailLogin"),
    ):
        with grpc.insecure_channel(stack.process(service).address("grpc")) as channel:
            call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
                method, request_serializer=None, response_deserializer=None
            )
            with pytest.raises(grpc.RpcError) as raised:
                call(b"\x0a" + bytes([len(not_utf8)]) + not_utf8, timeout=5)
        assert grpc_error(raised.value, ERROR_DOMAINS[service]).code == "INVALID_ARGUMENT", service

    assert stack.mail.messages == []
    api.start_email_login("utf@example.com")  # nothing was counted against the address: no cooldown


FAILED_ATTEMPT_CAP = 3


def _confirm_at_once(stack: Stack, transport: Transport, guesses: list[tuple[str, str]]) -> Counter[str]:
    """Each (challenge id, code) confirmed at the same time, each from a
    client of its own: how many got each error code (``<a session>`` for a
    login), every error checked against the table."""
    clients = [stack.client(transport) for _ in guesses]

    def guess(i: int) -> str:
        challenge_id, code = guesses[i]
        try:
            clients[i].confirm_email_login(challenge_id, code)
        except ApiError as err:
            err.check_against_table()
            return err.code
        return "<a session>"

    with ThreadPoolExecutor(max_workers=len(guesses)) as pool:
        return Counter(pool.map(guess, range(len(guesses))))


@REPEATED_LOGINS
@pytest.mark.stack(failed_attempts_per_hour=FAILED_ATTEMPT_CAP, code_max_attempts=100)
@pytest.mark.rule("galaxy.env.authsession-failed-attempts-per-hour", "redis.private.failed-attempts")
def test_concurrent_wrong_codes_over_several_challenges_never_pass_the_failed_attempt_cap(
    stack: Stack, api: GatewayApi, transport: Transport
) -> None:
    email = "race@example.com"
    challenges = [api.start_email_login(email) for _ in range(4)]
    codes = [code_for(stack, c) for c in challenges]
    guesses_per_challenge = 6
    guesses = [
        (c.challenge_id, wrong_code(code, n))
        for n in range(guesses_per_challenge)
        for c, code in zip(challenges, codes, strict=True)
    ]
    outcomes = _confirm_at_once(stack, transport, guesses)

    # Each compared wrong code answers INVALID_CODE (TOO_MANY_ATTEMPTS once
    # a challenge is used up); at most the cap are compared, the rest are refused.
    compared = outcomes["INVALID_CODE"] + outcomes["TOO_MANY_ATTEMPTS"]
    assert 1 <= compared <= FAILED_ATTEMPT_CAP, outcomes
    assert outcomes["RATE_LIMITED"] == len(guesses) - compared, outcomes
    # The cap is reached: the right code of any challenge is not compared either.
    expect_error("RATE_LIMITED", api.confirm_email_login, challenges[0].challenge_id, codes[0])
    assert session_ids(stack) == []


@pytest.mark.stack(code_max_attempts=3, failed_attempts_per_hour=1000)
@pytest.mark.rule("galaxy.env.authsession-code-max-attempts", "redis.private.challenge")
def test_concurrent_wrong_codes_never_get_more_comparisons_than_a_challenge_allows(
    stack: Stack, api: GatewayApi, transport: Transport
) -> None:
    challenge = api.start_email_login("dash@example.com")
    code = code_for(stack, challenge)
    guesses = [(challenge.challenge_id, wrong_code(code, n)) for n in range(12)]
    outcomes = _confirm_at_once(stack, transport, guesses)

    # Three codes are compared: two answer INVALID_CODE, the third uses the
    # challenge up; every other finds it reserved to the full or gone.
    assert outcomes == {"INVALID_CODE": 2, "TOO_MANY_ATTEMPTS": 1, "CHALLENGE_NOT_FOUND": 9}, outcomes
    assert session_ids(stack) == []
