"""Hypothesis strategies for the public request fields, drawn from the
contracts: valid values (which the services must accept), boundary values,
and hostile ones (which they must refuse with the error table's code).

The email strategies follow ``contracts/email.md``; the token strategies
``contracts/tokens.md``; the code strategies the six-digit login code of
``contracts/mail.md``.
"""

from __future__ import annotations

import json
import string
import unicodedata
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from contracts.tokens import SigningKey, b64url

__all__ = [
    "REFUSED_CATEGORIES",
    "access_tokens",
    "any_codes",
    "any_emails",
    "hostile_codes",
    "hostile_emails",
    "json_documents",
    "malformed_claims",
    "printable",
    "spellings_of_one_address",
    "traceparents",
    "valid_emails",
    "violates_email_policy",
]

# RFC 5322 atext, lowercase: a generated valid local part is already in its
# normalised form, so the address mailed to is the one sent (or its lowercase).
_ATEXT = string.ascii_lowercase + string.digits + "!#$%&'*+/=?^_`{|}~-"
_LDH_START = string.ascii_lowercase
_LDH = string.ascii_lowercase + string.digits

REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Zs", "Zl", "Zp"})
"""Unicode general categories contracts/email.md refuses anywhere in an
address: controls, format characters (zero-width, bidi), private use,
surrogates, separators. (Unassigned code points are not among them: the
policy does not refuse them, and which are unassigned depends on the
Unicode version, which Go and this Python need not share.)"""

printable = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=120)
"""Text a header or gRPC metadata value can carry as it is."""


@st.composite
def _dot_atom(draw: st.DrawFn, max_size: int = 24) -> str:
    atoms = draw(st.lists(st.text(alphabet=_ATEXT, min_size=1, max_size=8), min_size=1, max_size=3))
    return ".".join(atoms)[:max_size].strip(".") or "a"


@st.composite
def _label(draw: st.DrawFn) -> str:
    head = draw(st.sampled_from(_LDH_START))
    body = draw(st.text(alphabet=_LDH + "-", max_size=10))
    tail = draw(st.text(alphabet=_LDH, min_size=1, max_size=1)) if body else ""
    label = head + body + tail
    return label.replace("--", "-")  # no "xx--" label, which IDNA reserves


@st.composite
def valid_emails(draw: st.DrawFn) -> str:
    """An address the policy accepts, already normalised (lowercase ASCII)."""
    local = draw(_dot_atom())
    labels = draw(st.lists(_label(), min_size=1, max_size=3))
    tld = draw(st.text(alphabet=string.ascii_lowercase, min_size=2, max_size=6))
    return f"{local}@{'.'.join([*labels, tld])}"


# Spellings of one domain that contracts/email.md makes one: case, composed or decomposed, U-label or A-label.
_DOMAIN_SPELLINGS = (
    ("example.com", "EXAMPLE.COM", "Example.Com"),
    ("bücher.example", "BÜCHER.Example", "bu\u0308cher.example", "xn--bcher-kva.example", "XN--BCHER-KVA.example"),
    ("münchen.de", "MÜNCHEN.DE", "xn--mnchen-3ya.de"),
    ("ελλαδα.gr", "ΕΛΛΑΔΑ.gr", "xn--mxaaic4aa.gr"),
    ("пример.example", "ПРИМЕР.EXAMPLE", "xn--e1afmkfd.example"),
)
# Letters of several scripts whose upper case lowercases back to them, so that a spelling's case is no new
# account; and the dot-atom's other characters.
_CASED_LETTERS = "abcxyz019éüöжщωλñ"
_ATEXT_OTHERS = "+_-'"


