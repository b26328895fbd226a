"""Validating the directory's fields: one error per bad field, collected, never the first only.

`FieldErrors` maps a field name (the API's name, e.g. `phone_numbers[1]`, `consent.sms.source`)
to a message a caller can act on. The API answers each as one Notify `ValidationError`; the import
shows it with its row and column; staff pages show it beside the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gateway.localtime import UnknownZone, zone

# Languages the gateway has message templates in (templates/<channel>/<language>/).
LANGUAGES = ("en", "es")
MAX_TEXT = 255
_BCP47 = re.compile(r"^([A-Za-z]{2,3})(-[A-Za-z0-9]{2,8})*$")


class FieldErrors(ValueError):
    """Bad input, field by field: `errors` maps each bad field to what is wrong with it."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{field} {message}" for field, message in errors.items()))
        self.errors = dict(errors)


class Collector:
    """Gathers field errors while a whole input is checked; `raise_if_any` at the end."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, message)

    def raise_if_any(self) -> None:
        if self.errors:
            raise FieldErrors(self.errors)


def text(
    raw: Mapping[str, Any], field: str, errors: Collector, *, required: bool = False, limit: int = MAX_TEXT
) -> str | None:
    """An optional (or required) text of at most `limit` characters: stripped; blank is None."""
    value = raw.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.add(field, "is required")
        return None
    if not isinstance(value, str):
        errors.add(field, "must be text")
        return None
    value = value.strip()
    if len(value) > limit:
        errors.add(field, f"is too long (at most {limit} characters)")
        return None
    if "\x00" in value:
        errors.add(field, "must not contain NUL characters")
        return None
    return value


def text_list(raw: Mapping[str, Any], field: str, errors: Collector) -> list[str]:
    """A list of short texts (None or missing: empty)."""
    value = raw.get(field)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.add(field, "must be a list of text")
        return []
    out = []
    for i, item in enumerate(value):
        item = item.strip()
        if not item:
            continue
        if len(item) > MAX_TEXT or "\x00" in item:
            errors.add(f"{field}[{i}]", f"must be at most {MAX_TEXT} characters of text")
        elif item not in out:
            out.append(item)
    return out


def language(raw: Mapping[str, Any], errors: Collector) -> str:
    """A BCP 47 tag whose language the gateway has templates in; `en` when not given."""
    value = text(raw, "language", errors)
    if value is None:
        return "en"
    match = _BCP47.match(value)
    if match is None:
        errors.add("language", f"{value!r} is not a language tag such as en or es")
        return "en"
    primary = match.group(1).lower()
    if primary not in LANGUAGES:
        errors.add("language", f"{value!r} is not a language the gateway has templates in ({', '.join(LANGUAGES)})")
        return "en"
    parts = value.split("-")
    return "-".join([primary] + [p.upper() if len(p) == 2 else p for p in parts[1:]])


def timezone(raw: Mapping[str, Any], errors: Collector, name: str = "timezone") -> str | None:
    """An IANA time zone name in field `name`, or None (a person's: quiet hours then fall back to the
    number's, then the service's)."""
    value = text(raw, name, errors)
    if value is None:
        return None
    try:
        zone(value)
    except UnknownZone:
        errors.add(name, f"{value!r} is not a time zone name such as America/Chicago")
        return None
    return value


def choice(raw: Mapping[str, Any], field: str, allowed: tuple[str, ...], default: str, errors: Collector) -> str:
    value = text(raw, field, errors)
    if value is None:
        return default
    if value.lower() not in allowed:
        errors.add(field, f"{value!r} is not one of {', '.join(allowed)}")
        return default
    return value.lower()


def instant(value: object, field: str, errors: Collector) -> str | None:
    """An ISO 8601 date and time (without a zone it is taken as UTC), as a UTC ISO string."""
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str) and value.strip():
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            errors.add(field, f"{value!r} is not a date and time such as 2026-01-31T09:30:00Z")
            return None
    else:
        errors.add(field, "is required: a date and time such as 2026-01-31T09:30:00Z")
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat()
