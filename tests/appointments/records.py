"""Test data for appointments: a client with an open case (through the real API), an appointment body,
the app on a `ManualClock`, and the case record's appointment lines."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.app import create_app
from gateway.clock import ManualClock
from gateway.db import Appointment, RecordEntry
from gateway.settings import Settings
from tests.api.test_auth import bearer
from tests.directory.people import person_body
from tests.factories import ServiceUnderTest

# Monday 2 March 2026, 09:00 in Chicago: the week before the clocks go forward (Sunday 8 March).
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def auth(s: ServiceUnderTest, key: str | None = None) -> dict[str, str]:
    return bearer(key or s.live_key, s.id)


async def app_client(aiohttp_client: Any, settings: Settings, clock: ManualClock) -> TestClient:  # type: ignore[type-arg]
    return await aiohttp_client(create_app(settings, clock=clock))  # type: ignore[no-any-return]


async def client_case(
    client: TestClient,  # type: ignore[type-arg]
    service: ServiceUnderTest,
    ref: str = "C-1",
    person: str = "P-1",
    *,
    officer: str | None = None,
    **person_changes: Any,
) -> uuid.UUID:
    """A person (zone America/Chicago unless changed) and an open case whose client they are; the case id."""
    resp = await client.put(f"/v2/people/{person}", json=person_body(**person_changes), headers=auth(service))
    assert resp.status in (200, 201), await resp.text()
    body = {"client": person, "assigned_to": officer or service.team_email}
    resp = await client.put(f"/v2/cases/{ref}", json=body, headers=auth(service))
    assert resp.status in (200, 201), await resp.text()
    return uuid.UUID((await resp.json())["id"])


def appointment_body(**changes: Any) -> dict[str, Any]:
    """A good PUT /v2/appointments body (Monday 9 March 2026, 10:30 in Chicago); `None` removes a field."""
    body: dict[str, Any] = {
        "case_reference": "C-1",
        "kind": "office_visit",
        "starts_at": "2026-03-09T10:30",
        "location": "Probation office, 12 Main St, Springfield",
        "bring": "Photo ID and your pay stubs",
        "notes": "Ask about the job search",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


async def appointment_lines(sessions: async_sessionmaker[AsyncSession], case_id: uuid.UUID) -> list[RecordEntry]:
    """The case's appointment record lines, oldest first."""
    async with sessions() as db:
        rows = await db.scalars(
            select(RecordEntry)
            .where(RecordEntry.case_id == case_id, RecordEntry.kind == "appointment")
            .order_by(RecordEntry.seq)
        )
        return list(rows.all())


async def stored(sessions: async_sessionmaker[AsyncSession], service_id: uuid.UUID) -> list[Appointment]:
    async with sessions() as db:
        rows = await db.scalars(
            select(Appointment).where(Appointment.service_id == service_id).order_by(Appointment.starts_at)
        )
        return list(rows.all())


async def add_appointment(
    sessions: async_sessionmaker[AsyncSession],
    service_id: uuid.UUID,
    case_id: uuid.UUID,
    person_id: uuid.UUID,
    starts_at: datetime,
    *,
    staff_id: uuid.UUID | None = None,
    status: str = "scheduled",
    kind: str = "office_visit",
    zone: str = "America/Chicago",
    location: str = "12 Main St",
    external_id: str | None = None,
) -> uuid.UUID:
    """A stored appointment, written directly (a factory for page tests; the write paths have their own)."""
    async with sessions() as db:
        row = Appointment(
            service_id=service_id,
            external_id=external_id,
            case_id=case_id,
            person_id=person_id,
            staff_id=staff_id,
            kind=kind,
            starts_at=starts_at,
            time_zone=zone,
            location=location,
            status=status,
            source="staff",
        )
        db.add(row)
        await db.commit()
        return row.id