@st.composite
def spellings_of_one_address(draw: st.DrawFn) -> list[str]:
    """Two to four spellings of one address: its letters in either case, composed or decomposed, and its
    domain in any of its spellings."""
    atoms = draw(
        st.lists(
            st.text(st.sampled_from(_CASED_LETTERS + _ATEXT_OTHERS), min_size=1, max_size=6), min_size=1, max_size=3
        )
    )
    local = ".".join(atoms)
    domains = draw(st.sampled_from(_DOMAIN_SPELLINGS))
    found = []
    for _ in range(draw(st.integers(2, 4))):
        cased = "".join(c.upper() if draw(st.booleans()) else c for c in local)
        composed = draw(st.booleans())
        found.append(unicodedata.normalize("NFC" if composed else "NFD", cased) + "@" + draw(st.sampled_from(domains)))
    return found


def _refused_character() -> st.SearchStrategy[str]:
    named = st.sampled_from(
        [
            "\u200b",  # zero-width space
            "\u200c",  # zero-width non-joiner
            "\u200d",  # zero-width joiner
            "\u2060",  # word joiner
            "\u00ad",  # soft hyphen
            "\ufeff",  # byte order mark
            "\u200e",  # LRM
            "\u202e",  # RLO
            "\u2066",  # LRI
            "\u00a0",  # no-break space
            "\u3000",  # ideographic space
            "\u2028",  # line separator
            "\ufffd",  # the replacement character
            "\ufe0f",  # variation selector
            "\u3164",  # Hangul filler
            " ",
            "\t",
            "\n",
            "\x00",
            "\x7f",
            "\x85",
        ]
    )
    by_category = st.characters(categories=["Cc", "Cf", "Co", "Zs", "Zl", "Zp"])
    return st.one_of(named, by_category)


@st.composite
def hostile_emails(draw: st.DrawFn) -> str:
    """An address the policy refuses, and why is in the drawing: an invisible
    or control character anywhere, a part too long, or a form it does not
    take (display name, quotes, no or two ``@``, a domain literal, IDNA
    refusals)."""
    email = draw(valid_emails())
    local, domain = email.split("@")
    at = draw(st.integers(0, len(email)))
    # local 64 and a domain within 253, the address over 254:
    long_domain = ".".join(["d" * 63, "d" * 63, "d" * 61]) + "x" * draw(st.integers(1, 2))
    kinds: dict[str, Callable[[], str]] = {
        "character": lambda: email[:at] + draw(_refused_character()) + email[at:],
        "long-local": lambda: f"{local.ljust(65, 'a')}@{domain}",
        "long-label": lambda: f"{local}@{'d' * draw(st.integers(64, 80))}.{domain}",
        "long-domain": lambda: f"{local}@" + ".".join(["d" * 63] * 4) + f".{domain}",
        "long-address": lambda: "a" * 64 + "@" + long_domain,
        "form": lambda: draw(
            st.sampled_from(
                [
                    f"Ada <{email}>",
                    f"<{email}>",
                    f'"{local}"@{domain}',
                    f"{local}@@{domain}",
                    f"{local}@{domain}@{domain}",
                    local + domain,
                    f"@{domain}",
                    f"{local}@",
                    f".{local}@{domain}",
                    f"{local}.@{domain}",
                    f"{local}..x@{domain}",
                    f"{local}@[192.0.2.1]",
                    f"{local}@{domain}.",
                    f"{local}@.{domain}",
                    f"{local}@{domain}..x",
                    f"{local}(comment)@{domain}",
                ]
            )
        ),
        "idna": lambda: draw(
            st.sampled_from(
                [
                    f"{local}@-{domain}",
                    f"{local}@{domain.split('.')[0]}-.{domain}",
                    f"{local}@x_y.{domain}",
                    f"{local}@xn--zz.{domain}",  # an A-label that is no Punycode of a valid U-label
                    f"{local}@xn--bcher-kva-.{domain}",
                ]
            )
        ),
    }
    return kinds[draw(st.sampled_from(sorted(kinds)))]()


def any_emails() -> st.SearchStrategy[str]:
    """Anything a client might send as an email: any text (surrogates aside,
    which no transport can carry as text), mixed-case and Unicode addresses."""
    unicode_address = st.builds(
        lambda local, domain: f"{local}@{domain}.example",
        st.text(min_size=1, max_size=20),
        st.text(min_size=1, max_size=20),
    )
    return st.one_of(
        st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=300),
        unicode_address,
        valid_emails().map(str.upper),
    )


