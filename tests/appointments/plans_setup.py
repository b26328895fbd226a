"""Test data for reminders: a client (phone and/or email) on a case with an officer, and appointments written
with the ORM as the API, import and staff pages do, then handed to the plan hook like they hand them."""

from __future__ import annotations

import itertools
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.appointments import Change
from gateway.appointments.plan import appointments_changed
from gateway.crypto import Vault
from gateway.db import Appointment, Case, CaseParticipant, ContactPoint, Notification, Person, StaffUser
from gateway.recipients import email_index_form


@dataclass(frozen=True)
class Client:
    service_id: uuid.UUID
    person_id: uuid.UUID
    case_id: uuid.UUID
    case_ref: str
    staff_id: uuid.UUID
    staff_email: str
    phone: str | None
    email: str | None


_NUMBERS = itertools.count(secrets.randbelow(10000))


def unique_phone() -> str:
    """A Chicago number no other client of this test run has (random ones collided: two clients, one phone)."""
    return f"+1312555{next(_NUMBERS) % 10000:04d}"


async def add_client(
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    service_id: uuid.UUID,
    *,
    phone: str | None = "new",
    email: str | None = None,
    language: str = "en",
    timezone: str | None = None,
    preferred: tuple[str, ...] = (),
) -> Client:
    phone = unique_phone() if phone == "new" else phone
    async with sessions() as session:
        person = Person(
            service_id=service_id,
            display_name="Jordan Rivera",
            first_name="Jordan",
            language=language,
            timezone=timezone,
            preferred_channels=list(preferred),
        )
        officer = StaffUser(
            service_id=service_id,
            email=f"officer.{secrets.token_hex(4)}@agency.example.org",
            name="Olive Officer",
            roles=["officer"],
        )
        session.add_all([person, officer])
        await session.flush()
        if phone:
            session.add(
                ContactPoint(
                    service_id=service_id,
                    person_id=person.id,
                    kind="phone",
                    value_enc=vault.seal(phone),
                    value_index=vault.blind_index(phone),
                )
            )
        if email:
            session.add(
                ContactPoint(
                    service_id=service_id,
                    person_id=person.id,
                    kind="email",
                    value_enc=vault.seal(email),
                    value_index=vault.blind_index(email_index_form(email)),
                )
            )
        ref = f"CASE-{secrets.token_hex(4)}"
        case = Case(service_id=service_id, external_ref=ref, assigned_staff_id=officer.id)
        session.add(case)
        await session.flush()
        session.add(CaseParticipant(case_id=case.id, person_id=person.id, role="client"))
        await session.commit()
        return Client(service_id, person.id, case.id, ref, officer.id, officer.email, phone, email)


async def add_appointment(
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    client: Client,
    starts_at: datetime,
    *,
    now: datetime,
    kind: str = "office_visit",
    time_zone: str = "America/Chicago",
    **fields: Any,
) -> uuid.UUID:
    """Write an appointment and call the hook with CREATED in the same transaction; returns its id."""
    values: dict[str, Any] = {"location_kind": "address", "location": "Room 2, 100 Main Street", **fields}
    async with sessions() as session:
        appointment = Appointment(
            service_id=client.service_id,
            external_id=f"A-{secrets.token_hex(4)}",
            case_id=client.case_id,
            person_id=client.person_id,
            staff_id=client.staff_id,
            kind=kind,
            starts_at=starts_at,
            time_zone=time_zone,
            source="api",
            **values,
        )
        session.add(appointment)
        await session.flush()
        await appointments_changed(session, vault, [(appointment, Change.CREATED)], now=now)
        await session.commit()
        return appointment.id


async def change_appointment(
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    appointment_id: uuid.UUID,
    change: Change,
    *,
    now: datetime,
    hook: bool = True,
    **values: Any,
) -> list[uuid.UUID]:
    """Change an appointment as a write path would (a move keeps the old time and raises the sequence) and
    call the hook unless `hook` is False; the ids the hook says to deliver now."""
    async with sessions() as session:
        appointment = await session.get(Appointment, appointment_id)
        assert appointment is not None
        if "starts_at" in values and values["starts_at"] != appointment.starts_at:
            appointment.previous_starts_at = appointment.starts_at
            appointment.moved_at = now
            appointment.sequence += 1
        if values.get("status") == "cancelled":
            appointment.sequence += 1
        for name, value in values.items():
            setattr(appointment, name, value)
        appointment.updated_at = now
        await session.flush()
        ids = await appointments_changed(session, vault, [(appointment, change)], now=now) if hook else []
        await session.commit()
        return ids


async def messages_of(sessions: async_sessionmaker[AsyncSession], appointment_id: uuid.UUID) -> list[Notification]:
    async with sessions() as session:
        rows = await session.scalars(
            select(Notification)
            .where(Notification.appointment_id == appointment_id)
            .order_by(Notification.created_at, Notification.scheduled_for)
        )
        return list(rows)
