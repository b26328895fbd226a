"""Values the composer fills in for the officer, from the person, the case and the service.

A template field whose name is known here starts with a value the officer can change:

| field | from |
| --- | --- |
| `first_name` | the person's preferred name, else their first name, else the first word of their name |
| `officer_name` | the case's officer, else the member of staff writing |
| `office_phone` | the first phone number in the service's contact text (`gateway service update --contact-text`) |
| `office_name` | the case's office |
| `appointment_*`, `location` | the person's next appointment, on its own clock (`next_appointment` below) |

Nothing here is sent without the officer seeing it: the values only fill the form.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import phonenumbers
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.appointments.queries import next_for_person
from gateway.db import Case, Person, Service, StaffUser
from gateway.db.base import utcnow
from gateway.localtime import to_local
from gateway.web.context import StaffContext


async def next_appointment(
    db: AsyncSession, person: Person, case_id: uuid.UUID | None, now: datetime
) -> dict[str, str]:
    """The person's next appointment (not started, still on; on this case when one is given) as
    template values: `appointment_type` (its kind's code, which the templates put in words),
    `appointment_date` ("Tuesday 14 January"; Spanish for a Spanish speaker), `appointment_time`
    ("10:30 am") on the appointment's own clock, and `location`. Nothing when there is none."""
    found = await next_for_person(db, person.service_id, person.id, now, case_id)
    if found is None:
        return {}
    local = to_local(found.starts_at, found.time_zone)
    spanish = (person.language or "").lower().startswith("es")
    day = (_ES_DAYS[local.weekday()] if spanish else f"{local:%A}") + f" {local.day} "
    day += _ES_MONTHS[local.month - 1] if spanish else f"{local:%B}"
    time = f"{local.hour % 12 or 12}:{local:%M} {'am' if local.hour < 12 else 'pm'}"
    place = found.location or ("por teléfono" if spanish else "by phone")
    if found.location_kind == "video" and found.location:
        place = found.location
    return {"appointment_type": found.kind, "appointment_date": day, "appointment_time": time, "location": place}


_ES_DAYS = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
_ES_MONTHS = (
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
)


def first_name(person: Person) -> str:
    for name in (person.preferred_name, person.first_name):
        if name and name.strip():
            return name.strip()
    return person.display_name.split()[0] if person.display_name.strip() else ""


def office_phone(service: Service, region: str) -> str | None:
    """The first phone number written in the service's contact text, as people write it."""
    if not service.contact_text:
        return None
    for match in phonenumbers.PhoneNumberMatcher(service.contact_text, region):
        return match.raw_string
    return None


async def prefill(
    db: AsyncSession,
    staff: StaffContext,
    person: Person | None,
    case_id: uuid.UUID | None,
    region: str,
    now: datetime | None = None,
) -> dict[str, str]:
    """Starting values for the composer's fields, by placeholder name."""
    values: dict[str, str] = {"officer_name": staff.name}
    service = await db.get(Service, staff.service_id)
    if service is not None and (phone := office_phone(service, region)):
        values["office_phone"] = phone
    case = await db.get(Case, case_id) if case_id is not None else None
    if case is not None and case.service_id == staff.service_id:
        if case.office:
            values["office_name"] = case.office
        if case.assigned_staff_id is not None:
            officer = await db.get(StaffUser, case.assigned_staff_id)
            if officer is not None and officer.active:
                values["officer_name"] = officer.name
    if person is not None:
        if name := first_name(person):
            values["first_name"] = name
        values.update(await next_appointment(db, person, case_id, now or utcnow()))
    return values
