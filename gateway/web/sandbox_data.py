"""What the sandbox phone reads: the service's people with a phone, and one number's message thread.

The thread is the notifications the sandbox channel has sent to the number (provider `sandbox`
with a `sent_at`: a scheduled message appears when it goes, not when it was written; their sealed
bodies opened here, for the page only) and the messages received from it, newest first, each found by blind index within
the service.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.crypto import Vault
from gateway.db import CaseParticipant, ContactPoint, InboundMessage, Notification, Person
from gateway.domain import Channel, ContactKind, ParticipantRole

MAX_MESSAGES = 100


@dataclass(frozen=True)
class SandboxPerson:
    id: uuid.UUID
    name: str


@dataclass(frozen=True)
class PhoneMessage:
    direction: str  # "sent" (gateway to the phone) or "received" (the phone to the gateway)
    at: datetime
    body: str
    status: str
    provider: str | None


async def sandbox_people(db: AsyncSession, service_id: uuid.UUID, *, include_victims: bool) -> list[SandboxPerson]:
    """People of the service with a phone; victims only for staff allowed victim data."""
    query = (
        select(Person.id, Person.display_name)
        .join(ContactPoint, ContactPoint.person_id == Person.id)
        .where(Person.service_id == service_id, ContactPoint.kind == ContactKind.PHONE.value)
        .distinct()
        .order_by(Person.display_name)
    )
    if not include_victims:
        victims = select(CaseParticipant.person_id).where(CaseParticipant.role == ParticipantRole.VICTIM.value)
        query = query.where(Person.id.not_in(victims))
    return [SandboxPerson(row.id, row.display_name) for row in (await db.execute(query)).all()]


async def phone_of(db: AsyncSession, vault: Vault, service_id: uuid.UUID, person_id: uuid.UUID) -> str | None:
    sealed = await db.scalar(
        select(ContactPoint.value_enc)
        .where(
            ContactPoint.service_id == service_id,
            ContactPoint.person_id == person_id,
            ContactPoint.kind == ContactKind.PHONE.value,
            ContactPoint.retired_at.is_(None),  # the phone they have now, not a changed number
        )
        .order_by(ContactPoint.created_at)
        .limit(1)
    )
    return vault.open(sealed) if sealed else None


async def thread(db: AsyncSession, vault: Vault, service_id: uuid.UUID, number: str) -> list[PhoneMessage]:
    index = vault.blind_index(number)
    sent = (
        await db.scalars(
            select(Notification)
            .where(
                Notification.service_id == service_id,
                Notification.channel == Channel.SMS.value,
                Notification.recipient_index == index,
                # only what the sandbox channel has sent: a row still waiting (scheduled, deferred
                # by quiet hours, queued) has not reached the phone, and neither has a refused one
                Notification.provider == "sandbox",
                Notification.sent_at.is_not(None),
            )
            .order_by(Notification.sent_at.desc())
            .limit(MAX_MESSAGES)
        )
    ).all()
    received = (
        await db.scalars(
            select(InboundMessage)
            .where(
                InboundMessage.service_id == service_id,
                InboundMessage.channel == Channel.SMS.value,
                InboundMessage.sender_index == index,
            )
            .order_by(InboundMessage.received_at.desc())
            .limit(MAX_MESSAGES)
        )
    ).all()
    messages = [
        PhoneMessage("sent", n.sent_at or n.created_at, vault.open(n.body_enc), n.status, n.provider) for n in sent
    ]
    messages += [PhoneMessage("received", m.received_at, vault.open(m.body_enc), m.state, None) for m in received]
    messages.sort(key=lambda m: m.at, reverse=True)
    return messages[:MAX_MESSAGES]