def violates_email_policy(address: str) -> str | None:
    """Why a normalised address breaks contracts/email.md, or None. What the
    mail service is sent must never break it, whatever was asked for."""
    for ch in address:
        if unicodedata.category(ch) in REFUSED_CATEGORIES or ch.isspace():
            return f"{ch!r} ({unicodedata.category(ch)})"
    if address.count("@") != 1:
        return "not exactly one @"
    local, domain = address.split("@")
    broken = {
        "an empty part": not local or not domain,
        "not lowercase": address != address.lower(),
        "too long": len(local.encode()) > 64 or len(domain.encode()) > 253 or len(address.encode()) > 254,
        "the domain is not in its A-label form": not domain.isascii(),
        "an empty or long domain label": any(not label or len(label) > 63 for label in domain.split(".")),
    }
    return next((why for why, yes in broken.items() if yes), None)


def any_codes() -> st.SearchStrategy[str]:
    """Anything a client might send as a login code."""
    return st.one_of(
        st.text(alphabet=string.digits, min_size=0, max_size=9),
        st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12),
        hostile_codes(),
    )


def hostile_codes() -> st.SearchStrategy[str]:
    """Six digits that are not six ASCII digits: other scripts' digits,
    full-width ones, signs and spaces."""
    other_digits = st.characters(categories=["Nd"]).filter(lambda c: not c.isascii())
    return st.one_of(
        st.text(alphabet=other_digits, min_size=6, max_size=6),
        st.text(alphabet=string.digits, min_size=5, max_size=5).flatmap(
            lambda five: st.sampled_from([f"+{five}", f"-{five}", f" {five}", f"{five} ", f"{five}\n", f"0x{five}"])
        ),
        st.text(alphabet=string.digits, min_size=6, max_size=6).map(
            lambda six: "".join(chr(0xFF10 + int(c)) for c in six)
        ),
    )


def json_documents() -> st.SearchStrategy[Any]:
    """Any JSON value, objects keyed by anything (the documented field names
    among them, in other cases too)."""
    keys = st.one_of(
        # "ema\u0131l" has a dotless i: a look-alike of a documented key.
        st.sampled_from(["email", "Email", "EMAIL", "code", "challenge_id", "refresh_token", "ema\u0131l", "email "]),
        st.text(max_size=10),
    )
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**64),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=40),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
        max_leaves=12,
    )


def _numeric_date_breakers(now: int) -> st.SearchStrategy[Any]:
    """Values no time claim may hold: strings, other types, out of range."""
    return st.one_of(
        st.integers(0, 2**40).map(str),
        st.sampled_from([None, True, False, [], {}, [now], "now", float(-1), 253402300800, 1e300]),
        st.integers(max_value=-1),
    )


@st.composite
def malformed_claims(draw: st.DrawFn, claims: dict[str, Any], now: int) -> dict[str, Any]:
    """``claims`` (a working token's) changed so that contracts/tokens.md
    makes the token invalid, whatever the signature: an identity claim
    changed or gone, a time claim of the wrong type or range, the token
    expired or not yet valid at ``now`` (fixed for a whole test, so that a
    replayed example draws the same values)."""
    name = draw(st.sampled_from(["iss", "aud", "typ", "sid", "sub", "exp", "nbf", "iat"]))
    out = dict(claims)
    if name in ("iss", "aud", "typ", "sid", "sub"):
        if draw(st.booleans()):
            del out[name]
        else:
            other = draw(st.one_of(st.text(max_size=30), st.integers(), st.none(), st.lists(st.text(), max_size=2)))
            if other == claims[name]:
                other = f"{claims[name]}x"
            out[name] = other
        return out
    if name == "exp":
        out["exp"] = draw(st.one_of(_numeric_date_breakers(now), st.integers(0, now - 31)))
        return out
    if name == "nbf":
        out["nbf"] = draw(st.one_of(_numeric_date_breakers(now), st.integers(now + 60, 253402300799)))
        return out
    out["iat"] = draw(_numeric_date_breakers(now))
    return out


