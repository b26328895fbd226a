"""Test data for the directory: a person body as the API takes it, staff to assign, record counts."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.db import ContactPoint, Person, RecordEntry, StaffUser


def mobile() -> str:
    return f"+1202555{secrets.randbelow(10000):04d}"


def person_body(**changes: Any) -> dict[str, Any]:
    """A good PUT /v2/people body; `None` removes a field."""
    body: dict[str, Any] = {
        "first_name": "Jordan",
        "last_name": "Rivera",
        "preferred_name": "Jo",
        "language": "es",
        "timezone": "America/Chicago",
        "phone_numbers": ["(202) 555-0143"],
        "email_addresses": ["Jordan.Rivera@Example.org"],
        "postal_address": ["12 Main St", "Springfield, IL 62701"],
        "preferred_channels": ["sms", "email"],
        "consent": {"sms": {"granted": True, "source": "intake-form", "at": "2026-11-02T15:00:00Z"}},
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


async def add_staff(
    sessions: async_sessionmaker[AsyncSession], service_id: uuid.UUID, name: str, *, active: bool = True
) -> StaffUser:
    async with sessions() as db:
        staff = StaffUser(
            service_id=service_id,
            email=f"{name.split()[0].lower()}.{secrets.token_hex(3)}@agency.example",
            name=name,
            roles=["officer"],
            active=active,
        )
        db.add(staff)
        await db.commit()
        return staff


async def entries(sessions: async_sessionmaker[AsyncSession], case_id: uuid.UUID) -> list[RecordEntry]:
    async with sessions() as db:
        rows = await db.scalars(select(RecordEntry).where(RecordEntry.case_id == case_id).order_by(RecordEntry.seq))
        return list(rows.all())


async def counts(sessions: async_sessionmaker[AsyncSession], service_id: uuid.UUID) -> tuple[int, int]:
    """(people, contact points) of the service."""
    async with sessions() as db:
        people = await db.scalar(select(func.count()).select_from(Person).where(Person.service_id == service_id))
        points = await db.scalar(
            select(func.count()).select_from(ContactPoint).where(ContactPoint.service_id == service_id)
        )
        return int(people or 0), int(points or 0)
