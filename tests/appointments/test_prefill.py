"""The composer's appointment values (`compose_prefill.next_appointment`) on both databases: the next
appointment still on, on its own clock (Chicago, across the spring-forward change), in the person's
language; nothing when there is none."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from gateway.db import Person
from gateway.web.compose_prefill import next_appointment
from tests.appointments.records import add_appointment
from tests.web.cases import make_case


async def test_the_next_appointment_fills_the_template_values(sessions, vault, service) -> None:  # type: ignore[no-untyped-def]
    case = await make_case(sessions, vault, service.id)
    now = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)  # Friday; the clocks go forward on Sunday
    async with sessions() as db:
        person = await db.get(Person, case.person_id)
        assert person is not None
        assert await next_appointment(db, person, case.case_id, now) == {}
    past = datetime(2026, 3, 5, 15, 0, tzinfo=UTC)
    await add_appointment(sessions, service.id, case.case_id, case.person_id, past)
    cancelled = datetime(2026, 3, 7, 15, 0, tzinfo=UTC)
    await add_appointment(sessions, service.id, case.case_id, case.person_id, cancelled, status="cancelled")
    soon = datetime(2026, 3, 9, 15, 30, tzinfo=UTC)  # Monday 10:30 CDT (it would be 09:30 in CST)
    await add_appointment(sessions, service.id, case.case_id, case.person_id, soon, kind="drug_test", location="Lab")
    later = datetime(2026, 3, 20, 15, 30, tzinfo=UTC)
    await add_appointment(sessions, service.id, case.case_id, case.person_id, later, kind="court_hearing")
    async with sessions() as db:
        person = await db.get(Person, case.person_id)
        assert person is not None
        assert await next_appointment(db, person, case.case_id, now) == {
            "appointment_type": "drug_test",
            "appointment_date": "Monday 9 March",
            "appointment_time": "10:30 am",
            "location": "Lab",
        }
        await db.execute(update(Person).where(Person.id == person.id).values(language="es"))
        await db.commit()
    async with sessions() as db:
        person = await db.get(Person, case.person_id)
        assert person is not None
        values = await next_appointment(db, person, None, datetime(2026, 3, 10, tzinfo=UTC))
        assert values["appointment_date"] == "viernes 20 marzo" and values["appointment_type"] == "court_hearing"
