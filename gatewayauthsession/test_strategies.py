"""The generators' claims hold by the policy's own checker: every address
the valid-email strategy builds is one contracts/email.md takes, already in
its normal form, and every address the hostile one builds is one it refuses
(contracts/email.py, the oracle; its agreement with the service is
test_generated_inputs.py's). The strategies also filter through the oracle;
these checks see that the filters only guard, dropping nothing, so that what
is drawn is spread as built."""

from __future__ import annotations

from hypothesis import given, settings

from contracts import email as policy
from gatewayauthsession import strategies as gen

EXAMPLES = 500  # no service involved: the oracle alone, some milliseconds each


@settings(max_examples=EXAMPLES)
@given(address=gen._valid_email())
def test_every_address_built_as_valid_is_taken_in_its_normal_form(address: str) -> None:
    assert policy.normalize(address) == address


@settings(max_examples=EXAMPLES)
@given(address=gen._hostile_email())
def test_every_address_built_as_hostile_is_refused(address: str) -> None:
    assert policy.refusal(address) is not None, f"{address!r} is taken as {policy.normalize(address)!r}"
