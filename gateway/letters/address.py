"""Notify's postal-address rules, adapted to US addresses.

A letter's address comes in `personalisation` as `address_line_1` … `address_line_7` (Notify's names;
Notify's older `postcode` key is taken as one more line). Blank lines are dropped; what is left must be
3 to 7 lines. The last line is either

* a US city line, `City, ST 12345` or `City, ST 12345-6789`, where ST is a state, DC, a territory or
  a freely associated state (USPS codes), or a military address (`APO`/`FPO`/`DPO` with `AA`/`AE`/`AP`);
  a trailing `USA` / `United States` line is dropped first; or
* the name of another country (ISO 3166, via pycountry): the letter goes at the international rate.

Every line must fit the envelope window when printed (measured in the letter's own typeface), and no
line may start with a character Notify refuses there. Each refusal is a `ValidationFailed` saying
which rule, in Notify's words where Notify has them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import pycountry

from gateway.errors import ValidationFailed
from gateway.letters.fonts import address_size, text_width
from gateway.letters.layout import address_width

MIN_LINES, MAX_LINES = 3, 7
ADDRESS_KEYS = tuple(f"address_line_{n}" for n in range(1, MAX_LINES + 1))
ALL_KEYS = (*ADDRESS_KEYS, "postcode")
_STATES = frozenset(s.code[3:] for s in pycountry.subdivisions.get(country_code="US"))  # type: ignore[no-untyped-call]
_FREELY_ASSOCIATED = frozenset({"FM", "MH", "PW"})
_MILITARY_STATES = frozenset({"AA", "AE", "AP"})
_MILITARY_CITIES = frozenset({"APO", "FPO", "DPO"})
STATE_CODES = (_STATES - {"UM"}) | _FREELY_ASSOCIATED | _MILITARY_STATES
_US_NAMES = frozenset({"usa", "us", "u.s.a.", "u.s.", "united states", "united states of america"})
_CITY_LINE = re.compile(r"^(?P<city>.+?)[,\s]\s*(?P<state>[A-Za-z]{2})\s+(?P<zip>\d{5})(?:-(?P<plus4>\d{4}))?$")
_BAD_START = '@()=[]"\\/,<>'
LAST_LINE_MESSAGE = "Last line of address must be a US city, state and ZIP code (City, ST 12345) or another country"


@dataclass(frozen=True)
class PostalAddress:
    """A checked address: its printed lines, and where it goes."""

    lines: tuple[str, ...]
    zip_code: str | None  # US only, as written (12345 or 12345-6789)
    country: str  # ISO 3166 alpha-2: "US" or the country abroad

    @property
    def international(self) -> bool:
        return self.country != "US"

    def as_text(self) -> str:
        """The form sealed in the notification's recipient: one line each."""
        return "\n".join(self.lines)

    @classmethod
    def from_text(cls, text: str) -> PostalAddress:
        """An address stored by `as_text` (already checked when it was accepted)."""
        return parse_lines(text.split("\n"))


def from_personalisation(personalisation: Mapping[str, object] | None) -> PostalAddress:
    """Check the address in a letter request's personalisation; ValidationFailed names the first problem."""
    values = personalisation or {}
    lines: list[str] = []
    for key in ALL_KEYS:
        value = values.get(key)
        if value is None:
            continue
        if not isinstance(value, str | int):
            raise ValidationFailed(f"personalisation {key} must be text")
        text = " ".join(str(value).split())
        if text:
            lines.append(text)
    address = parse_lines(lines)
    size, _ = address_size(len(address.lines))
    for key, line in zip(_keys_of(values), address.lines, strict=False):
        if text_width(line, size) > address_width():
            raise ValidationFailed(f"personalisation {key} is too long to print in the envelope window")
    return address


def _keys_of(values: Mapping[str, object]) -> list[str]:
    """The keys the non-blank lines came from, in order (for error messages)."""
    return [k for k in ALL_KEYS if isinstance(values.get(k), str | int) and str(values.get(k)).strip()]


def parse_lines(raw: list[str]) -> PostalAddress:
    lines = [line for line in (" ".join(r.split()) for r in raw) if line]
    if len(lines) > MAX_LINES:
        raise ValidationFailed(f"Address must be no more than {MAX_LINES} lines")
    if lines and lines[-1].lower() in _US_NAMES:
        lines = lines[:-1]
    if len(lines) < MIN_LINES:
        raise ValidationFailed(f"Address must be at least {MIN_LINES} lines")
    for line in lines:
        if line[0] in _BAD_START:
            raise ValidationFailed(
                "Address lines must not start with any of the following characters: " + " ".join(_BAD_START)
            )
    last = lines[-1]
    match = _CITY_LINE.match(last)
    if match is not None:
        state = match["state"].upper()
        if state not in STATE_CODES:
            raise ValidationFailed(f"Last line of address: {state} is not a US state or territory code")
        military = match["city"].strip().upper() in _MILITARY_CITIES
        if military != (state in _MILITARY_STATES):
            raise ValidationFailed("Last line of address: APO, FPO and DPO addresses use the state code AA, AE or AP")
        zip_code = match["zip"] + (f"-{match['plus4']}" if match["plus4"] else "")
        return PostalAddress(tuple(lines), zip_code, "US")
    country = _country(last)
    if country is None or country == "US":
        raise ValidationFailed(LAST_LINE_MESSAGE)
    return PostalAddress(tuple(lines), None, country)


def _country(name: str) -> str | None:
    if len(name) < 4:  # two- and three-letter codes are too easily a state or a typo
        return None
    try:
        found = pycountry.countries.lookup(name)
    except LookupError:
        return None
    return str(found.alpha_2)
