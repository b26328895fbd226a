"""Test data for broadcasts: clients on open cases, with their contact points and preferences."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.db import Appointment, Case, CaseParticipant, ContactPoint, OptOut, Person
from gateway.db.base import utcnow


@dataclass(frozen=True)
class Client:
    person_id: uuid.UUID
    case_id: uuid.UUID
    name: str
    phone: str | None
    email: str | None


def unique_phone() -> str:
    return f"+1202555{secrets.randbelow(10000):04d}"


async def add_client(
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    service_id: uuid.UUID,
    name: str,
    *,
    phone: bool = True,
    email: bool = False,
    preferred: list[str] | None = None,
    assigned: uuid.UUID | None = None,
    office: str | None = None,
    program: str | None = None,
    tags: list[str] | None = None,
    status: str = "open",
    retired: bool = False,
    role: str = "client",
    timezone: str | None = None,
    **case_values: Any,
) -> Client:
    number = unique_phone() if phone else None
    address = f"{name.split()[0].lower()}.{secrets.token_hex(3)}@example.com" if email else None
    async with sessions() as db:
        person = Person(
            service_id=service_id,
            display_name=name,
            first_name=name.split()[0],
            last_name=name.split()[-1],
            preferred_channels=preferred or [],
            retired_at=utcnow() if retired else None,
            timezone=timezone,
        )
        db.add(person)
        await db.flush()
        for kind, value in (("phone", number), ("email", address)):
            if value:
                db.add(
                    ContactPoint(
                        service_id=service_id,
                        person_id=person.id,
                        kind=kind,
                        value_enc=vault.seal(value),
                        value_index=vault.blind_index(value),
                    )
                )
        case = Case(
            service_id=service_id,
            external_ref=f"CASE-{secrets.token_hex(4).upper()}",
            assigned_staff_id=assigned,
            office=office,
            program=program,
            tags=tags or [],
            status=status,
            **case_values,
        )
        db.add(case)
        await db.flush()
        db.add(CaseParticipant(case_id=case.id, person_id=person.id, role=role))
        await db.commit()
        return Client(person.id, case.id, name, number, address)


async def book(
    sessions: async_sessionmaker[AsyncSession],
    client: Client,
    service_id: uuid.UUID,
    starts_at: datetime,
    **values: Any,
) -> None:
    async with sessions() as db:
        db.add(
            Appointment(
                service_id=service_id,
                case_id=client.case_id,
                person_id=client.person_id,
                kind="office_visit",
                starts_at=starts_at,
                time_zone="America/New_York",
                **values,
            )
        )
        await db.commit()


async def opt_out(sessions: async_sessionmaker[AsyncSession], vault: Vault, service_id: uuid.UUID, phone: str) -> None:
    async with sessions() as db:
        db.add(
            OptOut(
                service_id=service_id, channel="sms", address_index=vault.blind_index(phone), sender="", source="STOP"
            )
        )
        await db.commit()


async def add_staff(sessions: async_sessionmaker[AsyncSession], service_id: uuid.UUID, name: str) -> uuid.UUID:
    """A member of staff who never signs in (an officer whose caseload is chosen)."""
    from gateway.db import StaffUser

    async with sessions() as db:
        user = StaffUser(
            service_id=service_id, email=f"{secrets.token_hex(5)}@agency.example", name=name, roles=["officer"]
        )
        db.add(user)
        await db.commit()
        return user.id
