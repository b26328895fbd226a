"""Pause, resume, cancel and retry a broadcast that is sending (or scheduled).

* **Cancel** stops new sends at once: one transaction sets the broadcast `cancelled` and moves every
  row already handed to delivery but not yet claimed (`next_attempt_at` set) to `cancelled`, so no job
  can claim it (a claim is a conditional UPDATE from `created`); sends already claimed finish. The
  rows never handed out — nobody will send them now, the pump having stopped — are then cancelled in
  chunks, each with its status event like any other change.
* **Pause** stops the pump handing out more (what is queued still goes, at most a window); **resume**
  starts a new pump chain.
* **Retry** sends again to the recipients whose message failed for a reason a retry can help
  (`temporary-failure`, `technical-failure`; never `permanent-failure`: opted out, a bad number): a
  new notification each, in the same broadcast, handed out by the pump like the first ones.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.api.intake import insert_notifications
from gateway.broadcasts.lifecycle import CANCELLABLE, B, NotNow
from gateway.broadcasts.pump import start_pump
from gateway.db import Broadcast, Notification
from gateway.db.base import new_id, utcnow
from gateway.domain import NotificationStatus
from gateway.jobs.queue import JobQueue
from gateway.transitions import NOTIFICATIONS, transition_many

S = NotificationStatus
REASON = "broadcast cancelled"
CHUNK = 5000
RETRYABLE = (S.TEMPORARY_FAILURE.value, S.TECHNICAL_FAILURE.value)
COPIED = [
    "service_id",
    "api_key_id",
    "key_type",
    "channel",
    "template_id",
    "template_version",
    "reference",
    "recipient_enc",
    "recipient_index",
    "subject_enc",
    "body_enc",
    "sender",
    "fragments",
    "postage",
    "person_id",
    "case_id",
    "broadcast_id",
    "created_by_staff_id",
    "one_click_unsubscribe",
    "automatic",
    "send_before",
    "quiet_override",
]


async def _move(db: AsyncSession, bid: uuid.UUID, service_id: uuid.UUID, frm: tuple[str, ...], **values: Any) -> bool:
    moved = await db.execute(
        update(Broadcast)
        .where(Broadcast.id == bid, Broadcast.service_id == service_id, Broadcast.status.in_(frm))
        .values(updated_at=utcnow(), **values)
    )
    return bool(moved.rowcount)  # type: ignore[attr-defined]


async def cancel(sessions: async_sessionmaker[AsyncSession], bid: uuid.UUID, service_id: uuid.UUID, actor: str) -> int:
    """Cancel; how many notifications were cancelled. NotNow when it has finished or was cancelled."""
    mine = Notification.broadcast_id == bid
    async with sessions() as db:
        if not await _move(
            db, bid, service_id, CANCELLABLE, status=B.CANCELLED.value, cancelled_at=utcnow(), cancelled_by=actor
        ):
            raise NotNow("This broadcast has finished or was already cancelled.")
        first = await transition_many(
            db,
            [mine, Notification.next_attempt_at.is_not(None)],
            expected=S.CREATED,
            to=S.CANCELLED,
            detail=REASON,
            failure_reason=REASON,
        )
        await db.commit()
    total = len(first)
    while True:
        async with sessions() as db:
            chunk = select(Notification.id).where(mine, Notification.status == S.CREATED.value).limit(CHUNK)
            moved = await transition_many(
                db,
                [Notification.id.in_(chunk.scalar_subquery())],
                expected=S.CREATED,
                to=S.CANCELLED,
                detail=REASON,
                failure_reason=REASON,
            )
            await db.commit()
        total += len(moved)
        if not moved:
            return total


async def pause(sessions: async_sessionmaker[AsyncSession], bid: uuid.UUID, service_id: uuid.UUID) -> None:
    async with sessions() as db:
        if not await _move(db, bid, service_id, (B.SENDING.value, B.SCHEDULED.value), status=B.PAUSED.value):
            raise NotNow("Only a broadcast that is sending or scheduled can be paused.")
        await db.commit()


async def resume(
    sessions: async_sessionmaker[AsyncSession], queue: JobQueue, bid: uuid.UUID, service_id: uuid.UUID
) -> None:
    token = secrets.token_hex(8)
    async with sessions() as db:
        if not await _move(db, bid, service_id, (B.PAUSED.value,), status=B.SENDING.value, pump_token=token):
            raise NotNow("Only a paused broadcast can be resumed.")
        await db.commit()
    await start_pump(queue, bid, token)


async def retry_failed(
    sessions: async_sessionmaker[AsyncSession], queue: JobQueue, bid: uuid.UUID, service_id: uuid.UUID
) -> int:
    """A new notification for each recipient whose message failed for a reason a retry can help; how many."""
    token = secrets.token_hex(8)
    async with sessions() as db:
        broadcast = await db.get(Broadcast, bid)
        if broadcast is None or broadcast.service_id != service_id:
            raise NotNow("No such broadcast.")
        if broadcast.status != B.FINISHED.value:
            raise NotNow("A broadcast can be retried once it has finished.")
        failed = (
            await db.execute(
                select(*(NOTIFICATIONS.c[c] for c in COPIED)).where(
                    Notification.broadcast_id == bid, Notification.status.in_(RETRYABLE)
                )
            )
        ).all()
        if not failed:
            raise NotNow("No recipient's message failed for a reason a retry can help.")
        now = utcnow()
        rows = [
            dict(zip(COPIED, r, strict=True))
            | {"id": new_id(), "status": S.CREATED.value, "attempts": 0, "created_at": now, "updated_at": now}
            for r in failed
        ]
        conn = await db.connection()
        for at in range(0, len(rows), 1000):
            await insert_notifications(conn, rows[at : at + 1000])
        await _move(
            db, bid, service_id, (B.FINISHED.value,), status=B.SENDING.value, pump_token=token, finished_at=None
        )
        await db.commit()
    await start_pump(queue, bid, token)
    return len(rows)
