"""Test data for the officer's-day browser tests: a client with a case, a conversation and a reply."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.db import Case, Person
from tests.web.cases import set_service, unique_phone
from tests.web.chat import add_conversation, add_person


@dataclass(frozen=True)
class ClientUnderTest:
    person_id: uuid.UUID
    case_id: uuid.UUID
    ref: str
    conversation_id: uuid.UUID
    phone: str


async def client_with_reply(
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    service_id: uuid.UUID,
    officer_id: uuid.UUID,
    *,
    name: str = "Jordan Rivera",
    first_name: str = "Jordan",
    language: str = "en",
    ref: str = "CR-7001",
    reply: str = "Can I come on Thursday instead?",
) -> ClientUnderTest:
    phone = unique_phone()
    person_id = await add_person(sessions, vault, service_id, name, phone, case_ref=ref, officer_id=officer_id)
    async with sessions() as db:
        await db.execute(update(Person).where(Person.id == person_id).values(first_name=first_name, language=language))
        case_id = await db.scalar(select(Case.id).where(Case.external_ref == ref, Case.service_id == service_id))
        await db.commit()
    assert case_id is not None
    await set_service(sessions, service_id, contact_text="Questions? Call the office on (202) 555-0142, 9 to 5.")
    conversation = await add_conversation(
        sessions, vault, service_id, phone, reply, person_id=person_id, assigned_staff_id=officer_id, case_id=case_id
    )
    return ClientUnderTest(person_id, case_id, ref, conversation.id, phone)
