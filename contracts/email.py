"""The email normalisation policy of ``contracts/email.md``, read in Python: what
the user stub names its users by, as the user service does.

The services run one implementation of the policy (``galaxy/platform/email``);
this is the stub's reading of the same text, and the user contract test
(``authsessionuser/test_user_contract.py``) holds the stub and the service to the
same answers on generated addresses. Where they differ, that test shows the
address.

:func:`normalize` gives an address's normal form or raises :class:`EmailRefused`
(the policy's ``INVALID_ARGUMENT``).
"""

from __future__ import annotations

import re
import unicodedata

import idna

__all__ = ["EmailRefused", "normalize"]

MAX_ADDRESS = 254
MAX_LOCAL = 64
MAX_DOMAIN = 253
MAX_LABEL = 63
_MAX_RAW = 4 * MAX_ADDRESS  # longer input is refused before it is read

# Characters the policy refuses anywhere: controls, format characters, private use, separators, and
# (below) whitespace, default-ignorable code points, variation selectors and U+FFFD.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Zs", "Zl", "Zp"})
_REFUSED_RANGES = (
    (0x0009, 0x000D),  # White_Space controls (Cc as well)
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian variation selectors and vowel separator
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xFFF0, 0xFFF8),  # reserved default-ignorables
    (0xFFFD, 0xFFFD),  # the replacement character
    (0xE0000, 0xE0FFF),  # tags and variation selectors supplement
)
_ATEXT = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\U0010ffff]"
_DOT_ATOM = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")


class EmailRefused(ValueError):
    """An address the policy refuses (``INVALID_ARGUMENT``); the text says why."""


def _refused(char: str) -> bool:
    code = ord(char)
    return (
        unicodedata.category(char) in _REFUSED_CATEGORIES
        or char.isspace()
        or any(low <= code <= high for low, high in _REFUSED_RANGES)
    )


def _lower(text: str) -> str:
    """Unicode's simple lowercase mapping, one character at a time (Python's ``str.lower``
    is the full mapping, which turns U+0130 into two characters and a final Σ into ς)."""
    out = []
    for char in text:
        lowered = char.lower()
        out.append(lowered if len(lowered) == 1 else "i" if char == "\u0130" else char)
    return "".join(out)


def _domain(domain: str) -> str:
    """The A-label form of ``domain`` (IDNA2008, UTS #46 lookup), checked to round-trip."""
    try:
        ascii_form = idna.encode(domain, uts46=True, std3_rules=True, transitional=False).decode("ascii")
        again = idna.encode(idna.decode(ascii_form), uts46=True, std3_rules=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise EmailRefused(f"the domain is not a valid domain name: {exc}") from None
    if again != ascii_form:
        raise EmailRefused(f"the domain's A-labels do not round-trip: {ascii_form!r} -> {again!r}")
    if len(ascii_form) > MAX_DOMAIN:
        raise EmailRefused(f"the domain is longer than {MAX_DOMAIN} octets")
    for label in ascii_form.split("."):
        if not label:
            raise EmailRefused("the domain has an empty label (or a trailing dot)")
        if len(label) > MAX_LABEL:
            raise EmailRefused(f"a label of the domain is longer than {MAX_LABEL} octets")
    return ascii_form


def normalize(address: str) -> str:
    """The normal form of ``address`` by ``contracts/email.md``; :class:`EmailRefused` if the policy refuses it."""
    if not address:
        raise EmailRefused("the address is empty")
    if len(address.encode("utf-8", "surrogatepass")) > _MAX_RAW:
        raise EmailRefused(f"the address is longer than {MAX_ADDRESS} octets")
    if bad := next((c for c in address if _refused(c)), None):
        raise EmailRefused(f"the address holds a control, invisible or whitespace character (U+{ord(bad):04X})")
    local, at, domain = address.partition("@")
    if not at or not local or not domain or "@" in domain or not _DOT_ATOM.fullmatch(local):
        raise EmailRefused("not a bare address local@domain with a dot-atom local part")
    local = _lower(unicodedata.normalize("NFC", local))
    if len(local.encode()) > MAX_LOCAL:
        raise EmailRefused(f"the local part is longer than {MAX_LOCAL} octets")
    normal = f"{local}@{_domain(domain)}"
    if len(normal.encode()) > MAX_ADDRESS:
        raise EmailRefused(f"the address is longer than {MAX_ADDRESS} octets")
    return normal
