"""The demo's appointments: three, in the coming days on the service's clock, and none added or moved
when the demo runs again (a day later)."""

from __future__ import annotations

from datetime import timedelta

from gateway.appointments.demo import seed_demo_appointments
from tests.appointments.records import NOW, stored
from tests.web.cases import make_case


async def test_demo_appointments_are_added_once(sessions, vault, service) -> None:  # type: ignore[no-untyped-def]
    case = await make_case(sessions, vault, service.id)
    await seed_demo_appointments(sessions, vault, service.id, case.ref, "America/Chicago", NOW)
    made = await stored(sessions, service.id)
    assert [a.kind for a in made] == ["office_visit", "drug_test", "court_hearing"]
    assert made[0].starts_at == NOW.replace(day=3, hour=16)  # tomorrow 10:00 CST
    assert all(a.starts_at > NOW and a.status == "scheduled" for a in made)
    await seed_demo_appointments(sessions, vault, service.id, case.ref, "America/Chicago", NOW + timedelta(days=1))
    again = await stored(sessions, service.id)
    assert [(a.id, a.starts_at, a.updated_at) for a in again] == [(a.id, a.starts_at, a.updated_at) for a in made]
