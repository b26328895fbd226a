"""Cancelling a letter: allowed until its print batch is cut, never after.

One guarded transition (`created` or `accepted` -> `cancelled`) for a letter of the caller's service
that is in no batch. The batch marks its letters with the same kind of transition
(`accepted` -> `received`), so of a cancel and a batch that race, exactly one moves the letter.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import select

from gateway.db import LetterDocument, Notification
from gateway.db.write_lock import write_lock
from gateway.domain import Channel, NotificationStatus
from gateway.jobs.receipts import after_status_changes
from gateway.transitions import transition_many

if TYPE_CHECKING:
    from gateway.jobs.context import JobContext

S = NotificationStatus


async def cancel_letter(ctx: JobContext, service_id: uuid.UUID, notification_id: uuid.UUID, actor: str) -> bool:
    """Cancel the letter if it may still be cancelled; False when it is in a batch, gone or final."""
    in_batch = select(LetterDocument.notification_id).where(LetterDocument.batch_id.is_not(None))
    where = [
        Notification.id == notification_id,
        Notification.service_id == service_id,
        Notification.channel == Channel.LETTER.value,
        Notification.id.not_in(in_batch),
    ]
    moved = []
    async with write_lock(ctx["engine"]), ctx["sessions"]() as session:
        for expected in (S.ACCEPTED, S.CREATED):
            moved += await transition_many(session, where, expected=expected, to=S.CANCELLED, detail=f"by {actor}")
        await session.commit()
        found = (await session.scalars(select(Notification).where(Notification.id == notification_id))).first()
    if not moved or found is None:
        return False
    await after_status_changes(ctx, [(found, S.CANCELLED)], record=True, actor=actor)
    return True
