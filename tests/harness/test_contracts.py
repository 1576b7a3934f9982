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
