"""Postage classes for letters, and how Notify's names map onto USPS mail.

| ours          | USPS                              | Notify's names taken as it |
| first         | First-Class Mail                  | first                      |
| marketing     | USPS Marketing Mail               | second, economy            |
| certified     | Certified Mail (tracking number)  | -                          |
| international | First-Class Mail International    | europe, rest-of-world      |

A template says its default (front matter `postage:`); a request may choose another. A letter to an
address abroad always goes at `international`, whatever was asked; an address at home never does.
"""

from __future__ import annotations

from enum import StrEnum


class Postage(StrEnum):
    FIRST = "first"
    MARKETING = "marketing"
    CERTIFIED = "certified"
    INTERNATIONAL = "international"


DEFAULT_POSTAGE = Postage.FIRST
ALIASES: dict[str, Postage] = {
    "second": Postage.MARKETING,
    "economy": Postage.MARKETING,
    "europe": Postage.INTERNATIONAL,
    "rest-of-world": Postage.INTERNATIONAL,
}
# What a request or a template may say (the international rate follows from the address).
ACCEPTED_NAMES = ("first", "marketing", "certified", *ALIASES)


def parse_postage(value: str) -> Postage | None:
    """Our postage for one of `ACCEPTED_NAMES` (Notify's too), or None for anything else."""
    if value in ALIASES:
        return ALIASES[value]
    if value in (Postage.FIRST, Postage.MARKETING, Postage.CERTIFIED):
        return Postage(value)
    return None


def postage_for(requested: Postage, international: bool) -> Postage:
    """The class a letter goes at: the address decides abroad or not. Abroad is always First-Class
    International; at home, Notify's `europe` / `rest-of-world` are First-Class."""
    if international:
        return Postage.INTERNATIONAL
    return Postage.FIRST if requested is Postage.INTERNATIONAL else requested
