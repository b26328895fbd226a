"""The pump: hands a sending broadcast's recipients to the delivery path a bounded window at a time.

A broadcast's notifications are written `created` with no `next_attempt_at`: nothing sends them yet
(the sweeper leaves such rows to their broadcast). The pump job (`broadcast_pump`, one chain per
broadcast) runs every TICK seconds and each time:

1. stops if the broadcast is not `sending` (paused, cancelled, finished), or waits for its time;
2. counts the rows it handed out that are not sent yet: due within a few seconds and not claimed (in
   the queue), or claimed and not yet taken by the provider (in a job);
3. hands out more — per channel at most its sender's rate x TICK (so all workers together keep to the
   rate), and never more than the window (GATEWAY_BROADCAST_WINDOW, less what is still queued): one
   UPDATE marks them due now (`next_attempt_at`), then `deliver_batch` jobs of
   GATEWAY_DELIVERY_BATCH_SIZE ids are enqueued. A row the delivery path gave back because quiet hours
   hold it (`quiet_until`, `gateway.jobs.prepare`) is handed out again once that time has passed, so
   a pause or a cancel reaches it, and the morning's texts go at the sender's pace;
4. publishes the progress counts to the service's live hub (on the first tick of each second, and
   whenever it hands out nothing), and runs again after TICK.

So the job queue holds at most a window of a broadcast's messages at any time, and a priority job
waits behind no more than that. When no row is left to hand out and the writer has written the last
(`written_at`), the broadcast is `finished` (rows still in flight finish through the delivery path;
progress keeps counting them). While the writer is still at work the chain keeps ticking.

**One chain.** Each run claims the broadcast's tick with a conditional UPDATE on its `pump_token`: a
second chain (the sweeper restarting one it thought lost, an arq retry after a worker died) finds the
token is not its own and stops — unless the owner's last tick (`pumped_at`) is STALE seconds old, when
it takes over. So a killed worker's broadcast resumes where its rows are: handed rows left `created`
are re-enqueued by the sweeper like any lost row, claimed ones come back after their lease.
"""

from __future__ import annotations

import math
import secrets
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import and_, func, or_, select, update

from gateway.broadcasts.lifecycle import B
from gateway.broadcasts.progress import counts
from gateway.db import Broadcast, Notification, Service
from gateway.db.base import utcnow
from gateway.domain import Channel, NotificationStatus
from gateway.jobs.delivery import enqueue_delivery_batches
from gateway.sendtime import policy

if TYPE_CHECKING:
    from gateway.jobs.context import JobContext
    from gateway.jobs.queue import JobQueue

log = structlog.get_logger()
PUMP = "broadcast_pump"
TICK = 0.25
STALE = timedelta(seconds=10)
QUEUED_HORIZON = timedelta(seconds=5)
S = NotificationStatus


async def start_pump(queue: JobQueue, broadcast_id: uuid.UUID, token: str, *, defer_by: float | None = None) -> None:
    await queue.enqueue(
        PUMP, str(broadcast_id), token, job_id=f"broadcast-pump:{broadcast_id}:{token}", defer_by=defer_by
    )


