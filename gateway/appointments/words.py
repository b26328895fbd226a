"""Appointments in plain words: kinds, statuses, times on the appointment's clock, case-record lines.

A record line names the appointment (kind and time) and the fields that changed, never what staff
notes say, and keeps its ids in `data` (`appointment_id`, `external_id`, `person_id`: the case page
hides lines about a victim from staff who may not see victims, by `person_id`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from gateway.appointments import Change
from gateway.domain import RecordKind
from gateway.localtime import local_format
from gateway.record import NewEntry

KIND_WORDS = {
    "office_visit": "Office visit",
    "drug_test": "Drug test",
    "group_session": "Group session",
    "court_hearing": "Court hearing",
    "job_interview": "Job interview",
    "workshop": "Workshop",
    "other": "Appointment",
}
STATUS_WORDS = {
    "scheduled": "Scheduled",
    "confirmed": "Confirmed",
    "reschedule_requested": "Reschedule requested",
    "attended": "Attended",
    "missed": "Missed",
    "cancelled": "Cancelled",
}
LOCATION_WORDS = {"address": "In person", "phone": "By phone", "video": "Video"}
FIELD_WORDS = {
    "case_reference": "case",
    "starts_at": "time",
    "time_zone": "time zone",
    "duration_minutes": "length",
    "location_kind": "kind of place",
    "location": "place",
    "staff": "member of staff",
    "bring": "what to bring",
}
WHEN = "%a %d %b %Y %H:%M %Z"


def when(starts_at: datetime, zone_name: str) -> str:
    """ "Mon 09 Mar 2026 10:30 CDT": the start on the appointment's own clock."""
    return local_format(starts_at, zone_name, WHEN)


def fields_text(fields: list[str]) -> str:
    return ", ".join(FIELD_WORDS.get(name, name.replace("_", " ")) for name in fields)


def record_entry(
    case_id: uuid.UUID,
    actor: str,
    change: Change,
    values: dict[str, Any],
    fields: list[str],
    *,
    previous_start: datetime | None = None,
    reinstated: bool = False,
) -> NewEntry:
    """The one case-record line for a change to an appointment."""
    kind = KIND_WORDS.get(values["kind"], "Appointment").lower()
    at = when(values["starts_at"], values["time_zone"])
    others = [name for name in fields if name not in ("starts_at", "status", "created")]
    if change is Change.CREATED:
        summary = f"Appointment {'scheduled again' if reinstated else 'added'}: {kind} on {at}"
    elif change is Change.MOVED:
        was = when(previous_start, values["time_zone"]) if previous_start else "another time"
        summary = f"Appointment moved: {kind} from {was} to {at}"
        others = [name for name in others if name != "time_zone"]
    elif change is Change.CANCELLED:
        summary = f"Appointment cancelled: {kind} on {at}"
    elif change is Change.OUTCOME:
        summary = f"Appointment marked {values['status']}: {kind} on {at}"
    elif fields == ["status"]:
        summary = f"Appointment {STATUS_WORDS[values['status']].lower()}: {kind} on {at}"
    else:
        summary = f"Appointment details changed ({fields_text(others)}): {kind} on {at}"
        others = []
    if others and change is not Change.CREATED:
        summary += f"; also changed: {fields_text(others)}"
    data = {
        "appointment_id": str(values["id"]),
        "external_id": values.get("external_id"),
        "person_id": str(values["person_id"]),
        "change": change.value,
        "fields": fields,
    }
    if reinstated:
        data["reinstated"] = True
    return NewEntry(case_id, RecordKind.APPOINTMENT, actor, summary, data)
