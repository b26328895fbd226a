"""Test data for the inbox and conversation pages: people, cases and conversations, written directly.

`add_conversation` files one inbound message in a conversation the way the handler chain does
(sealed sender and body, blind index, unread count), so page tests need no worker.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.db import Case, CaseParticipant, ContactPoint, Conversation, InboundMessage, Person, Service
from gateway.db.base import utcnow

SMS_FROM = "+15005550006"


@dataclass(frozen=True)
class ConversationUnderTest:
    id: uuid.UUID
    inbound_id: uuid.UUID
    person_id: uuid.UUID | None


async def set_sms_sender(sessions: async_sessionmaker[AsyncSession], service_id: uuid.UUID, **values: object) -> None:
    async with sessions() as db:
        await db.execute(update(Service).where(Service.id == service_id).values(**{"sms_sender": SMS_FROM, **values}))
        await db.commit()


async def add_person(
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    service_id: uuid.UUID,
    name: str,
    phone: str | None = None,
    *,
    case_ref: str | None = None,
    role: str = "client",
    officer_id: uuid.UUID | None = None,
) -> uuid.UUID:
    async with sessions() as db:
        person = Person(service_id=service_id, display_name=name)
        db.add(person)
        await db.flush()
        if phone:
            db.add(
                ContactPoint(
                    service_id=service_id,
                    person_id=person.id,
                    kind="phone",
                    value_enc=vault.seal(phone),
                    value_index=vault.blind_index(phone),
                )
            )
        if case_ref:
            case = Case(service_id=service_id, external_ref=case_ref, assigned_staff_id=officer_id)
            db.add(case)
            await db.flush()
            db.add(CaseParticipant(case_id=case.id, person_id=person.id, role=role))
        await db.commit()
        return person.id


async def add_conversation(
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    service_id: uuid.UUID,
    phone: str,
    body: str,
    *,
    person_id: uuid.UUID | None = None,
    assigned_staff_id: uuid.UUID | None = None,
    case_id: uuid.UUID | None = None,
) -> ConversationUnderTest:
    index = vault.blind_index(phone)
    now = utcnow()
    async with sessions() as db:
        conversation = Conversation(
            service_id=service_id,
            key=f"person:{person_id}" if person_id else f"sender:sms:{index}",
            person_id=person_id,
            channel=None if person_id else "sms",
            sender_index=None if person_id else index,
            assigned_staff_id=assigned_staff_id,
            case_id=case_id,
            state="claimed" if assigned_staff_id else "unclaimed",
            unread_count=1,
            last_message_at=now,
        )
        db.add(conversation)
        await db.flush()
        inbound = InboundMessage(
            service_id=service_id,
            channel="sms",
            provider_id=f"SM{uuid.uuid4().hex}",
            sender_enc=vault.seal(phone),
            sender_index=index,
            recipient=SMS_FROM,
            body_enc=vault.seal(body),
            person_id=person_id,
            state="processed",
            conversation_id=conversation.id,
            received_at=now,
        )
        db.add(inbound)
        await db.flush()
        conversation.last_inbound_id = inbound.id
        await db.commit()
        return ConversationUnderTest(conversation.id, inbound.id, person_id)
