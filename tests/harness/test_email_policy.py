"""contracts.email, the user stub's reading of contracts/email.md, on the cases the services'
own implementation is tested with (galaxy/platform/email/email_test.go)."""

from __future__ import annotations

import pytest

from contracts.email import EmailRefused, normalize


def _label(n: int) -> str:
    return "d" * n


LONG_DOMAIN = ".".join([_label(63)] * 3 + [_label(60)])
LONGEST = "a" * 64 + "@" + ".".join([_label(63), _label(63), _label(61)])

VALID = {
    "plain": ("user@example.com", "user@example.com"),
    "lowercased": ("User.Name@Example.COM", "user.name@example.com"),
    "plus tag": ("user+tag@example.com", "user+tag@example.com"),
    "single-label domain": ("user@localhost", "user@localhost"),
    "local part of 64 octets": ("a" * 64 + "@example.com", "a" * 64 + "@example.com"),
    "label of 63 octets": (f"u@{_label(63)}.com", f"u@{_label(63)}.com"),
    "address of 254 octets": (LONGEST, LONGEST),
    "domain of 252 octets": (f"u@{LONG_DOMAIN}", f"u@{LONG_DOMAIN}"),
    "U-label domain": ("user@bücher.example", "user@xn--bcher-kva.example"),
    "U-label domain, capitals": ("user@BÜCHER.Example", "user@xn--bcher-kva.example"),
    "A-label domain": ("user@xn--bcher-kva.example", "user@xn--bcher-kva.example"),
    "A-label domain, capitals": ("user@XN--BCHER-KVA.example", "user@xn--bcher-kva.example"),
    "decomposed U-label": ("user@bu\u0308cher.example", "user@xn--bcher-kva.example"),
    "non-ASCII local part, lowercased": ("JOSÉ@example.com", "josé@example.com"),
    "decomposed local part, composed": ("jose\u0301@example.com", "josé@example.com"),
    "dotted capital I, simple lowercase": ("\u0130@example.com", "i@example.com"),
    "final sigma, one letter at a time": ("\u0391\u03a3@example.com", "\u03b1\u03c3@example.com"),
}

REFUSED = {
    "empty": "",
    "blank": "   ",
    "leading space": " user@example.com",
    "trailing tab": "user@example.com\t",
    "no-break space": "user\u00a0@example.com",
    "ideographic space": "user@example.com\u3000",
    "no at": "userexample.com",
    "two ats": "a@b@example.com",
    "no domain": "user@",
    "no local part": "@example.com",
    "display name": "User <user@example.com>",
    "angle brackets": "<user@example.com>",
    "two addresses": "a@example.com, b@example.com",
    "quoted local part": '"us er"@example.com',
    "dot at the start": ".user@example.com",
    "two dots": "us..er@example.com",
    "newline": "user@example.com\nBcc: x@example.com",
    "NUL": "user\x00@example.com",
    "DEL": "user\x7f@example.com",
    "C1 control": "user\u0085@example.com",
    "unpaired surrogate": "user\ud800@example.com",
    "replacement character": "user\ufffd@example.com",
    "zero-width space": "us\u200ber@example.com",
    "zero-width joiner": "user@exa\u200dmple.com",
    "word joiner": "user\u2060@example.com",
    "byte order mark": "\ufeffuser@example.com",
    "soft hyphen": "us\u00ader@example.com",
    "right-to-left override": "user@\u202eexample.com",
    "variation selector": "user\ufe0f@example.com",
    "hangul filler": "user\u3164@example.com",
    "private use": "user\ue000@example.com",
    "local part of 65 octets": "a" * 65 + "@example.com",
    "local part of 65 octets once lowercased": "a" * 62 + "Ⱥ@example.com",
    "label of 64 octets": f"u@{_label(64)}.com",
    "domain of 254 octets": f"u@{LONG_DOMAIN}dd",
    "address of 255 octets": "a" * 64 + "@" + ".".join([_label(63), _label(63), _label(62)]),
    "U-label longer than 63 once encoded": "u@" + "ü" * 60 + ".example",
    "huge input": "a" * 5000 + "@example.com",
    "empty label": "user@example..com",
    "trailing dot": "user@example.com.",
    "hyphen at a label's start": "user@-example.com",
    "underscore in the domain": "user@ex_ample.com",
    "domain literal": "user@[192.0.2.1]",
    "A-label that is not punycode": "user@xn--.example",
    "A-label not in its canonical form": "user@xn--bcher-kva-.example",
}


@pytest.mark.parametrize(("given", "normal"), VALID.values(), ids=VALID.keys())
def test_an_accepted_address_has_its_normal_form_which_is_its_own(given: str, normal: str) -> None:
    assert normalize(given) == normal
    assert normalize(normal) == normal


@pytest.mark.parametrize("given", REFUSED.values(), ids=REFUSED.keys())
def test_the_policy_refuses(given: str) -> None:
    with pytest.raises(EmailRefused):
        normalize(given)