async def pump_broadcast(ctx: JobContext, broadcast_id: str, token: str) -> str:
    """One tick of a broadcast's pump; see the module docstring."""
    bid = uuid.UUID(broadcast_id)
    settings, now = ctx["settings"], ctx["clock"].now()
    wall = utcnow()
    async with ctx["sessions"]() as db:
        claimed = await db.execute(
            update(Broadcast)
            .where(
                Broadcast.id == bid,
                Broadcast.status.in_((B.SENDING.value, B.SCHEDULED.value)),
                or_(Broadcast.pump_token == token, Broadcast.pump_token.is_(None), Broadcast.pumped_at < wall - STALE),
            )
            .values(pump_token=token, pumped_at=wall)
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            await db.rollback()
            return "not this chain's, or not sending"
        row = (
            await db.execute(
                select(
                    Broadcast.status,
                    Broadcast.scheduled_for,
                    Broadcast.service_id,
                    Broadcast.written_at,
                    Service.sms_per_second,
                )
                .join(Service, Service.id == Broadcast.service_id)
                .where(Broadcast.id == bid)
            )
        ).one()
        status, scheduled_for, service_id, written_at, sms_per_second = row
        writing = written_at is None  # its writer is still adding recipients (gateway.broadcasts.write)
        if scheduled_for is not None and scheduled_for > now:
            # not yet: the sweeper starts a chain once it is due (`restart_lost_pumps`), not a poll until then
            await db.commit()
            return "scheduled"
        if status == B.SCHEDULED.value:
            await db.execute(
                update(Broadcast).where(Broadcast.id == bid).values(status=B.SENDING.value, started_at=now)
            )
        mine = [Notification.broadcast_id == bid, Notification.status == S.CREATED.value]
        # not handed out, and not held by quiet hours past now (`gateway.jobs.prepare._quiet_hours`)
        ready = [
            *mine,
            Notification.next_attempt_at.is_(None),
            or_(Notification.quiet_until.is_(None), Notification.quiet_until <= now),
        ]
        queued = await db.scalar(  # handed out and not sent yet: waiting in the queue, or claimed mid-send
            select(func.count()).where(
                Notification.broadcast_id == bid,
                or_(
                    and_(
                        Notification.status == S.CREATED.value,
                        Notification.next_attempt_at.is_not(None),
                        Notification.next_attempt_at <= wall + QUEUED_HORIZON,
                    ),
                    and_(Notification.status == S.SENDING.value, Notification.provider_ref.is_(None)),
                ),
            )
        )
        room = settings.broadcast_window - int(queued or 0)
        handed: list[uuid.UUID] = []
        left = 0
        for channel in (Channel.SMS, Channel.EMAIL):
            rate = policy.sender_rate(settings, channel, sms_per_second) or settings.broadcast_window
            take = min(room - len(handed), max(1, math.ceil(rate * TICK)))
            if take <= 0:
                break
            ids = (
                await db.scalars(
                    select(Notification.id)
                    .where(*ready, Notification.channel == channel.value)
                    .order_by(Notification.id)
                    .limit(take)
                )
            ).all()
            if ids:
                moved = await db.execute(
                    update(Notification)
                    .where(Notification.id.in_(ids), Notification.status == S.CREATED.value)
                    .where(Notification.next_attempt_at.is_(None))
                    .values(next_attempt_at=wall)  # due now by the time claims are checked against
                    .returning(Notification.id)
                    .execution_options(synchronize_session=False)
                )
                handed += [r[0] for r in moved]
        if not handed:
            left = int(await db.scalar(select(func.count()).where(*ready)) or 0)
            waiting = int(await db.scalar(select(func.count()).where(*mine)) or 0)
            if not left and not waiting and not writing:
                await db.execute(
                    update(Broadcast)
                    .where(Broadcast.id == bid, Broadcast.status == B.SENDING.value)
                    .values(status=B.FINISHED.value, finished_at=now, updated_at=wall)
                )
        await db.commit()
    if handed:
        await enqueue_delivery_batches(ctx["queue"], handed, settings.delivery_batch_size)
    if not handed or _first_tick_of_a_second(wall.timestamp()):  # the page's figures: about once a second
        await publish_progress(ctx, service_id, bid)
    if handed or left or writing:
        await _again(ctx["queue"], bid, token, TICK)
    # Otherwise every row is handed out or held by quiet hours: retries go by the delivery path on their
    # own, and held rows wait for their window here. The chain ends rather than polling for hours; the
    # sweeper's `restart_lost_pumps` ticks it again once STALE has passed (every sweep: the held rows go
    # within a sweep of their window opening), and that tick finishes the broadcast when none is left.
    return f"handed={len(handed)} queued={queued}"


def _first_tick_of_a_second(at: float) -> bool:
    """Whether this tick is the first in its wall-clock second: counting a big broadcast's rows by status
    four times a second cost PostgreSQL more than the page needs (it also polls every 2 s)."""
    return math.floor(at) != math.floor(at - TICK)


async def _again(queue: JobQueue, bid: uuid.UUID, token: str, delay: float) -> None:
    """The chain's next tick (a fresh job id: this one is still running)."""
    await queue.enqueue(PUMP, str(bid), token, job_id=f"broadcast-pump:{bid}:{secrets.token_hex(6)}", defer_by=delay)


async def publish_progress(ctx: JobContext | dict[str, Any], service_id: uuid.UUID, bid: uuid.UUID) -> None:
    async with ctx["sessions"]() as db:
        figures = await counts(db, bid)
    await ctx["live"].publish(service_id, {"type": "broadcast", "broadcast_id": str(bid), **figures})


async def restart_lost_pumps(ctx: JobContext) -> int:
    """For the sweeper: a fresh chain for each sending or due scheduled broadcast whose pump has not
    ticked for STALE (its worker died, or its job was lost). The stale chain, if it wakes, stops."""
    wall, now = utcnow(), ctx["clock"].now()
    async with ctx["sessions"]() as db:
        ids = (
            await db.scalars(
                select(Broadcast.id).where(
                    or_(
                        # started: its recipients are written (a send claimed but still writing is not)
                        and_(Broadcast.status == B.SENDING.value, Broadcast.started_at.is_not(None)),
                        and_(Broadcast.status == B.SCHEDULED.value, Broadcast.scheduled_for <= now),
                    ),
                    or_(Broadcast.pumped_at.is_(None), Broadcast.pumped_at < wall - STALE),
                )
            )
        ).all()
    for bid in ids:
        await start_pump(ctx["queue"], bid, secrets.token_hex(8))
    return len(ids)
