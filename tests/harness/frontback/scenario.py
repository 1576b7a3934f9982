"""The scenarios' client: a GET of front, in the test's own trace."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from contracts.tracing import Trace
from harness.topology.stack import Stack

__all__ = ["call"]


def call(stack: Stack, path: str = "/") -> tuple[int, dict[str, Any]]:
    """GET ``path`` of front: its status and JSON answer (an unreachable front raises OSError)."""
    url = f"http://{stack.address('front', 'tcp')}{path}"
    request = urllib.request.Request(url, headers={"traceparent": Trace(stack.trace_id).traceparent()})
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:  # noqa: S310 - http to the stack
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)
