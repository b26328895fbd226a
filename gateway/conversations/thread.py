"""A conversation's thread, a page at a time: inbound messages, notifications and number changes.

The page opens at the newest `PAGE` items; older ones load on demand by keyset: the cursor is the
oldest item shown, `<ISO time>|<id>`, and each source is asked for the `PAGE + 1` items before it
(`(at, id) < cursor`, newest first, over its time index), so a page costs the same however long
the thread is. `after` (the live script's "what is new") returns everything newer, unpaged.

Each item carries what the page says about it besides the text: who sent an outbound message (a
member of staff by name, an agency system, or the gateway on its own), when a scheduled one goes,
why it failed and what to do next (`gateway.conversations.failures`), and for an inbound keyword
the plain line of what it did (`gateway.conversations.lines`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.conversations.failures import Failure, explain
from gateway.conversations.lines import keyword_line
from gateway.crypto import Vault
from gateway.db import ContactPoint, Conversation, InboundMessage, Notification, StaffUser

PAGE = 30


def aware(value: datetime) -> datetime:
    """SQLite gives naive datetimes back (stored as UTC); PostgreSQL aware ones."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ThreadItem:
    """One message of a thread, either way. `status` only for outbound messages."""

    id: uuid.UUID
    direction: str  # "in" | "out" | "event" (a changed number)
    channel: str
    at: datetime
    body: str
    status: str | None
    author: str | None = None  # outbound: "Olive Officer", "an agency system", AUTOMATIC
    scheduled_for: datetime | None = None
    failure: Failure | None = None
    line: str | None = None  # inbound keyword: what it did, in plain words

    @property
    def cursor(self) -> str:
        return self.at.isoformat()

    @property
    def key(self) -> str:
        return f"{self.at.isoformat()}|{self.id}"

    @property
    def automatic(self) -> bool:
        return self.author == AUTOMATIC


AUTOMATIC = "the gateway, automatically"


@dataclass(frozen=True, slots=True)
class ThreadPage:
    items: list[ThreadItem]
    earlier: str | None = None  # the cursor for "Load earlier messages", when there are some
    newest_inbound: datetime | None = field(default=None)


def parse_cursor(raw: str | None) -> tuple[datetime, uuid.UUID] | None:
    """`<ISO time>|<uuid>`; ValueError for anything else."""
    if not raw:
        return None
    at_text, _, id_text = raw.partition("|")
    at = datetime.fromisoformat(at_text)
    return aware(at).astimezone(UTC), uuid.UUID(id_text)


def _before(at_column: Any, id_column: Any, cursor: tuple[datetime, uuid.UUID]) -> Any:
    at, item_id = cursor
    return or_(at_column < at, and_(at_column == at, id_column < item_id))


async def address_indexes(db: AsyncSession, conversation: Conversation) -> set[str]:
    """Blind indexes of the addresses this conversation's messages come from and go to."""
    found = set(
        (
            await db.scalars(
                select(InboundMessage.sender_index).where(InboundMessage.conversation_id == conversation.id).distinct()
            )
        ).all()
    )
    if conversation.sender_index:
        found.add(conversation.sender_index)
    if conversation.person_id is not None:
        found |= set(
            (
                await db.scalars(
                    select(ContactPoint.value_index).where(
                        ContactPoint.service_id == conversation.service_id,
                        ContactPoint.person_id == conversation.person_id,
                    )
                )
            ).all()
        )
    return found


