"""Fixtures of the harness's own tests: the mail and user stubs, one per
module, reset (and checked) per test. ``frontback/`` is a boundary suite of
fakes that test_declared_boundary.py runs in a scratch copy, never here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from contracts.mail.stub import MailStub
from contracts.user.stub import UserStub

collect_ignore = ["frontback"]


@pytest.fixture(scope="module")
def mail_server() -> Iterator[MailStub]:
    with MailStub() as stub:
        yield stub


@pytest.fixture(scope="module")
def user_server() -> Iterator[UserStub]:
    with UserStub() as stub:
        yield stub


@pytest.fixture
def mail(mail_server: MailStub) -> Iterator[MailStub]:
    mail_server.reset()
    yield mail_server
    mail_server.check()


@pytest.fixture
def users(user_server: UserStub) -> Iterator[UserStub]:
    user_server.reset()
    yield user_server
    user_server.check()
