"""Scheduled messages: the ones staff asked to go later, listed, cancelled and edited until they go.

A scheduled message is a notification still `created` with a `scheduled_for` (and `next_attempt_at`,
which the delivery job waits for). Both changes here are one guarded UPDATE on `status = 'created'`:
the delivery job claims a row with its own guarded UPDATE (`created` -> `sending`), so of an edit (or
a cancel) and a send that race, exactly one wins. A message being sent can no longer be edited or
cancelled, and the page says so.

* `cancel` moves it to `cancelled` through `gateway.transitions` (a final status, with its event).
* `edit` sets a new send time and, for a free-text message, a new text (rendered again through
  `prepare_notification`, so the same checks apply). The scheduler (`gateway.appointments.scheduler`)
  sends it when the new time comes; a job from before finds the row not yet due and waits again.

Who: the member of staff who wrote it, or a supervisor or admin of the service.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.conversations.thread import aware
from gateway.db import Conversation, Notification, NotificationEvent, Person
from gateway.db.base import utcnow
from gateway.domain import NotificationStatus
from gateway.transitions import transition_many

S = NotificationStatus


class TooLate(Exception):
    """It has gone (or is going) already: nothing was changed."""


@dataclass(frozen=True, slots=True)
class Scheduled:
    """One scheduled message as a list shows it (body opened only for the page)."""

    id: uuid.UUID
    send_at: datetime
    channel: str
    body: str
    to_name: str
    conversation_id: uuid.UUID | None
    author_id: uuid.UUID | None
    template_id: uuid.UUID


def pending() -> Any:
    return select(Notification).where(Notification.status == S.CREATED.value, Notification.scheduled_for.is_not(None))


async def for_staff(db: AsyncSession, service_id: uuid.UUID, staff_id: uuid.UUID, open_body: Any) -> list[Scheduled]:
    """What this member of staff has scheduled, soonest first, with the conversation of each."""
    rows = (
        await db.scalars(
            pending()
            .where(Notification.service_id == service_id, Notification.created_by_staff_id == staff_id)
            .order_by(Notification.scheduled_for, Notification.id)
            .limit(500)
        )
    ).all()
    people = {n.person_id for n in rows if n.person_id is not None}
    names: dict[uuid.UUID, str] = {}
    conversations: dict[uuid.UUID, uuid.UUID] = {}
    if people:
        for pid, name in await db.execute(select(Person.id, Person.display_name).where(Person.id.in_(people))):
            names[pid] = name
        found = await db.execute(
            select(Conversation.person_id, Conversation.id).where(
                Conversation.service_id == service_id, Conversation.person_id.in_(people)
            )
        )
        conversations = {pid: cid for pid, cid in found if pid is not None}
    return [_scheduled(n, open_body, names, conversations) for n in rows]


async def for_conversation(
    db: AsyncSession, conversation: Conversation, indexes: set[str], open_body: Any
) -> list[Scheduled]:
    owners: list[Any] = []
    if indexes:
        owners.append(Notification.recipient_index.in_(indexes))
    if conversation.person_id is not None:
        owners.append(Notification.person_id == conversation.person_id)
    if not owners:
        return []
    rows = (
        await db.scalars(
            pending()
            .where(Notification.service_id == conversation.service_id, or_(*owners))
            .order_by(Notification.scheduled_for, Notification.id)
        )
    ).all()
    return [_scheduled(n, open_body, {}, {}, conversation.id) for n in rows]


def _scheduled(
    n: Notification,
    open_body: Any,
    names: dict[uuid.UUID, str],
    conversations: dict[uuid.UUID, uuid.UUID],
    conversation_id: uuid.UUID | None = None,
) -> Scheduled:
    assert n.scheduled_for is not None
    person = n.person_id
    return Scheduled(
        n.id,
        aware(n.scheduled_for),
        n.channel,
        open_body(n.body_enc),
        names.get(person, "Unknown recipient") if person else "Unknown recipient",
        conversation_id or (conversations.get(person) if person else None),
        n.created_by_staff_id,
        n.template_id,
    )


async def get_pending(db: AsyncSession, service_id: uuid.UUID, notification_id: uuid.UUID) -> Notification | None:
    found: Notification | None = await db.scalar(
        pending().where(Notification.id == notification_id, Notification.service_id == service_id)
    )
    return found


async def cancel(db: AsyncSession, service_id: uuid.UUID, notification_id: uuid.UUID, actor: str) -> None:
    """`created` -> `cancelled` (one guarded transition), or TooLate. The caller commits."""
    moved = await transition_many(
        db,
        [
            Notification.id == notification_id,
            Notification.service_id == service_id,
            Notification.scheduled_for.is_not(None),
        ],
        expected=S.CREATED,
        to=S.CANCELLED,
        detail=f"scheduled message cancelled by {actor}",
        next_attempt_at=None,
    )
    if not moved:
        raise TooLate()


async def edit(
    db: AsyncSession,
    service_id: uuid.UUID,
    notification_id: uuid.UUID,
    actor: str,
    *,
    send_at: datetime,
    values: dict[str, Any] | None = None,
) -> None:
    """New send time (and new body/fragments from `values`) while still `created`, or TooLate."""
    rows = (
        await db.execute(
            update(Notification)
            .where(
                Notification.id == notification_id,
                Notification.service_id == service_id,
                Notification.status == S.CREATED.value,
                Notification.scheduled_for.is_not(None),
            )
            .values(scheduled_for=send_at, next_attempt_at=send_at, updated_at=utcnow(), **(values or {}))
            .returning(Notification.id)
            .execution_options(synchronize_session=False)
        )
    ).all()
    if not rows:
        raise TooLate()
    what = "text and send time" if values else "send time"
    await db.execute(
        insert(NotificationEvent).values(
            notification_id=notification_id, status=S.CREATED.value, at=utcnow(), detail=f"{what} edited by {actor}"
        )
    )
