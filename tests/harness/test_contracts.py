"""The contract documents and their Python helpers say the same thing."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
from google.rpc import error_details_pb2, status_pb2

from contracts import email
from contracts.errors import ERRORS
from contracts.gatewayv1.http_client import problem_error
from contracts.grpc_errors import grpc_error

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def test_the_error_table_matches_errors_md() -> None:
    rows = re.findall(
        r"^\| (?:<a [^>]*></a>)?`([A-Z_]+)` \| (\d{3}) \| (?:`([A-Z_]+)`|—) \|",
        (CONTRACTS / "errors.md").read_text(),
        re.M,
    )
    documented = {code: (int(http), grpc_code) for code, http, grpc_code in rows}
    implemented = {code: (spec.http_status, spec.grpc_code.name) for code, spec in ERRORS.items()}
    assert len(documented) >= 10, "the table in errors.md was not parsed"
    assert documented == implemented


# ------------------------------------------------------------------ the envelope the typed clients hold answers to


def _response(status: int, body: dict[str, object] | None, **headers: str) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp.headers.update({"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", **headers})
    if body is not None:
        resp.headers.setdefault("Content-Type", "application/problem+json")
        resp._content = json.dumps(body).encode()
    return resp


def _problem(code: str, status: int, **extra: object) -> dict[str, object]:
    title = code.replace("_", " ").capitalize()
    return {"type": f"urn:galaxy:error:{code}", "title": title, "status": status, "detail": "why", "code": code} | extra


WHOLE = [
    (401, _problem("UNAUTHENTICATED", 401), {"WWW-Authenticate": 'Bearer realm="galaxy"'}),
    (429, _problem("RATE_LIMITED", 429), {"Retry-After": "3"}),
    (429, _problem("TOO_MANY_ATTEMPTS", 429), {}),
    (503, _problem("DEPENDENCY_UNAVAILABLE", 503, metadata={"dependency": "mail"}), {}),
]


@pytest.mark.parametrize(("status", "body", "headers"), WHOLE, ids=[str(b["code"]) for _, b, _ in WHOLE])
def test_a_whole_problem_is_read_as_its_code(status: int, body: dict[str, object], headers: dict[str, str]) -> None:
    err = problem_error(_response(status, body, **headers))
    assert (err.code, err.status) == (body["code"], status), err


BROKEN = {
    "no-store missing": (401, _problem("UNAUTHENTICATED", 401), {"WWW-Authenticate": "Bearer", "Cache-Control": ""}),
    "401 without a challenge": (401, _problem("UNAUTHENTICATED", 401), {}),
    "rate limit without Retry-After": (429, _problem("RATE_LIMITED", 429), {}),
    "Retry-After of 0": (429, _problem("RATE_LIMITED", 429), {"Retry-After": "0"}),
    "Retry-After not whole seconds": (429, _problem("RATE_LIMITED", 429), {"Retry-After": "1.5"}),
    "Retry-After on another code": (429, _problem("TOO_MANY_ATTEMPTS", 429), {"Retry-After": "3"}),
    "type of another code": (404, _problem("NOT_FOUND", 404, type="urn:galaxy:error:SESSION_NOT_FOUND"), {}),
    "empty title": (404, _problem("NOT_FOUND", 404, title=""), {}),
    "status of another answer": (404, _problem("NOT_FOUND", 400), {}),
    "detail not a string": (404, _problem("NOT_FOUND", 404, detail=None), {}),
    "dependency not named": (503, _problem("DEPENDENCY_UNAVAILABLE", 503), {}),
    "metadata on another code": (404, _problem("NOT_FOUND", 404, metadata={"dependency": "mail"}), {}),
}


@pytest.mark.parametrize("case", BROKEN)
def test_a_problem_that_breaks_its_envelope_is_no_answer_of_the_contract(case: str) -> None:
    status, body, headers = BROKEN[case]
    err = problem_error(_response(status, body, **headers))
    assert err.code == "<problem breaks its contract>", f"{case}: read as {err}"


class _FailedCall(grpc.RpcError):
    """A failed call as grpcio raises it, with ``details`` in its status (the parts grpc_status reads)."""

    def __init__(self, code: grpc.StatusCode, *details: Any) -> None:
        status = status_pb2.Status(code=code.value[0], message="why")
        for detail in details:
            status.details.add().Pack(detail)
        self._code, self._status = code, status

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return "why"

    def trailing_metadata(self) -> Any:
        return (("grpc-status-details-bin", self._status.SerializeToString()),)


def _info(reason: str, domain: str = "gateway.galaxy") -> error_details_pb2.ErrorInfo:
    return error_details_pb2.ErrorInfo(reason=reason, domain=domain)


def _retry(seconds: float) -> error_details_pb2.RetryInfo:
    retry = error_details_pb2.RetryInfo()
    retry.retry_delay.FromTimedelta(timedelta(seconds=seconds))
    return retry


def test_an_error_info_of_the_service_called_is_read_as_its_code() -> None:
    limited = _FailedCall(grpc.StatusCode.RESOURCE_EXHAUSTED, _info("RATE_LIMITED"), _retry(2))
    err = grpc_error(limited, "gateway.galaxy")
    assert (err.code, err.retry_after) == ("RATE_LIMITED", 2.0), err
    assert grpc_error(_FailedCall(grpc.StatusCode.NOT_FOUND, _info("NOT_FOUND", "any")), None).code == "NOT_FOUND"


@pytest.mark.parametrize(
    "call",
    [
        _FailedCall(grpc.StatusCode.NOT_FOUND, _info("SESSION_NOT_FOUND", "authsession.galaxy")),
        _FailedCall(grpc.StatusCode.RESOURCE_EXHAUSTED, _info("RATE_LIMITED")),
        _FailedCall(grpc.StatusCode.RESOURCE_EXHAUSTED, _info("RATE_LIMITED"), _retry(1.5)),
        _FailedCall(grpc.StatusCode.RESOURCE_EXHAUSTED, _info("RATE_LIMITED"), _retry(0)),
    ],
    ids=["another-domain", "rate-limit-without-retry-info", "retry-info-not-whole-seconds", "retry-info-of-0"],
)
def test_an_error_info_that_breaks_its_envelope_is_no_answer_of_the_contract(call: _FailedCall) -> None:
    assert grpc_error(call, "gateway.galaxy").code == "<ErrorInfo breaks its contract>"


# The email policy's oracle (contracts/email.py) on the cases contracts/email.md names.
LONGEST = "a" * 64 + "@" + "d" * 63 + "." + "d" * 63 + "." + "d" * 61  # 254 octets
ONE_ACCOUNT = [
    ("ada@example.com", ["Ada@example.com", "ADA@EXAMPLE.COM", "ada@Example.Com"]),
    ("josé@example.com", ["jose\u0301@example.com", "JOSÉ@example.com"]),
    ("u@xn--bcher-kva.example", ["u@bücher.example", "u@BÜCHER.example", "u@XN--BCHER-KVA.example"]),
    # decomposed, fullwidth (mapped), an ideographic full stop (a label separator)
    (
        "u@xn--bcher-kva.example",
        ["u@bu\u0308cher.example", "u@\uff58\uff4e--bcher-kva.example", "u@bücher\u3002example"],
    ),
    ("i@example.com", ["\u0130@example.com"]),  # the simple lowercase mapping, not the full one
    ("\u03b1\u03c3@example.com", ["\u0391\u03a3@example.com"]),  # one code point at a time: no final sigma
    ("u@xn----x-goa.example", ["u@ü--x.example"]),  # hyphens in the third and fourth octets, not characters
    ("u@xn--ab-0ea.example", ["u@a·b.example"]),  # CONTEXTO is not tested
    ("u@xn--n3h.example", ["u@\u2603.example"]),  # UTS #46 takes it, IDNA2008 does not
    ("u@xn--11b6iy14e.example", ["u@xn--11b6iy14e.example"]),  # a joiner after a virama (CONTEXTJ)
    ("u@xn--4dbrk0ce.com", ["u@xn--4dbrk0ce.com"]),  # a right-to-left label beside a left-to-right one
    (LONGEST, [LONGEST.upper()]),
    ("user+tag@example.com", ["User+Tag@example.com"]),
    ("user@localhost", ["USER@LOCALHOST"]),  # a domain of one label
]
REFUSED = {
    "empty": "",
    "no at": "userexample.com",
    "two ats": "a@b@example.com",
    "display name": "Ada <ada@example.com>",
    "quoted local part": '"ada"@example.com',
    "comment": "ada(x)@example.com",
    "leading dot": ".ada@example.com",
    "doubled dot": "a..da@example.com",
    "leading space": " ada@example.com",
    "tab": "ada@example.com\t",
    "no-break space": "ada\u00a0@example.com",
    "zero-width space": "a\u200bda@example.com",
    "zero-width joiner": "ada@exa\u200dmple.com",
    "left-to-right mark": "ada\u200e@example.com",
    "variation selector": "ada\ufe0f@example.com",
    "Hangul filler": "ada\u3164@example.com",
    "private use": "ada\ue000@example.com",
    "replacement character": "ada\ufffd@example.com",
    "local part of 65 octets": "a" * 65 + "@example.com",
    "label of 64 octets": "u@" + "d" * 64 + ".com",
    "domain of 254 octets": "u@" + ".".join(["d" * 63] * 3 + ["d" * 62]),
    "address of 255 octets": "a" * 64 + "@" + "d" * 63 + "." + "d" * 63 + "." + "d" * 62,
    "hyphens in the third and fourth characters": "u@ab--cd.example",
    "U-label with hyphens in its third and fourth characters": "u@üa--x.example",
    "leading hyphen": "u@-ab.example",
    "trailing hyphen": "u@ab-.example",
    "underscore": "u@a_b.example",
    "domain literal": "u@[192.0.2.1]",
    "empty label": "u@example..com",
    "trailing dot": "u@example.com.",
    "A-label that is no Punycode": "u@xn--.example",
    "A-label of an ASCII label": "u@xn--abc-.example",
    "A-label not canonical": "u@xn--bcher-kva-.example",
    "xn-- label holding non-ASCII": "u@xn--zzé-.example",
    "joiner out of its CONTEXTJ context": "u@xn--ab-m1t.example",
    "a bidi domain's label breaking the Bidi Rule": "u@xn--4dbrk0ce.1com",
    "leading combining mark": "u@\u0301a.example",
    "no local part": "@example.com",
    "no domain": "ada@",
    "two addresses": "a@example.com, b@example.com",
    "newline": "ada@example.com\nBcc: x@example.com",
    "NUL": "ada\x00@example.com",
    "DEL": "ada\x7f@example.com",
    "C1 control": "ada\u0085@example.com",
    "unpaired surrogate": "ada\ud800@example.com",
    "ideographic space": "ada@example.com\u3000",
    "word joiner": "ada\u2060@example.com",
    "byte order mark": "\ufeffada@example.com",
    "soft hyphen": "a\u00adda@example.com",
    "right-to-left override": "ada@\u202eexample.com",
    "local part of 65 octets once lowercased": "a" * 62 + "\u023a@example.com",
    "U-label longer than 63 octets once encoded": "u@" + "\u00fc" * 60 + ".example",
    "huge input": "a" * 5000 + "@example.com",
}


@pytest.mark.parametrize(("normal", "spellings"), ONE_ACCOUNT, ids=[n for n, _ in ONE_ACCOUNT])
def test_the_email_oracle_makes_each_spelling_of_an_account_its_normal_form(normal: str, spellings: list[str]) -> None:
    assert [email.normalize(s) for s in spellings] == [normal] * len(spellings)
    assert email.is_normal(normal)


@pytest.mark.parametrize("address", REFUSED.values(), ids=REFUSED.keys())
def test_the_email_oracle_refuses_what_email_md_refuses(address: str) -> None:
    with pytest.raises(email.EmailRefused):
        email.normalize(address)
    assert not email.is_normal(address)
