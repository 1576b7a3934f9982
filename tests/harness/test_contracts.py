"""The contract documents and their Python helpers say the same thing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from contracts import email
from contracts.errors import ERRORS

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def test_the_error_table_matches_errors_md() -> None:
    rows = re.findall(
        r"^\| `([A-Z_]+)` \| (\d{3}) \| (?:`([A-Z_]+)`|—) \|", (CONTRACTS / "errors.md").read_text(), re.M
    )
    documented = {code: (int(http), grpc_code) for code, http, grpc_code in rows}
    implemented = {code: (spec.http_status, spec.grpc_code.name) for code, spec in ERRORS.items()}
    assert len(documented) >= 10, "the table in errors.md was not parsed"
    assert documented == implemented


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
