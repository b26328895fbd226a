"""The daily cutoff: at GATEWAY_LETTERS_CUTOFF (17:30 by default) on each service's clock, its letters go.

`batch_due_letters(ctx, now)` runs inside the sweeper (arq cron when scaled, the in-process timer when
embedded), so there is one scheduler and it is safe to run twice: a service whose clock has passed
today's cutoff and that has letters accepted before it, not yet in a batch, gets a batch of exactly
those; letters accepted after the cutoff wait for tomorrow's. Batches a crash left unfinished are
finished at the next tick. `gateway letters batch --now` cuts one by hand with everything accepted.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import select

from gateway.db import LetterBatch, LetterDocument, Notification, Service
from gateway.domain import Channel, NotificationStatus
from gateway.letters.batch import SENT, BatchReport, run_batch
from gateway.localtime import from_local, to_local

if TYPE_CHECKING:
    from gateway.jobs.context import JobContext

log = structlog.get_logger()


def todays_cutoff(now: datetime, zone_name: str, cutoff: str) -> datetime:
    """Today's cutoff on the service's clock, as UTC (a cutoff the clocks skip moves to the hour after)."""
    hour, minute = (int(part) for part in cutoff.split(":"))
    day = to_local(now, zone_name).date()
    try:
        return from_local(datetime.combine(day, time(hour, minute)), zone_name)
    except ValueError:
        return from_local(datetime.combine(day, time((hour + 1) % 24, minute)), zone_name)


async def services_with_letters(ctx: JobContext) -> dict[uuid.UUID, str]:
    """Services with an accepted letter in no batch, or a batch not finished: id -> time zone."""
    async with ctx["sessions"]() as session:
        waiting = (
            select(Notification.service_id)
            .join(LetterDocument, LetterDocument.notification_id == Notification.id)
            .where(
                Notification.channel == Channel.LETTER.value,
                Notification.status == NotificationStatus.ACCEPTED.value,
                LetterDocument.batch_id.is_(None),
            )
            .distinct()
        )
        unfinished = select(LetterBatch.service_id).where(LetterBatch.state != SENT).distinct()
        rows = await session.execute(
            select(Service.id, Service.timezone).where(Service.id.in_(waiting) | Service.id.in_(unfinished))
        )
        return {service_id: zone for service_id, zone in rows}


async def batch_due_letters(ctx: JobContext, now: datetime) -> list[BatchReport]:
    """Cut the batch of every service whose cutoff has passed (see the module docstring). Before today's
    cutoff, a service still gets letters left over from an earlier day's (the gateway was down then)."""
    reports: list[BatchReport] = []
    cutoff = ctx["settings"].letters_cutoff
    for service_id, zone in (await services_with_letters(ctx)).items():
        due = todays_cutoff(now, zone, cutoff)
        if now < due:
            due = todays_cutoff(now - timedelta(days=1), zone, cutoff)
        reports += await run_batch(ctx, service_id, now=now, accepted_before=due)
    if reports:
        log.info("letters.batches", batches=len(reports), letters=sum(r.letters for r in reports))
    return reports
