"""SMS length: which encoding a text needs and how many fragments (billable parts) it takes.

GSM-7 carries 160 septets in one message and 153 per part once concatenated (the other
7 septets hold the concatenation header). Characters from the GSM extension table take
two septets (an escape plus the character). A single character outside GSM-7 switches
the whole message to UCS-2: 70 UTF-16 code units alone, 67 per part concatenated, and
characters outside the Basic Multilingual Plane (most emoji) take two code units.

Handsets and carriers never split an escape sequence or a surrogate pair across two
parts, so parts are packed greedily rather than by dividing the length: a two-unit
character that would straddle a boundary moves whole into the next part.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM_7 = "GSM-7"
UCS_2 = "UCS-2"

# The GSM 03.38 default alphabet, in table order (the escape at 0x1B is not a character).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each of these is sent as escape + character, two septets.
_GSM_EXTENSION = frozenset("^{}\\[~]|€\f")

_LIMITS = {GSM_7: (160, 153), UCS_2: (70, 67)}


@dataclass(frozen=True, slots=True)
class SmsLength:
    """How a text travels as SMS.

    `characters` is the length in the units the limits are counted in: septets for GSM-7
    (extension characters count 2), UTF-16 code units for UCS-2 (emoji count 2).
    """

    encoding: str
    characters: int
    fragments: int


_GSM_ALL = _GSM_BASIC | _GSM_EXTENSION


def is_gsm7(text: str) -> bool:
    """True when every character of `text` is in the GSM-7 alphabet or its extension table."""
    return _GSM_ALL.issuperset(text)


def _unit_widths(text: str, encoding: str) -> list[int]:
    if encoding == GSM_7:
        return [2 if ch in _GSM_EXTENSION else 1 for ch in text]
    # Python strings hold code points; anything above the BMP is a surrogate pair in UTF-16.
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _pack(widths: list[int], per_part: int) -> int:
    parts, used = 1, 0
    for width in widths:
        if used + width > per_part:
            parts += 1
            used = 0
        used += width
    return parts


def sms_length(text: str) -> SmsLength:
    """Return the encoding, length in encoding units, and fragment count of an SMS body.

    An empty text is 0 fragments; anything else is at least 1.
    """
    encoding = GSM_7 if is_gsm7(text) else UCS_2
    single, per_part = _LIMITS[encoding]
    narrow = _GSM_EXTENSION.isdisjoint(text) if encoding == GSM_7 else not text or max(text) <= "\uffff"
    if narrow:  # every character one unit (the usual case): no packing to do, just the count
        characters = len(text)
        fragments = 0 if not characters else 1 if characters <= single else -(-characters // per_part)
        return SmsLength(encoding=encoding, characters=characters, fragments=fragments)
    widths = _unit_widths(text, encoding)
    characters = sum(widths)
    fragments = 1 if characters <= single else _pack(widths, per_part)
    return SmsLength(encoding=encoding, characters=characters, fragments=fragments)
