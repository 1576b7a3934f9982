"""The email normalisation policy of ``contracts/email.md``, restated from the
document: the suites' oracle of which addresses are refused and which
spellings are one account. :func:`normalize` gives an address's normal form or
raises :class:`EmailRefused`; a generator that claims an address is valid (or
invalid) asks it, and what a service mails to is judged by it.

The domain goes through IDNA2008 under the UTS #46 lookup profile, as the
document says: the UTS #46 mapping (nontransitional, ``UseSTD3ASCIIRules``),
then each label's validity criteria (NFC; the hyphen rule of RFC 5891
§4.2.3.1, counted in characters of the U-label; no leading combining mark;
``CheckJoiners``, the CONTEXTJ rules of RFC 5892; ``CheckBidi``, the Bidi Rule
of RFC 5893 on every label of a domain that has a right-to-left label), each
``xn--`` label decoded and checked as its U-label. UTS #46 does not test the
CONTEXTO rules (RFC 5891 §5.4 leaves them to registries), and neither does this.
The tables are the ``idna`` package's; characters the Unicode versions of the
two sides disagree on are for neither side's tests to draw.
"""

from __future__ import annotations

import re
import unicodedata

import idna

__all__ = [
    "MAX_ADDRESS_OCTETS",
    "MAX_DOMAIN_OCTETS",
    "MAX_LABEL_OCTETS",
    "MAX_LOCAL_OCTETS",
    "REFUSED_CATEGORIES",
    "EmailRefused",
    "is_normal",
    "normalize",
    "refusal",
    "refused_character",
]

# RFC 5321 §4.5.3.1, in octets of the normalised address (its domain in A-labels).
MAX_LOCAL_OCTETS = 64
MAX_LABEL_OCTETS = 63
MAX_DOMAIN_OCTETS = 253
MAX_ADDRESS_OCTETS = 254

REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Zs", "Zl", "Zp"})
"""General categories refused anywhere in an address: controls, format
characters (zero-width, bidi controls, the byte order mark), private use,
surrogates (no valid UTF-8 holds one) and separators. Unassigned code points
are not among them: the policy does not refuse them."""

# The default-ignorable code points outside those categories (PropList.txt):
# Other_Default_Ignorable_Code_Point and Variation_Selector, as ranges.
_OTHER_IGNORABLE = (
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul choseong and jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180D),  # Mongolian free variation selectors
    (0x180F, 0x180F),
    (0x2065, 0x2065),
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xFFF0, 0xFFF8),
    (0xE0000, 0xE0FFF),  # tags, variation selectors supplement, reserved
)
_REPLACEMENT = "\ufffd"

# A dot-atom (RFC 5322 atext, dots between atoms) whose atext also takes any
# non-ASCII character, as RFC 6532 allows; the refused characters are gone by then.
_ATEXT = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\U0010ffff]"
_DOT_ATOM = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
_ACE = "xn--"
_JOINERS = ("\u200c", "\u200d")
_RTL = frozenset({"R", "AL", "AN"})


class EmailRefused(ValueError):
    """The policy refuses the address (``INVALID_ARGUMENT`` at the services); ``reason`` says why."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"{address!r}: {reason}")
        self.address = address
        self.reason = reason


def refused_character(ch: str) -> bool:
    """Whether the policy refuses ``ch`` anywhere in an address: it is invisible or
    renders as something else (controls, format characters, private use,
    separators and whitespace, the other default-ignorable code points), or it
    is U+FFFD, which only stands for something lost."""
    if ch == _REPLACEMENT or unicodedata.category(ch) in REFUSED_CATEGORIES or ch.isspace():
        return True
    cp = ord(ch)
    return any(low <= cp <= high for low, high in _OTHER_IGNORABLE)


def _simple_lower(text: str) -> str:
    """``text`` under the Unicode simple lowercase mapping, one code point at a time
    (so no final-sigma context). Python's ``lower`` applies the full mapping, which
    differs from the simple one for one code point only: U+0130, whose full
    lowercase is ``i`` and a combining dot above, and whose simple one is ``i``."""
    return "".join(low if len(low := ch.lower()) == 1 else low[0] for ch in text)


def _idna_refused(domain: str, why: object) -> EmailRefused:
    return EmailRefused(domain, f"IDNA refuses the domain: {why}")


def _u_label(label: str, domain: str) -> str:
    """The U-label of one label of the mapped ``domain``: itself, or an ``xn--``
    label decoded, which must be the Punycode of a valid, non-ASCII U-label."""
    if not label.startswith(_ACE):
        return label
    encoded = label[len(_ACE) :]
    try:
        decoded = encoded.encode("ascii").decode("punycode")
    except UnicodeError as exc:
        raise _idna_refused(domain, f"{label!r} is no Punycode ({exc})") from None
    if not decoded or decoded.isascii():
        raise _idna_refused(domain, f"{label!r} decodes to {decoded!r}, no U-label")
    try:
        valid = idna.uts46_remap(decoded, std3_rules=True) == decoded
    except idna.IDNAError:
        valid = False
    if not valid:
        raise _idna_refused(domain, f"{label!r} decodes to {decoded!r}, which holds characters UTS #46 maps or refuses")
    return decoded


def _check_label(u: str, domain: str) -> None:
    """UTS #46's validity criteria of one U-label (the mapping has checked each code point's status)."""
    try:
        idna.check_nfc(u)
        idna.check_hyphen_ok(u)  # RFC 5891 §4.2.3.1, in characters
        idna.check_initial_combiner(u)
    except idna.IDNAError as exc:
        raise _idna_refused(domain, f"{u!r}: {exc}") from None
    for pos, ch in enumerate(u):
        if ch in _JOINERS and not idna.valid_contextj(u, pos):
            raise _idna_refused(domain, f"{u!r}: U+{ord(ch):04X} out of its CONTEXTJ context")


