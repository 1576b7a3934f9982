"""One contract, two implementations: the user stub (``contracts.user.stub``, the fast default of
gatewayauthsession) and the user service give the same answers to the same requests of ``contracts/user.md``.

Each request goes to both, in the same order, so their states stay alike; answers are compared by status,
media type, error code and user, where a user is compared by its email and status and its id by which user
it names (the ids themselves are random on both sides: a stub id and a service id must name each other's user,
one to one). Addresses are generated: spellings of one address, valid addresses and addresses the policy
refuses (``contracts/email.md``). A difference fails with the request that shows it."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.http import JsonHttpClient
from contracts.user import RESOLVE_PATH, USERS_PATH
from contracts.user.stub import UserStub
from gatewayauthsession import strategies as gen
from gatewayauthsession.stack import Stack


@dataclass(frozen=True)
class Answer:
    """What a contract test compares of an answer."""

    status: int
    media_type: str
    code: str | None  # an error's stable code
    user: tuple[str, str] | None  # (email, status) of the user answered
    user_id: str | None

    @classmethod
    def of(cls, status: int, content_type: str, text: str) -> Answer:
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        user = (body["email"], body["status"]) if {"id", "email", "status"} <= set(body) else None
        code = body.get("code") if status >= 400 else None
        return cls(status, content_type.split(";", maxsplit=1)[0].strip(), code, user, body.get("id") if user else None)


@dataclass
class Pair:
    """The stub and the service, asked the same things; ``ids`` maps each stub id to the service id of its user."""

    server: UserStub
    stub: JsonHttpClient
    service: JsonHttpClient
    ids: dict[str, str] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    def ask(self, method: str, path: Callable[[str], str] | str, **kwargs: Any) -> Answer:
        """One request to both; fails unless they answer alike. ``path`` may take the implementation's own id."""
        answers = []
        for client, side in ((self.stub, "stub"), (self.service, "service")):
            where = path if isinstance(path, str) else path(side)
            resp = client.request(method, where, **kwargs)
            answers.append(Answer.of(resp.status_code, resp.headers.get("Content-Type", ""), resp.text))
        stub, service = answers
        what = f"{method} {path if isinstance(path, str) else path('stub')} {kwargs}"
        self.asked.append(what)
        assert (stub.status, stub.media_type, stub.code, stub.user) == (
            service.status,
            service.media_type,
            service.code,
            service.user,
        ), f"{what}:\n  stub:    {stub}\n  service: {service}"
        if stub.user_id is not None and service.user_id is not None:
            known = self.ids.setdefault(stub.user_id, service.user_id)
            assert known == service.user_id, f"{what}: the stub's {stub.user_id} named another user before"
            assert list(self.ids.values()).count(service.user_id) == 1, f"{what}: two stub users are one here"
        return stub

    def service_id(self, stub_id: str) -> str:
        return self.ids[stub_id]


@pytest.fixture
def pair(stack: Stack) -> Iterator[Pair]:
    stub = UserStub().start()
    clients = Pair(
        stub,
        JsonHttpClient(stub.url, trace=stack.trace),
        JsonHttpClient("http://" + stack.address("user", "http"), trace=stack.trace),
    )
    try:
        yield clients
    finally:
        clients.stub.close()
        clients.service.close()
        stub.stop()


def _resolve(pair: Pair, email: str) -> Answer:
    return pair.ask("POST", RESOLVE_PATH, json={"email": email})


def _get(pair: Pair, stub_id: str) -> Answer:
    return pair.ask("GET", lambda side: f"{USERS_PATH}/{stub_id if side == 'stub' else pair.service_id(stub_id)}")


addresses = st.one_of(
    gen.spellings_of_one_address(),
    st.lists(st.one_of(gen.valid_emails(), gen.hostile_emails()), min_size=1, max_size=4),
)
"""Lists of addresses to resolve: spellings of one address, or valid and refused ones."""


@settings(
    max_examples=4 * settings().max_examples,  # a resolve is cheap: 60 examples a run by default
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],  # one pair, shared
)
@given(emails=addresses)
@pytest.mark.rule("user.shape", "user.normal-form", "user.refused-address", "galaxy.user.shape")
def test_the_stub_and_the_service_resolve_every_address_alike(pair: Pair, emails: list[str]) -> None:
    for email in emails:
        answer = _resolve(pair, email)
        if answer.user_id is not None:
            assert _get(pair, answer.user_id).user == answer.user


