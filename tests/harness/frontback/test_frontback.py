"""front ↔ back scenarios: a request's path through both fakes and Redis, and a
fault link on every edge of the declaration, the scenarios' own included."""

from __future__ import annotations

import json
import re
import urllib.error
from collections.abc import Callable

import pytest

from frontback.scenario import call
from harness.topology.stack import Stack


def test_a_request_goes_through_front_back_and_redis(
    stack: Stack, record_property: Callable[[str, object], None]
) -> None:
    status, body = call(stack)
    assert status == 200, body
    assert (body["service"], body["hits"]) == ("front", 1)
    assert (body["upstream"]["service"], body["upstream"]["hits"]) == ("back", 1)
    stack.restart("back")  # on the same address, over the same Redis
    status, body = call(stack)
    assert (status, body["hits"], body["upstream"]["hits"]) == (200, 2, 2), body
    record_property("sources", json.dumps({"front": body["source"], "back": body["upstream"]["source"]}))


BROKEN = [  # each edge of the declaration, and what the scenario's call meets while it is down
    ("test", "front", None),  # front cannot be reached at all
    ("front", "back", r"upstream \S+ unavailable"),
    ("front", "redis", r"redis unavailable"),
    ("back", "redis", r"upstream \S+ answered 502: redis unavailable"),
]


@pytest.mark.stack(links="all")
@pytest.mark.parametrize(("client", "server", "error"), BROKEN, ids=[f"{c}->{s}" for c, s, _ in BROKEN])
def test_a_link_down_fails_the_call_naming_it_and_back_up_it_works(
    stack: Stack, client: str, server: str, error: str | None
) -> None:
    edges = {e.name for e in stack.topology.edges()}
    assert set(stack.links) == edges == {f"{c}->{s}" for c, s, _ in BROKEN}, "every edge goes through the proxy"
    assert call(stack)[0] == 200
    with stack.link(client, server).outage():
        if error is None:
            with pytest.raises(urllib.error.URLError, match="Connection refused"):
                call(stack)
        else:
            status, body = call(stack)
            assert status == 502, body
            assert re.match(error, body["error"]), body
    status, body = call(stack)
    assert status == 200, body
