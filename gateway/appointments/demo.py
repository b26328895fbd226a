"""Demo appointments for the quick start (`gateway demo`): three for the demo client's case, in the
coming days, written through the same upsert as the API (so the reminders hook plans them).

Safe to run again: an appointment that exists already is left as it is (running the demo again
tomorrow does not move it, which would tell the client a new time).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.appointments.writes import find_stored, upsert_appointment
from gateway.crypto import Vault
from gateway.localtime import to_local

# (external id, days from today, local time, kind, where, what to bring)
DEMO_APPOINTMENTS = (
    ("DEMO-APPT-1", 1, "10:00", "office_visit", "Probation office, 200 Main St, Room 4", "Photo ID and pay stubs"),
    ("DEMO-APPT-2", 3, "08:30", "drug_test", "County testing lab, 40 Oak Ave", "Photo ID"),
    ("DEMO-APPT-3", 10, "09:00", "court_hearing", "County courthouse, 1 Court Sq, Courtroom 2B", None),
)


async def seed_demo_appointments(
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    service_id: uuid.UUID,
    case_ref: str,
    zone: str,
    now: datetime,
) -> list[uuid.UUID]:
    """Add the demo appointments that are missing; the notification ids the reminders hook returned."""
    today = to_local(now, zone).date()
    deliver: list[uuid.UUID] = []
    async with sessions() as db:
        for external_id, days, at, kind, where, bring in DEMO_APPOINTMENTS:
            if await find_stored(db, vault, service_id, external_id=external_id) is not None:
                continue
            fields = {
                "case_reference": case_ref,
                "kind": kind,
                "starts_at": f"{today + timedelta(days=days)}T{at}",
                "time_zone": zone,
                "location": where,
                "bring": bring,
            }
            written = await upsert_appointment(
                db, vault, service_id, external_id, fields, actor="demo", now=now, source="api"
            )
            deliver += written.deliver
        await db.commit()
    return deliver
