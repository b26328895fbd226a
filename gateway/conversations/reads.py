"""Read state per member of staff (`conversation_reads`): unread is mine, not everyone's.

A member of staff has read a conversation through a time (`read_through`): the inbound messages
received after it are their unread ones. Nothing read yet means every inbound message is unread.

When is something read?

* Opening the conversation page marks it read through the newest inbound message the page shows
  (taken in the same transaction as the thread), for that member of staff only. A message that
  arrives while the page renders is after that time, so it stays unread.
* A reply that arrives while the page is open is appended live, and stays unread until the page
  says it was seen: `static/live.js` POSTs `/conversations/{id}/read` with the time of the newest
  inbound message on the page, only while the page is visible and focused (`document.visibilityState`
  and `document.hasFocus()`), and otherwise as soon as it becomes so. A page left open in a
  background tab therefore leaves new replies unread, in the inbox and on the caseload.
* `read_through` only moves forward, and never past now (a page cannot mark the future read).

The counts (`unread_for`) are one correlated count per conversation, over the inbound index
`(conversation_id, received_at)`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from sqlalchemy import Table, case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from gateway.db import Conversation, ConversationRead, InboundMessage
from gateway.db.base import utcnow


def unread_for(staff_id: uuid.UUID) -> ColumnElement[int]:
    """A scalar subquery of a query over `Conversation`: how many inbound messages of each conversation
    this member of staff has not read."""
    message = aliased(InboundMessage)  # the outer query may join InboundMessage itself
    read = (
        select(ConversationRead.read_through)
        .where(ConversationRead.staff_id == staff_id, ConversationRead.conversation_id == Conversation.id)
        .correlate(Conversation)
        .scalar_subquery()
    )
    return (
        select(func.count(message.id))
        .where(message.conversation_id == Conversation.id, (message.received_at > read) | (read.is_(None)))
        .correlate(Conversation)
        .scalar_subquery()
    )


async def newest_inbound(db: AsyncSession, conversation_id: uuid.UUID) -> datetime | None:
    at: datetime | None = await db.scalar(
        select(func.max(InboundMessage.received_at)).where(InboundMessage.conversation_id == conversation_id)
    )
    return at


async def mark_read(db: AsyncSession, staff_id: uuid.UUID, conversation_id: uuid.UUID, through: datetime) -> None:
    """Read through `through` (never backwards, never past now). The caller commits."""
    through = min(through, utcnow())
    table = cast(Table, ConversationRead.__table__)
    values = {"staff_id": staff_id, "conversation_id": conversation_id, "read_through": through, "updated_at": utcnow()}
    dialect = (await db.connection()).dialect.name
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    stmt = insert.values(**values)
    later = case(
        (stmt.excluded.read_through > table.c.read_through, stmt.excluded.read_through),
        else_=table.c.read_through,
    )
    await db.execute(
        stmt.on_conflict_do_update(
            index_elements=[table.c.staff_id, table.c.conversation_id],
            set_={"read_through": later, "updated_at": stmt.excluded.updated_at},
        )
    )


async def mark_read_now(db: AsyncSession, staff_id: uuid.UUID, conversation_id: uuid.UUID) -> None:
    """Read through the newest inbound message there is (opening the page)."""
    newest = await newest_inbound(db, conversation_id)
    if newest is not None:
        await mark_read(db, staff_id, conversation_id, newest)


async def forget_reads(db: AsyncSession, conversation_id: uuid.UUID) -> None:
    """Before a conversation is deleted (joined into another): its read rows go with it."""
    await db.execute(delete(ConversationRead).where(ConversationRead.conversation_id == conversation_id))
