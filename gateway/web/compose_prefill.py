"""Values the composer fills in for the officer, from the person, the case and the service.

A template field whose name is known here starts with a value the officer can change:

| field | from |
| --- | --- |
| `first_name` | the person's preferred name, else their first name, else the first word of their name |
| `officer_name` | the case's officer, else the member of staff writing |
| `office_phone` | the first phone number in the service's contact text (`gateway service update --contact-text`) |
| `office_name` | the case's office |
| `appointment_*`, `location` | the next appointment, once appointments exist (`next_appointment` below) |

Nothing here is sent without the officer seeing it: the values only fill the form.
"""

from __future__ import annotations

import uuid

import phonenumbers
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import Case, Person, Service, StaffUser
from gateway.web.context import StaffContext


async def next_appointment(db: AsyncSession, person_id: uuid.UUID, case_id: uuid.UUID | None) -> dict[str, str]:
    """The person's next appointment as template values (`appointment_type`, `appointment_date`,
    `appointment_time`, `location`), or nothing.

    HOOK for the appointments capability (being built beside this): there is no appointment table
    on this branch yet, so this returns no values and those fields start empty. When appointments
    land, read the next one here (on the person's clock, gateway.localtime) and the composer fills
    them in with no other change.
    """
    return {}


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
    db: AsyncSession, staff: StaffContext, person: Person | None, case_id: uuid.UUID | None, region: str
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
        values.update(await next_appointment(db, person.id, case_id))
    return values
