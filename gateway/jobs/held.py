"""Messages held while their provider fails: the database side of the circuit breaker (`gateway.jobs.breaker`).

A held message stays `created`, with the breaker it waits for in `held_for` and `next_attempt_at`
NULL: no job and no timer stands for it, so a backlog of any size costs nothing while it waits, and
the sweeper's "lost enqueue" look-up passes it by. `waiting_since` says since when it has waited for
a provider (its first provider-wide failure or hold); the sweeper fails what has waited longer than
GATEWAY_SENDING_TIMEOUT_SECONDS as `temporary-failure` (`expire_waiting`).

* `hold` (the delivery job, in its own transaction): these rows wait for `key`.
* `oldest_held` (the probe job): the message a probe sends, the sender's oldest held one.
* `release_next` (once the probe got through, and after each batch while the breaker drains): the
  next GATEWAY_DELIVERY_BATCH_SIZE held rows, oldest first, get `next_attempt_at` (they are now
  *released*: `held_for` still set, so a draining breaker lets them through while it holds newer
  messages behind them) and go to delivery as one batch. One batch at a time keeps the sender's
  acceptance order across batches.
* `held_senders` (the sweeper): which breakers have rows waiting, to probe or release them;
  `batch_out`: whether a released batch is still on its way (then the sweeper releases nothing: a
  second batch beside it would let two workers send them side by side, out of order).

Jobs stay safe to run twice: every write names the status (and hold) it expects.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import Notification
from gateway.db.base import padded, utcnow
from gateway.db.write_lock import write_lock
from gateway.domain import NotificationStatus
from gateway.transitions import NOTIFICATIONS, transition_many

if TYPE_CHECKING:
    from gateway.jobs.context import JobContext
    from gateway.jobs.queue import JobQueue

S = NotificationStatus
PROBE_SENDER = "probe_sender"


def breaker_key(provider: str, sender: str | None) -> str:
    """The breaker of one provider and sender, e.g. `twilio:+15005550006`."""
    return f"{provider}:{sender or ''}"


def _held(key: str) -> list[ColumnElement[bool]]:
    n = NOTIFICATIONS.c
    return [n.status == S.CREATED.value, n.held_for == key, n.next_attempt_at.is_(None)]


async def hold(session: AsyncSession, key: str, ids: Sequence[uuid.UUID], *, draining: bool = False) -> None:
    """Rows `ids` (still `created`) wait for breaker `key`. The caller commits. `draining`: a row released
    since the caller read it stays released (else the next batch would lose it to the back of the line)."""
    if not ids:
        return
    n = NOTIFICATIONS.c
    released = and_(n.held_for == key, n.next_attempt_at.is_not(None))
    await session.execute(
        update(NOTIFICATIONS)
        .where(n.id.in_(padded(ids)), n.status == S.CREATED.value, *([~released] if draining else []))
        .values(
            held_for=key,
            next_attempt_at=None,
            rate_slot_at=None,
            waiting_since=func.coalesce(n.waiting_since, utcnow()),
        )
    )


async def oldest_held(ctx: JobContext, key: str) -> uuid.UUID | None:
    async with ctx["sessions"]() as session:
        found = await session.scalar(
            select(NOTIFICATIONS.c.id).where(*_held(key)).order_by(NOTIFICATIONS.c.created_at).limit(1)
        )
    return found


async def release_next(ctx: JobContext, key: str, count: int) -> list[uuid.UUID]:
    """Release the `count` oldest rows held for `key` (oldest first); [] when none is held."""
    n = NOTIFICATIONS.c
    async with ctx["sessions"]() as session:
        ids = list((await session.scalars(select(n.id).where(*_held(key)).order_by(n.created_at).limit(count))).all())
    if not ids:
        return []
    async with write_lock(ctx["engine"]), ctx["sessions"]() as session:
        moved = set(
            (
                await session.scalars(
                    update(NOTIFICATIONS)
                    .where(n.id.in_(padded(ids)), *_held(key))
                    .values(next_attempt_at=utcnow())
                    .returning(n.id)
                )
            ).all()
        )
        await session.commit()
    return [i for i in ids if i in moved]


async def held_senders(session: AsyncSession) -> list[str]:
    """Every breaker that has rows held for it."""
    n = NOTIFICATIONS.c
    rows = await session.scalars(
        select(n.held_for)
        .where(n.status == S.CREATED.value, n.held_for.is_not(None), n.next_attempt_at.is_(None))
        .distinct()
    )
    return [key for key in rows.all() if key]


async def batch_out(session: AsyncSession, key: str, since: datetime) -> bool:
    """Whether a batch released for `key` since `since` is still on its way: waiting for a worker, or
    claimed and not yet taken by the provider. The sweeper then leaves the next release to it."""
    n = NOTIFICATIONS.c
    on_its_way = or_(n.status == S.CREATED.value, and_(n.status == S.SENDING.value, n.provider_ref.is_(None)))
    found = await session.scalar(select(n.id).where(n.held_for == key, n.next_attempt_at >= since, on_its_way).limit(1))
    return found is not None


async def held_counts(session: AsyncSession, service_id: uuid.UUID | None = None) -> list[tuple[str, int, object]]:
    """(breaker, messages held, waiting since) for each breaker with rows held (for `gateway notifications held`)."""
    n = NOTIFICATIONS.c
    query = (
        select(n.held_for, func.count(), func.min(n.waiting_since))
        .where(n.status == S.CREATED.value, n.held_for.is_not(None), n.next_attempt_at.is_(None))
        .group_by(n.held_for)
        .order_by(n.held_for)
    )
    if service_id is not None:
        query = query.where(n.service_id == service_id)
    return [(str(key), int(count), since) for key, count, since in (await session.execute(query)).all()]


async def schedule_probe(queue: JobQueue, key: str, probe_at_ms: int) -> None:
    """Enqueue the probe for `key` due at `probe_at_ms` (Unix ms). Its job id names that time, so every
    job that holds a message for the same pause asks for the same probe and only one is queued."""
    defer = max(0.0, probe_at_ms / 1000 - time.time())
    await queue.enqueue(PROBE_SENDER, key, job_id=f"probe:{key}:{probe_at_ms}", defer_by=defer)


async def expire_waiting(session: AsyncSession, timeout_seconds: int) -> list[tuple[uuid.UUID, uuid.UUID | None]]:
    """`created` rows that have waited for their provider longer than `timeout_seconds` become
    `temporary-failure`. The caller commits."""
    cutoff = utcnow() - timedelta(seconds=timeout_seconds)
    reason = f"not sent: the provider was unavailable for {timeout_seconds} s"
    return await transition_many(
        session,
        [Notification.waiting_since.is_not(None), Notification.waiting_since < cutoff],
        expected=S.CREATED,
        to=S.TEMPORARY_FAILURE,
        detail=reason,
        failure_reason=reason,
        held_for=None,
    )
