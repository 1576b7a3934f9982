"""Hypothesis strategies for the public request fields, drawn from the
contracts: valid values (which the services must accept), boundary values,
and hostile ones (which they must refuse with the error table's code).

The email strategies follow ``contracts/email.md``, and what one claims
(valid and normal, or refused) the policy's oracle (:mod:`contracts.email`)
confirms for every address it draws; the token strategies
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

from contracts import email as policy
from contracts.tokens import SigningKey, b64url

__all__ = [
    "access_tokens",
    "any_codes",
    "any_emails",
    "edge_emails",
    "hostile_codes",
    "hostile_emails",
    "json_documents",
    "malformed_claims",
    "printable",
    "spellings_of_one_address",
    "traceparents",
    "valid_emails",
]

# RFC 5322 atext, lowercase: a generated valid local part is already in its
# normalised form, so the address mailed to is the one sent (or its lowercase).
_ATEXT = string.ascii_lowercase + string.digits + "!#$%&'*+/=?^_`{|}~-"
_LDH_START = string.ascii_lowercase
_LDH = string.ascii_lowercase + string.digits

printable = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=120)
"""Text a header or gRPC metadata value can carry as it is."""


@st.composite
def _dot_atom(draw: st.DrawFn, max_size: int = 24) -> str:
    atoms = draw(st.lists(st.text(alphabet=_ATEXT, min_size=1, max_size=8), min_size=1, max_size=3))
    return ".".join(atoms)[:max_size].strip(".") or "a"


@st.composite
def _label(draw: st.DrawFn) -> str:
    """A host-name label: a letter first, then letters, digits and single
    hyphens, never one last (so never two hyphens together, as IDNA reserves
    the third and fourth characters' pair for its prefixes)."""
    head = draw(st.sampled_from(_LDH_START))
    parts = draw(st.lists(st.text(alphabet=_LDH, min_size=1, max_size=4), max_size=3))
    return "-".join([head + (parts[0] if parts else ""), *parts[1:]])


@st.composite
def _valid_email(draw: st.DrawFn) -> str:
    local = draw(_dot_atom())
    labels = draw(st.lists(_label(), min_size=1, max_size=3))
    tld = draw(st.text(alphabet=string.ascii_lowercase, min_size=2, max_size=6))
    return f"{local}@{'.'.join([*labels, tld])}"


def valid_emails() -> st.SearchStrategy[str]:
    """An address the policy accepts, already normalised (lowercase ASCII): the
    oracle's word for each one, not only the way it is built."""
    return _valid_email().filter(policy.is_normal)


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


def spellings_of_one_address() -> st.SearchStrategy[list[str]]:
    """Two to four spellings of one address: its letters in either case, composed or decomposed, and its
    domain in any of its spellings; the oracle makes them all one normal form."""
    return _spellings().filter(lambda spellings: len({policy.normalize(s) for s in spellings}) == 1)


@st.composite
def _spellings(draw: st.DrawFn) -> list[str]:
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
    # contracts.email.REFUSED_CATEGORIES but Cs, which no transport carries
    by_category = st.characters(categories=["Cc", "Cf", "Co", "Zs", "Zl", "Zp"])
    return st.one_of(named, by_category)


def hostile_emails() -> st.SearchStrategy[str]:
    """An address the policy refuses, and why is in the drawing: an invisible
    or control character anywhere, a part too long, or a form it does not
    take (display name, quotes, no or two ``@``, a domain literal, IDNA
    refusals); the oracle refuses each one."""
    return _hostile_email().filter(lambda address: policy.refusal(address) is not None)


@st.composite
def _hostile_email(draw: st.DrawFn) -> str:
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
                    f"{local}@ab--{domain}",  # hyphens in the third and fourth characters
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


# What the policy's edges are made of, in characters whose Unicode properties
# have not changed since Unicode 13, so that the oracle (this Python's tables
# and the idna package's) and the service (its Go release's) read them alike.
_EDGE_LOCAL = [
    *"azAZ09.!#'+-_~\"(),\\ ",
    *("é", "É", "e\u0301", "ß", "\u0130", "\u03a3", "\u03c2", "\u01c5", "\u2126", "\u212a", "\ufb01", "ü", "中"),
]
_EDGE_DOMAIN = [
    *"abcxnAXN01-_",
    *("ü", "Ü", "ß", "\u03c2", "\u03a3", "中", "\u05d0", "\u05d1", "\u0628", "\u0663", "\u06f3", "\u00b7"),
    *("\u0375", "\u05f3", "\u30fb", "\u2603", "\u2474", "\uff21", "\u0301", "\u200d", "\u200c", "\u093e"),
    *("\u0915", "\u094d", "l", "\uff4c", "é", "e\u0301", "\u2070", "\u01c5"),
]
_EDGE_A_LABELS = [
    *("xn--bcher-kva", "XN--BCHER-KVA", "xn--zca", "xn--n3h", "xn--4dbrk0ce", "xn----x-goa", "xn--a--x-zra"),
    *("xn--zz", "xn--a", "xn---bbk", "xn--", "xn--bcher-kva-"),
    *("xn--11b6iy14e", "xn--ngba799q", "xn--ab-m1t"),  # joiners after a virama, between joining letters, neither
]


def _edge_label() -> st.SearchStrategy[str]:
    def joined(min_size: int, max_size: int) -> st.SearchStrategy[str]:
        return st.lists(st.sampled_from(_EDGE_DOMAIN), min_size=min_size, max_size=max_size).map("".join)

    return st.one_of(
        joined(1, 6),
        st.builds(lambda head, tail: f"{head}--{tail}", joined(1, 2), joined(1, 3)),  # the hyphen rule
        st.sampled_from(_EDGE_A_LABELS),
        st.builds(  # an xn-- label holding a character that stays non-ASCII once mapped
            lambda head, odd, tail: f"xn--{head}{odd}{tail}", joined(0, 2), st.sampled_from("üß中"), joined(0, 2)
        ),
    )


def _read_alike(address: str) -> bool:
    """Whether every Unicode table reads ``address`` alike: the oracle refuses it,
    or each character of its normal form's U-labels was assigned by Unicode 3.2
    (an ``xn--`` label built from pieces may decode to any code point, one the
    service's Go release may not know yet)."""
    try:
        normal = policy.normalize(address)
    except policy.EmailRefused:
        return True
    labels = normal.partition("@")[2].split(".")
    decoded = "".join(label[4:].encode().decode("punycode") for label in labels if label.startswith("xn--"))
    return all(unicodedata.ucd_3_2_0.category(ch) != "Cn" for ch in decoded)


def edge_emails() -> st.SearchStrategy[str]:
    """Addresses made of what the policy's rules turn on, the local part's or the
    domain's at a time (the other part plain): dot-atom edges and the characters
    local parts are normalised by (cases, composition, U+0130, final sigma,
    compatibility letters); in the domain, hyphens about the third and fourth
    characters of ASCII and Unicode labels, ``xn--`` labels canonical or not or
    holding non-ASCII, U-labels, mappings and label separators, joiners in and
    out of their CONTEXTJ context, right-to-left labels (the Bidi Rule), the
    CONTEXTO characters (which UTS #46 does not test) and a symbol UTS #46 takes
    and IDNA2008 does not. Valid or not: the oracle says which."""
    local = st.lists(st.sampled_from(_EDGE_LOCAL), min_size=1, max_size=6).map("".join)
    labels = st.lists(_edge_label(), min_size=1, max_size=3)
    separators = st.sampled_from([".", "\u3002", "\uff0e"])
    domain = st.builds(lambda parts, dot, tld: dot.join(parts) + tld, labels, separators, st.sampled_from(["", ".com"]))
    return st.one_of(local.map(lambda lp: f"{lp}@example.com"), domain.map(lambda d: f"user@{d}")).filter(_read_alike)


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


_NOT_BEFORE_MARGIN_S = 86_400
"""How far ahead a not-yet-valid token's ``nbf`` is: beyond the gateway's 30 s
leeway for longer than a test runs, shrinking included."""


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
    replayed example draws the same values) and for as long as any test
    can run after it: an ``exp`` only grows staler, an ``nbf`` is a day
    ahead at least."""
    name = draw(st.sampled_from(["iss", "aud", "typ", "sid", "sub", "exp", "nbf", "iat"]))
    out = dict(claims)
    if name in ("iss", "aud", "typ", "sid", "sub"):
        if draw(st.booleans()):
            del out[name]
        else:
            other = draw(st.one_of(st.text(max_size=30), st.integers(), st.none(), st.lists(st.text(), max_size=2)))
            # The same value, or (RFC 7519 §4.1.3) an audience array that holds it, is no change.
            if other == claims[name] or (isinstance(other, list) and claims[name] in other):
                other = f"{claims[name]}x"
            out[name] = other
        return out
    if name == "exp":
        out["exp"] = draw(st.one_of(_numeric_date_breakers(now), st.integers(0, now - 31)))
        return out
    if name == "nbf":
        out["nbf"] = draw(st.one_of(_numeric_date_breakers(now), st.integers(now + _NOT_BEFORE_MARGIN_S, 253402300799)))
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