async def load_thread(
    db: AsyncSession,
    vault: Vault,
    conversation: Conversation,
    *,
    name: str,
    after: datetime | None = None,
    before: tuple[datetime, uuid.UUID] | None = None,
    limit: int = PAGE,
) -> ThreadPage:
    """The newest `limit` items (before `before`), oldest first; or all items newer than `after`."""
    paged = after is None
    take = limit + 1 if paged else None
    inbound = select(InboundMessage).where(
        InboundMessage.service_id == conversation.service_id, InboundMessage.conversation_id == conversation.id
    )
    if after is not None:  # the live script asks for what is new on every event: let the database filter
        inbound = inbound.where(InboundMessage.received_at > after)
    if before is not None:
        inbound = inbound.where(_before(InboundMessage.received_at, InboundMessage.id, before))
    inbound = inbound.order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc()).limit(take)
    items = [_inbound_item(m, vault.open(m.body_enc), name) for m in (await db.scalars(inbound)).all()]
    owners: list[Any] = []
    indexes = await address_indexes(db, conversation)
    if indexes:
        owners.append(Notification.recipient_index.in_(indexes))
    if conversation.person_id is not None:
        owners.append(Notification.person_id == conversation.person_id)
    if owners:
        outbound = select(Notification).where(Notification.service_id == conversation.service_id, or_(*owners))
        if after is not None:
            outbound = outbound.where(Notification.created_at > after)
        if before is not None:
            outbound = outbound.where(_before(Notification.created_at, Notification.id, before))
        outbound = outbound.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(take)
        rows = (await db.scalars(outbound)).all()
        staff = await _staff_names(db, conversation.service_id, {n.created_by_staff_id for n in rows})
        items += [_outbound_item(n, vault.open(n.body_enc), staff) for n in rows]
    if conversation.person_id is not None:
        items += await number_changes(db, vault, conversation, after)
    items.sort(key=lambda item: (item.at, item.id), reverse=True)
    if before is not None:
        items = [i for i in items if (i.at, i.id) < before]
    earlier = None
    if paged and len(items) > limit:
        items = items[:limit]
        earlier = items[-1].key
    items.reverse()
    newest = max((i.at for i in items if i.direction == "in"), default=None)
    return ThreadPage(items, earlier, newest)


def _inbound_item(m: InboundMessage, body: str, name: str) -> ThreadItem:
    line = keyword_line(name, m.channel, body, m.decisions)
    return ThreadItem(m.id, "in", m.channel, aware(m.received_at), body, None, line=line)


def _outbound_item(n: Notification, body: str, staff: dict[uuid.UUID, str]) -> ThreadItem:
    if n.created_by_staff_id is not None:
        author = staff.get(n.created_by_staff_id, "a member of staff")
    elif n.api_key_id is not None:
        author = "an agency system"
    else:
        author = AUTOMATIC
    return ThreadItem(
        n.id,
        "out",
        n.channel,
        aware(n.created_at),
        body,
        n.status,
        author=author,
        scheduled_for=aware(n.scheduled_for) if n.scheduled_for else None,
        failure=explain(n.status, n.failure_reason, n.channel),
    )


async def _staff_names(db: AsyncSession, service_id: uuid.UUID, ids: set[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await db.execute(
        select(StaffUser.id, StaffUser.name).where(StaffUser.service_id == service_id, StaffUser.id.in_(wanted))
    )
    return {staff_id: staff_name for staff_id, staff_name in rows}


async def number_changes(
    db: AsyncSession, vault: Vault, conversation: Conversation, after: datetime | None
) -> list[ThreadItem]:
    """A "number changed" line in the thread for each of the person's numbers retired as changed.

    Names the last four digits only (the whole numbers are on the person's page)."""
    query = select(ContactPoint).where(
        ContactPoint.service_id == conversation.service_id,
        ContactPoint.person_id == conversation.person_id,
        ContactPoint.retired_reason == "changed",
        ContactPoint.retired_at.is_not(None),
    )
    if after is not None:
        query = query.where(ContactPoint.retired_at > after)
    items = []
    for point in (await db.scalars(query)).all():
        assert point.retired_at is not None
        digits = [c for c in vault.open(point.value_enc) if c.isdigit()]
        what = "Number" if point.kind == "phone" else "Email address"
        ending = f" ending {''.join(digits[-4:])}" if point.kind == "phone" and len(digits) >= 4 else ""
        body = f"{what} changed: the old one{ending} is kept, marked retired, and nothing more is sent to it."
        items.append(ThreadItem(point.id, "event", point.kind, aware(point.retired_at), body, None))
    return items
