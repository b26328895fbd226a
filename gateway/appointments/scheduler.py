"""`send_due_scheduled(ctx)`: hand every scheduled message that has fallen due to delivery.

Reminders and messages staff schedule in the composer are notifications in `created` with a
`scheduled_for` (and `next_attempt_at`, the same time). Every GATEWAY_SCHEDULER_INTERVAL_SECONDS
(60: an arq cron at second 0 of each minute when scaled, one run per tick however many workers; the
in-process queue's timer when embedded) this job reads the due ones by time on the partial index
`ix_notifications_scheduled`, on the job context's clock, and enqueues them as `deliver_batch` jobs of
GATEWAY_DELIVERY_BATCH_SIZE. A row deferred by quiet hours or a rate slot (`next_attempt_at` later)
or held for a paused provider waits for that instead.

Safe to run twice, or in two workers at once: the batches come out the same (oldest first, by id)
and their job ids (`deliver-batch:{first id}`) deduplicate while queued; beyond that, the delivery
job claims each row with a conditional UPDATE, so a row handed twice is sent once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import and_, or_, select

from gateway.db import Notification
from gateway.domain import NotificationStatus
from gateway.jobs.delivery import enqueue_delivery_batches

if TYPE_CHECKING:
    from gateway.jobs.context import JobContext

log = structlog.get_logger()
SEND_DUE = "send_due_scheduled"
PAGE = 5000


async def due_scheduled(
    ctx: JobContext, after: tuple[datetime, uuid.UUID] | None = None, limit: int = PAGE
) -> list[tuple[datetime, uuid.UUID]]:
    """(scheduled_for, id) of due scheduled rows, oldest first, after the cursor `after`."""
    now = ctx["clock"].now()
    stmt = (
        select(Notification.scheduled_for, Notification.id)
        .where(
            Notification.status == NotificationStatus.CREATED.value,
            Notification.scheduled_for.is_not(None),
            Notification.scheduled_for <= now,
            or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
            Notification.held_for.is_(None),
        )
        .order_by(Notification.scheduled_for, Notification.id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(
            or_(
                Notification.scheduled_for > after[0],
                and_(Notification.scheduled_for == after[0], Notification.id > after[1]),
            )
        )
    async with ctx["sessions"]() as session:
        return [(when, nid) for when, nid in (await session.execute(stmt)).all() if when is not None]


async def send_due_scheduled(ctx: JobContext) -> str:
    """Enqueue delivery for every due scheduled message; returns "due=N"."""
    size = ctx["settings"].delivery_batch_size
    total, cursor = 0, None
    while True:
        page = await due_scheduled(ctx, cursor)
        if not page:
            break
        await enqueue_delivery_batches(ctx["queue"], [nid for _, nid in page], size)
        total += len(page)
        if len(page) < PAGE:
            break
        cursor = page[-1]
    if total:
        log.info("scheduler.due", count=total)
    return f"due={total}"