def _a_labels(domain: str) -> str:
    """The domain's A-label form (IDNA2008, UTS #46 lookup profile), checked as the policy says."""
    try:
        mapped = idna.uts46_remap(domain, std3_rules=True)
    except idna.IDNAError as exc:
        raise _idna_refused(domain, exc) from None
    labels = mapped.split(".")
    if "" in labels:
        raise EmailRefused(domain, "the domain has an empty label (or a trailing dot)")
    u_labels = [_u_label(label, domain) for label in labels]
    for u in u_labels:
        _check_label(u, domain)
    if any(unicodedata.bidirectional(ch) in _RTL for u in u_labels for ch in u):
        for u in u_labels:  # a bidi domain: the Bidi Rule holds for every label (RFC 5893 §2)
            try:
                idna.check_bidi(u, check_ltr=True)
            except idna.IDNAError as exc:
                raise _idna_refused(domain, f"{u!r}: {exc}") from None
    a_labels = [label if label.isascii() else _ACE + label.encode("punycode").decode("ascii") for label in labels]
    for a, u in zip(a_labels, u_labels, strict=True):
        # The round trip: an A-label is the canonical Punycode of its U-label.
        if a.startswith(_ACE) and _ACE + u.encode("punycode").decode("ascii") != a:
            raise _idna_refused(domain, f"{a!r} is not the canonical A-label of {u!r}")
        if len(a) > MAX_LABEL_OCTETS:
            raise EmailRefused(domain, f"the label {a!r} is longer than {MAX_LABEL_OCTETS} octets")
    ascii_domain = ".".join(a_labels)
    if len(ascii_domain) > MAX_DOMAIN_OCTETS:
        raise EmailRefused(domain, f"the domain is longer than {MAX_DOMAIN_OCTETS} octets")
    return ascii_domain


def normalize(address: str) -> str:
    """The normal form of ``address`` (contracts/email.md): its local part in NFC
    and lowercase, its domain in A-labels; :class:`EmailRefused` if the policy
    refuses it. Nothing is trimmed."""
    if not address:
        raise EmailRefused(address, "empty")
    for ch in address:
        if refused_character(ch):
            raise EmailRefused(address, f"holds U+{ord(ch):04X} ({unicodedata.category(ch)})")
    local, at, domain = address.partition("@")
    if not at or not local or not domain or "@" in domain:
        raise EmailRefused(address, "not one local part, one @ and one domain")
    if _DOT_ATOM.fullmatch(local) is None:
        raise EmailRefused(address, "the local part is not a dot-atom")
    local = _simple_lower(unicodedata.normalize("NFC", local))
    if len(local.encode()) > MAX_LOCAL_OCTETS:
        raise EmailRefused(address, f"the local part is longer than {MAX_LOCAL_OCTETS} octets")
    normal = f"{local}@{_a_labels(domain)}"
    if len(normal.encode()) > MAX_ADDRESS_OCTETS:
        raise EmailRefused(address, f"longer than {MAX_ADDRESS_OCTETS} octets")
    return normal


def refusal(address: str) -> str | None:
    """Why the policy refuses ``address``, or None when it takes it."""
    try:
        normalize(address)
    except EmailRefused as exc:
        return exc.reason
    return None


def is_normal(address: str) -> bool:
    """Whether ``address`` is taken and already its own normal form (what may be mailed to)."""
    try:
        return normalize(address) == address
    except EmailRefused:
        return False