def _signed(header: dict[str, Any], claims: dict[str, Any], key: SigningKey) -> str:
    """A compact JWS of ``claims`` under ``header``, signed with Ed25519 by
    ``key`` whatever the header says (so only the header can be wrong)."""
    head = b64url(json.dumps(header, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signature = key.private_key.sign(f"{head}.{body}".encode())
    return f"{head}.{body}.{b64url(signature)}"


@st.composite
def access_tokens(draw: st.DrawFn, claims: dict[str, Any], key: SigningKey, now: int) -> str:
    """A token the gateway must refuse: arbitrary text, three parts of
    anything, or ``claims`` signed properly but with a header or claims the
    contract refuses (at ``now``)."""
    kind = draw(st.sampled_from(["text", "three-parts", "claims", "header"]))
    if kind == "text":
        return draw(printable)
    if kind == "three-parts":
        part = st.one_of(
            st.binary(max_size=60).map(b64url),
            json_documents().map(lambda doc: b64url(json.dumps(doc).encode())),
            st.text(alphabet=string.ascii_letters + string.digits + "-_=+/", max_size=40),
        )
        return ".".join(draw(st.lists(part, min_size=3, max_size=3)))
    good_header = {"alg": "EdDSA", "typ": "JWT", "kid": key.kid}
    if kind == "claims":
        return _signed(good_header, draw(malformed_claims(claims, now)), key)
    field = draw(st.sampled_from(["alg", "kid"]))
    value = draw(st.one_of(st.text(max_size=20), st.none(), st.integers(), st.sampled_from(["none", "eddsa", "HS256"])))
    if value == good_header[field]:
        value = None
    return _signed(good_header | {field: value}, claims, key)


_HEX = "0123456789abcdef"


@st.composite
def traceparents(draw: st.DrawFn) -> str:
    """A ``traceparent`` a client might send: well formed (any version but
    ``ff``, any flags), one near miss of it (tracing.md's malformed cases:
    upper case, zero or short ids, ``ff``, a fifth field after ``00``, other
    separators), or any header-safe text."""
    version = draw(st.sampled_from(["00", "00", "01", "7f", "fe"]))
    # Not all zeros (Hypothesis favours them): that near miss is drawn below.
    trace_id = draw(st.text(alphabet=_HEX, min_size=32, max_size=32).filter(lambda h: h.strip("0")))
    parent_id = draw(st.text(alphabet=_HEX, min_size=16, max_size=16).filter(lambda h: h.strip("0")))
    flags = draw(
        st.sampled_from(["00", "01", "02", "03"]) if version == "00" else st.text(_HEX, min_size=2, max_size=2)
    )
    rest = "" if version == "00" else draw(st.sampled_from(["", "-", "-what-follows"]))
    value = f"{version}-{trace_id}-{parent_id}-{flags}{rest}"
    misses: dict[str, Callable[[], str]] = {
        "upper": lambda: value.upper() if value.upper() != value else value[:3] + "A" + value[4:],
        "zero-trace": lambda: f"{version}-{'0' * 32}-{parent_id}-{flags}{rest}",
        "zero-parent": lambda: f"{version}-{trace_id}-{'0' * 16}-{flags}{rest}",
        "ff": lambda: f"ff-{trace_id}-{parent_id}-{flags}",
        "fifth-field": lambda: f"00-{trace_id}-{parent_id}-01-{draw(st.text(alphabet=_HEX, min_size=1, max_size=4))}",
        "short-id": lambda: f"{version}-{trace_id[:31]}-{parent_id}-{flags}",
        "separator": lambda: value.replace("-", draw(st.sampled_from(["_", ":", ".", " "])), 1),
        "flags-00-unknown-bit": lambda: f"00-{trace_id}-{parent_id}-{draw(st.sampled_from(['04', '80', 'ff', '05']))}",
        "text": lambda: draw(printable),
    }
    miss = draw(st.sampled_from(["none", "none", *sorted(misses)]))
    return value if miss == "none" else misses[miss]()
