"""Validating an appointment as a caller sends it: one error per bad field, collected, never the first only.

Field names are the API's (`PUT /v2/appointments/{external_id}`); the import maps its columns onto
them and the staff form its inputs. `validate_appointment` checks each field's shape; the names it
gives (case, person, staff) and the start time's zone are resolved by `gateway.appointments.store`
against what the service holds.

The start: `starts_at` is ISO 8601. With an offset (`2026-03-08T10:30:00-05:00`, or `Z`) it is that
instant. Without one (`2026-03-08T10:30`) it is a wall-clock time in `time_zone` (IANA), which
defaults to the person's zone, else the service's (`resolve_start`). A wall-clock time the clocks
skip (02:30 on the spring-forward day in America/Chicago) is refused; one they repeat (01:30 on the
fall-back day) is the first of the two, the earlier instant (daylight time).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from gateway.appointments import AppointmentKind, AppointmentStatus, LocationKind
from gateway.directory import fields as f
from gateway.directory.fields import FieldErrors
from gateway.localtime import NonexistentTime, from_local

KINDS = tuple(k.value for k in AppointmentKind)
STATUSES = tuple(s.value for s in AppointmentStatus)
LOCATION_KINDS = tuple(k.value for k in LocationKind)
MAX_PLACE = 500
MAX_NOTES = 4000
MAX_DURATION = 12 * 60
DEFAULT_DURATION = 60
MAX_EXTERNAL_ID = 128
# The API's field names: a PUT body may hold exactly these.
FIELDS = (
    "case_reference",
    "person",
    "kind",
    "title",
    "starts_at",
    "time_zone",
    "duration_minutes",
    "location_kind",
    "location",
    "staff",
    "bring",
    "notes",
    "status",
)
_HAS_TIME = re.compile(r"\d[T ]\d")


@dataclass(frozen=True, slots=True)
class AppointmentInput:
    """An appointment's fields, each checked for shape. `starts_at` is aware when an offset was given,
    naive (a wall-clock time, zone still to be chosen) when not. `status` None: keep what is stored."""

    case_reference: str
    person: str | None
    kind: str
    title: str | None
    starts_at: datetime
    time_zone: str | None
    duration_minutes: int
    location_kind: str
    location: str | None
    staff: str | None  # lower-cased email
    bring: str | None
    notes: str | None
    status: str | None


def check_external_id(value: str) -> str:
    if not value or len(value) > MAX_EXTERNAL_ID or "\x00" in value or value != value.strip() or "/" in value:
        raise FieldErrors(
            {"external_id": f"must be 1 to {MAX_EXTERNAL_ID} characters, without '/' or spaces at either end"}
        )
    return value


def validate_appointment(raw: Mapping[str, Any]) -> AppointmentInput:
    """Check every field's shape; FieldErrors naming each bad one."""
    errors = f.Collector()
    reference = f.text(raw, "case_reference", errors, required=True)
    person = f.text(raw, "person", errors)
    kind = _choice(raw, "kind", KINDS, None, errors)
    title = f.text(raw, "title", errors)
    time_zone = f.timezone(raw, errors, "time_zone")
    starts_at = parse_start(raw.get("starts_at"), errors)
    duration = _duration(raw.get("duration_minutes"), errors)
    location_kind = _choice(raw, "location_kind", LOCATION_KINDS, LocationKind.ADDRESS.value, errors)
    location = f.text(raw, "location", errors, limit=MAX_PLACE)
    if location_kind == LocationKind.VIDEO and location is not None and not _https(location):
        errors.add("location", "must be an https:// link for a video appointment")
    elif location_kind in (LocationKind.ADDRESS, LocationKind.VIDEO) and location is None:
        what = "the address" if location_kind == LocationKind.ADDRESS else "the https:// link of the video call"
        errors.add("location", f"is required: {what} (or set location_kind to phone)")
    staff = f.text(raw, "staff", errors)
    bring = f.text(raw, "bring", errors, limit=MAX_PLACE)
    notes = f.text(raw, "notes", errors, limit=MAX_NOTES)
    status = _choice(raw, "status", STATUSES, None, errors)
    errors.raise_if_any()
    assert reference is not None and kind is not None and starts_at is not None and location_kind is not None
    return AppointmentInput(
        reference,
        person,
        kind,
        title,
        starts_at,
        time_zone,
        duration,
        location_kind,
        location,
        staff.lower() if staff else None,
        bring,
        notes,
        status,
    )


def parse_start(value: object, errors: f.Collector, field: str = "starts_at") -> datetime | None:
    """ISO 8601 with a date and a time: aware with an offset, naive (wall clock) without."""
    example = "a date and time such as 2026-03-09T10:30:00-05:00, or 2026-03-09T10:30 with time_zone"
    if not isinstance(value, str) or not value.strip():
        errors.add(field, f"is required: {example}")
        return None
    text = value.strip()
    try:
        when = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        errors.add(field, f"{text!r} is not {example}")
        return None
    if not _HAS_TIME.search(text):
        errors.add(field, f"{text!r} has no time of day: give {example}")
        return None
    return when.replace(microsecond=0)


def resolve_start(starts_at: datetime, zone_name: str, field: str = "starts_at") -> datetime:
    """The UTC instant of a start: as given when it has an offset, else the wall-clock time in `zone_name`.

    FieldErrors for a time the clocks skip in that zone, naming the change."""
    if starts_at.tzinfo is not None:
        return starts_at.astimezone(UTC)
    try:
        return from_local(starts_at, zone_name)
    except NonexistentTime:
        raise FieldErrors(
            {
                field: f"{starts_at:%Y-%m-%d %H:%M} does not exist in {zone_name}: the clocks go forward "
                "past it that night; choose another time"
            }
        ) from None


def _choice(
    raw: Mapping[str, Any], field: str, allowed: tuple[str, ...], default: str | None, errors: f.Collector
) -> str | None:
    value = f.text(raw, field, errors, required=default is None and field == "kind")
    if value is None:
        return default
    if value.lower() not in allowed:
        errors.add(field, f"{value!r} is not one of {', '.join(allowed)}")
        return default
    return value.lower()


def _duration(value: object, errors: f.Collector) -> int:
    if value is None or value == "":
        return DEFAULT_DURATION
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DURATION:
        errors.add("duration_minutes", f"must be a whole number of minutes from 1 to {MAX_DURATION}")
        return DEFAULT_DURATION
    return value


def _https(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname) and " " not in value
