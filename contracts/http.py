"""HTTP JSON clients of the galaxy services: what every one of them shares.

Errors are RFC 9457 problem documents carrying a stable ``code``
(``contracts/errors.md``), raised as :class:`~contracts.errors.ApiError`.
Given a ``trace`` (``contracts.tracing``), every request carries a
``traceparent`` from it, unless the caller sets one of its own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from contracts.errors import ApiError
from contracts.tracing import TRACEPARENT, TraceSource

__all__ = ["PROBLEM_CONTENT_TYPE", "JsonHttpClient", "ProblemViolations", "problem_error"]

PROBLEM_CONTENT_TYPE = "application/problem+json"

ProblemViolations = Callable[[requests.Response, dict[str, Any]], list[str]]
"""How a problem document (the answer, its body) breaks what one API promises of its problems (none: it keeps it)."""


def problem_error(resp: requests.Response, violations: ProblemViolations | None = None) -> ApiError:
    """Turn an error response into an ApiError; a non-problem answer is itself
    reported as a contract violation (code ``<not a problem>``), and so is a
    problem that ``violations`` finds breaking its API's promises
    (``<problem breaks its contract>``, the violations in ``detail``)."""
    ctype = resp.headers.get("Content-Type", "")
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not ctype.startswith(PROBLEM_CONTENT_TYPE) or not isinstance(body, dict) or "code" not in body:
        return ApiError("<not a problem>", "http", resp.status_code, f"{ctype!r}: {resp.text[:200]!r}", raw=resp)
    if violations is not None and (found := violations(resp, body)):
        detail = f"{body['code']}: " + "; ".join(found)
        return ApiError("<problem breaks its contract>", "http", resp.status_code, detail, raw=resp)
    retry_after = resp.headers.get("Retry-After")
    if retry_after is not None and not retry_after.isdigit():
        return ApiError("<bad Retry-After>", "http", resp.status_code, f"Retry-After: {retry_after!r}", raw=resp)
    return ApiError(
        code=str(body["code"]),
        transport="http",
        status=resp.status_code,
        detail=str(body.get("detail", "")),
        metadata=dict(body.get("metadata") or {}),
        retry_after=float(retry_after) if retry_after is not None else None,
        raw=resp,
    )


class JsonHttpClient:
    """A client of one HTTP JSON API at ``base_url``."""

    transport = "http"

    def __init__(self, base_url: str, timeout: float = 10.0, *, trace: TraceSource | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.trace = trace
        self._session = requests.Session()

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A raw request (for bad-input scenarios); no error translation. It
        carries the trace's traceparent unless ``headers`` name one (a value
        of None sends none)."""
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("allow_redirects", False)
        if self.trace is not None:
            headers = dict(kwargs.get("headers") or {})
            if not any(name.lower() == TRACEPARENT for name in headers):
                headers[TRACEPARENT] = self.trace.traceparent()
            kwargs["headers"] = headers
        return self._session.request(method, self.base_url + path, **kwargs)

    def problem(self, resp: requests.Response) -> ApiError:
        """The error answer ``resp`` as an :class:`ApiError`; an API whose problems promise more checks it here."""
        return problem_error(resp)

    def _answer(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """The answer of a request, an error answer raised as :class:`ApiError` (:meth:`problem`)."""
        resp = self.request(method, path, **kwargs)
        if resp.status_code >= 400:
            raise self.problem(resp)
        return resp

    def close(self) -> None:
        self._session.close()
