"""Offender event kinds: what each carries, which group a victim subscribes to, which are urgent.

An event's `details` are checked field by field (every problem at once); fields not listed for the
kind are refused, so a caller cannot slip a street address into a notice: location is a town only.
`template_values` turns checked details into the personalisation every victim template of the kind
takes (the same names in every channel and language).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

GROUPS = ("custody", "hearings", "classification", "registration")
ALL = "all"
HEARING_TYPES = ("parole", "classification")
MAX_TEXT = 120


@dataclass(frozen=True)
class Field:
    name: str
    check: Callable[[Any], str | None]  # an error message, or None
    required: bool = False


@dataclass(frozen=True)
class Kind:
    name: str
    group: str
    fields: tuple[Field, ...]
    always_urgent: bool = False


def _text(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "must be text"
    if len(value) > MAX_TEXT:
        return f"must be at most {MAX_TEXT} characters"
    if any(ord(c) < 32 for c in value):
        return "must be one line of text"
    return None


def _date(value: Any) -> str | None:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return "must be a date as YYYY-MM-DD"
    try:
        date.fromisoformat(value)
    except ValueError:
        return "is not a real date"
    return None


def _one_of(*allowed: Any) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in allowed else f"must be one of {', '.join(str(a) for a in allowed)}"

    return check


TOWN = Field("town", _text)
KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "released",
            "custody",
            (
                Field("date", _date, True),
                Field("scheduled_date", _date),
                Field("supervision_type", _text),
                TOWN,
            ),
        ),
        Kind("escaped", "custody", (Field("date", _date), Field("facility", _text)), always_urgent=True),
        Kind("recaptured", "custody", (Field("date", _date),)),
        Kind("died", "custody", (Field("date", _date),)),
        Kind("transferred", "custody", (Field("facility", _text, True), Field("date", _date))),
        Kind(
            "hearing_scheduled",
            "hearings",
            (Field("hearing_type", _one_of(*HEARING_TYPES), True), Field("date", _date, True), TOWN),
        ),
        Kind(
            "hearing_result",
            "hearings",
            (Field("hearing_type", _one_of(*HEARING_TYPES), True), Field("result", _text, True)),
        ),
        Kind(
            "classification",
            "classification",
            (Field("level", _one_of(1, 2, 3), True), Field("status", _one_of("preliminary", "final"), True)),
        ),
        Kind(
            "registration_status",
            "registration",
            (Field("status", _one_of("registered", "non-compliant", "moved"), True), TOWN),
        ),
        Kind("address_changed", "registration", (Field("town", _text, True),)),
        Kind(
            "vis_deadline", "hearings", (Field("deadline", _date, True), Field("hearing_type", _one_of(*HEARING_TYPES)))
        ),
    )
}


class EventInvalid(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def check_details(kind_name: Any, details: Any) -> tuple[Kind, dict[str, Any]]:
    """The kind and its checked details; EventInvalid naming every problem."""
    kind = KINDS.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        raise EventInvalid([f"kind must be one of {', '.join(KINDS)}"])
    if details is None:
        details = {}
    if not isinstance(details, dict):
        raise EventInvalid(["details must be an object"])
    errors: list[str] = []
    known = {f.name: f for f in kind.fields}
    errors += [f"details.{name} is not a field of a {kind.name} event" for name in sorted(set(details) - set(known))]
    for f in kind.fields:
        if f.name not in details or details[f.name] is None:
            if f.required:
                errors.append(f"details.{f.name} is required for a {kind.name} event")
            continue
        problem = f.check(details[f.name])
        if problem:
            errors.append(f"details.{f.name} {problem}")
    if errors:
        raise EventInvalid(errors)
    return kind, {k: v for k, v in details.items() if v is not None}


def is_urgent(kind: Kind, details: Mapping[str, Any]) -> bool:
    """Escape always; a release earlier than it was scheduled."""
    if kind.always_urgent:
        return True
    if kind.name == "released" and details.get("scheduled_date"):
        return bool(str(details["date"]) < str(details["scheduled_date"]))
    return False


def wants(events: list[str], kind: Kind) -> bool:
    """Whether a registration's chosen events include this kind."""
    return ALL in events or kind.group in events


def check_events(value: Any) -> list[str] | str:
    """A registration's `events`: a list of "all" or groups; the checked list, or an error message."""
    if value is None:
        return [ALL]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        return f"must be a non-empty list of {ALL} or {', '.join(GROUPS)}"
    bad = [v for v in value if v not in (ALL, *GROUPS)]
    if bad:
        return f"has {', '.join(bad)}: use {ALL} or {', '.join(GROUPS)}"
    return list(dict.fromkeys(value))


NOT_GIVEN = {"en": "not given", "es": "no indicado"}
LEVEL_WORDS = {
    "en": {1: "1 (low)", 2: "2 (moderate)", 3: "3 (high)"},
    "es": {1: "1 (bajo)", 2: "2 (moderado)", 3: "3 (alto)"},
}


def template_values(kind: Kind, details: Mapping[str, Any], language: str) -> dict[str, str]:
    """Every field of the kind as text, for the templates: "not given" in the victim's language for an
    optional field left out (a blank value would be a missing personalisation)."""
    missing = NOT_GIVEN.get(language, NOT_GIVEN["en"])
    values = {f.name: missing if details.get(f.name) is None else str(details[f.name]) for f in kind.fields}
    if kind.name == "classification":
        values["level"] = LEVEL_WORDS.get(language, LEVEL_WORDS["en"])[int(details["level"])]
    return values
