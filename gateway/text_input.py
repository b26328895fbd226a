"""Text that arrives from outside: the two rules every input path applies.

* **No NUL characters.** PostgreSQL cannot store U+0000 in a text column (asyncpg raises, and the
  request became a 500), SQLite stores it, and no real message, id or name contains one. So a NUL
  in a field is refused with a precise error naming the field (API JSON, Twilio webhooks, staff
  forms and query strings); where refusing would lose a message a sender cannot correct (an inbound
  email's body, its Message-ID), it is cleaned instead (`gateway.inbound.email_parse`).
* **Something visible.** A message of only spaces and zero-width or other format characters
  (U+200B, U+200C, U+200D, U+2060, U+FEFF, ...) would reach a phone as an invisible text. Such a
  personalisation value counts as missing, and a message that renders to nothing visible is refused.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

NUL = "\x00"
_INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})


def has_nul(value: str) -> bool:
    return NUL in value


def first_nul_field(fields: Iterable[tuple[str, object]]) -> str | None:
    """The name of the first field whose value (text) holds a NUL, or None."""
    for name, value in fields:
        if (isinstance(value, str) and NUL in value) or NUL in name:
            return name.replace(NUL, "\\0")
    return None


def is_visible(text: str) -> bool:
    """True when `text` has at least one character a reader would see."""
    return any(not ch.isspace() and unicodedata.category(ch) not in _INVISIBLE_CATEGORIES for ch in text)
