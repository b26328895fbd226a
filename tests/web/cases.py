"""Test data for the case pages and the sandbox phone: a person with a phone on a case, in one service."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.db import Case, CaseParticipant, ContactPoint, Conversation, Person, Service


@dataclass(frozen=True)
class CaseUnderTest:
    case_id: uuid.UUID
    ref: str
    person_id: uuid.UUID
    phone: str


def unique_phone() -> str:
    return f"+1202555{secrets.randbelow(10000):04d}"


async def set_service_kind(sessions: async_sessionmaker[AsyncSession], service_id: uuid.UUID, kind: str) -> None:
    await set_service(sessions, service_id, kind=kind)


async def set_service(sessions: async_sessionmaker[AsyncSession], service_id: uuid.UUID, **values: object) -> None:
    """Change the service's settings (kind, timezone, ...) as `gateway service update` would."""
    async with sessions() as db:
        await db.execute(update(Service).where(Service.id == service_id).values(**values))
        await db.commit()


async def add_person(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, service_id: uuid.UUID, name: str, phone: str
) -> uuid.UUID:
    async with sessions() as db:
        person = Person(service_id=service_id, display_name=name)
        db.add(person)
        await db.flush()
        db.add(
            ContactPoint(
                service_id=service_id,
                person_id=person.id,
                kind="phone",
                value_enc=vault.seal(phone),
                value_index=vault.blind_index(phone),
            )
        )
        await db.commit()
        return person.id


async def make_case(
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    service_id: uuid.UUID,
    *,
    name: str = "Jordan Rivera",
    role: str = "client",
    assigned: uuid.UUID | None = None,
    conversation: bool = False,
) -> CaseUnderTest:
    phone = unique_phone()
    person_id = await add_person(sessions, vault, service_id, name, phone)
    ref = f"CASE-{secrets.token_hex(3).upper()}"
    async with sessions() as db:
        case = Case(service_id=service_id, external_ref=ref, assigned_staff_id=assigned)
        db.add(case)
        await db.flush()
        db.add(CaseParticipant(case_id=case.id, person_id=person_id, role=role))
        if conversation:
            db.add(
                Conversation(
                    service_id=service_id,
                    key=f"person:{person_id}",
                    person_id=person_id,
                    assigned_staff_id=assigned,
                    state="claimed" if assigned else "unclaimed",
                )
            )
        await db.commit()
        return CaseUnderTest(case.id, ref, person_id, phone)


async def add_participant(
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    case: CaseUnderTest,
    service_id: uuid.UUID,
    name: str,
    role: str,
) -> uuid.UUID:
    person_id = await add_person(sessions, vault, service_id, name, unique_phone())
    async with sessions() as db:
        db.add(CaseParticipant(case_id=case.case_id, person_id=person_id, role=role))
        await db.commit()
    return person_id