@pytest.mark.rule("user.shape", "user.not-found")
def test_the_stub_and_the_service_answer_users_and_unknown_ids_alike(pair: Pair) -> None:
    created = _resolve(pair, "ivy@example.com")
    assert (created.status, created.user) == (201, ("ivy@example.com", "active"))
    assert _resolve(pair, "ivy@example.com").status == 200
    assert created.user_id is not None
    assert _get(pair, created.user_id).status == 200
    for unknown in (f"usr_{secrets.token_hex(16)}", "usr_", "nobody", "%20", "usr_" + "f" * 300):
        assert pair.ask("GET", f"{USERS_PATH}/{unknown}").code == "NOT_FOUND"


def test_the_stub_and_the_service_show_a_disabled_user_alike(stack: Stack, pair: Pair) -> None:
    created = _resolve(pair, "dan@example.com")
    assert created.user_id is not None
    pair.server.disable(created.user_id)
    stack.user_service.admin.disable(pair.service_id(created.user_id))

    assert _get(pair, created.user_id).user == ("dan@example.com", "disabled")
    assert _resolve(pair, "DAN@example.com").user == ("dan@example.com", "disabled")


# Spellings that a case-insensitive match (casefold) and contracts/email.md tell apart or join differently.
SPELLINGS = {
    "sharp s and its capital double s are two users": (
        "straße@example.com",
        "STRASSE@example.com",
        "strasse@example.com",
    ),
    "the Kelvin sign lowercases to k": ("\u212aelvin@example.com", "kelvin@example.com"),
    "a capital I with a dot lowercases to i": ("\u0130lke@example.com", "ilke@example.com", "\u0131lke@example.com"),
    "a final sigma is its own letter": ("\u03a3\u03b9\u03c3@example.com", "\u03c3\u03b9\u03c2@example.com"),
    "a U-label domain is its A-label": ("ada@b\u00fccher.example", "ada@xn--bcher-kva.example"),
    "a fullwidth letter is another letter (no compatibility mapping)": ("\uff41da@example.com", "ada@example.com"),
}


@pytest.mark.parametrize("spellings", SPELLINGS.values(), ids=SPELLINGS.keys())
@pytest.mark.rule("user.normal-form", "email.form.local-part", "email.form.domain-a-label")
def test_the_stub_and_the_service_tell_spellings_apart_alike(pair: Pair, spellings: tuple[str, ...]) -> None:
    for email in spellings:
        _resolve(pair, email)


BODIES = {
    "not JSON": b'{"email": "a@example.com"',
    "an array": b'["a@example.com"]',
    "no email": b"{}",
    "an unknown field": b'{"email": "a@example.com", "name": "a"}',
    "a duplicate key": b'{"email": "a@example.com", "email": "b@example.com"}',
    "a case variant of the key": b'{"Email": "a@example.com"}',
    "an email that is no string": b'{"email": 1}',
    "a null email": b'{"email": null}',
    "an empty email": b'{"email": ""}',
    "an address with no domain": b'{"email": "nobody"}',
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
@pytest.mark.rule("galaxy.user.conventions")
def test_the_stub_and_the_service_refuse_a_malformed_resolve_alike(pair: Pair, body: bytes) -> None:
    answer = pair.ask("POST", RESOLVE_PATH, data=body, headers={"Content-Type": "application/json"})
    assert (answer.status, answer.code) == (400, "INVALID_ARGUMENT")


@pytest.mark.rule("user.concurrent-resolve", "galaxy.user.concurrent-resolve", "user-storage.email")
def test_of_concurrent_resolves_of_a_new_address_exactly_one_creates_it_on_both(pair: Pair) -> None:
    def resolve(client: JsonHttpClient) -> int:
        return client.request("POST", RESOLVE_PATH, json={"email": "crowd@example.com"}).status_code

    for client in (pair.stub, pair.service):
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(resolve, [client] * 8))
        assert sorted(statuses) == [200] * 7 + [201], f"{client.base_url}: {statuses}"
