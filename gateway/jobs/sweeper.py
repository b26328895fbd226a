"""`sweep(ctx)`: find notifications that should have moved and move them. Nothing accepted is lost.

Run every GATEWAY_SWEEP_INTERVAL_SECONDS: by arq cron in scaled mode (one worker runs each tick), by
a timer of the in-process queue in embedded mode. Each run:

1. `sending` with no provider reference, claimed longer ago than the lease
   (GATEWAY_SENDING_LEASE_SECONDS, default job timeout + 30 s): the worker died mid-send (arq only
   runs a SIGKILLed job again after job_timeout + 10 s). Back to `created` and enqueued again, or
   `technical-failure` once GATEWAY_DELIVERY_MAX_ATTEMPTS claims have been used. The lost send may have
   reached the provider, so the row keeps `unsure_since` and the provider is asked first (`gateway.jobs.unsure`).
2. `sending` with a provider reference, sent longer ago than GATEWAY_SENDING_TIMEOUT_SECONDS: no
   delivery receipt came; `temporary-failure`, as Notify does. (`sent` — SMTP — is left alone.)
3. `created` and due (next_attempt_at, or created_at for a first try) for longer than
   GATEWAY_SWEEP_GRACE_SECONDS: the enqueue after commit was lost (Redis down, a process died
   between commit and enqueue, a queue restarted). Enqueued again, at most `BATCH` per run; a job
   id that is still queued is deduplicated, so sweeping a healthy backlog only costs a look-up.
   A broadcast's rows not yet handed out (no `next_attempt_at`) are its pump's, not the sweeper's.
   Rows held for a paused sender (`gateway.jobs.held`) are not enqueued here; instead:
4. Senders with held rows: a paused one (open, probing) gets its probe job again (deduplicated by its
   job id), a recovered one (draining, or closed after its breaker's state was lost) its next batch —
   unless a batch released within the job timeout is still on its way (`batch_out`): that batch's job
   releases the next when it is done, and a second batch beside it would go out of order.
5. `created` rows that have waited for their provider longer than GATEWAY_SENDING_TIMEOUT_SECONDS:
   `temporary-failure` ("the provider was unavailable"), as a message without a receipt does.
6. Inbound messages left `received` past the same grace: `gateway.inbound.jobs.sweep_inbound`.
7. Letters: each service's print batch once its daily cutoff has passed (`gateway.letters.schedule`).
8. Staff daily digests of unanswered replies, once GATEWAY_DIGEST_TIME has passed on each service's
   clock (`gateway.alerts.digest`).
9. Broadcasts whose pump stopped ticking (a worker died): a new pump chain (`gateway.broadcasts.pump`);
   broadcasts whose writer stopped part-way: a job that finishes the writing (`gateway.broadcasts.takeover`).
10. Victim notices: escalation of unacknowledged ones, lost fan-outs, call retries, statement
   reminders (`gateway.victims.escalate`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import and_, func, or_, select

from gateway.alerts.digest import send_due_digests
from gateway.broadcasts.pump import restart_lost_pumps
from gateway.broadcasts.takeover import resume_lost_writes
from gateway.db import Notification
from gateway.db.base import utcnow
from gateway.domain import NotificationStatus
from gateway.inbound.jobs import sweep_inbound
from gateway.jobs.breaker import BreakerState
from gateway.jobs.delivery import enqueue_deliveries, resume_sender
from gateway.jobs.held import batch_out, expire_waiting, held_senders, schedule_probe
from gateway.jobs.receipts import after_status_changes
from gateway.letters.schedule import batch_due_letters
from gateway.transitions import transition_many
from gateway.victims.escalate import sweep_victims

if TYPE_CHECKING:
    from gateway.jobs.context import JobContext

log = structlog.get_logger()
S = NotificationStatus
BATCH = 1000
ACTOR = "gateway:sweeper"


async def sweep(ctx: JobContext) -> str:
    settings, sessions = ctx["settings"], ctx["sessions"]
    now = utcnow()
    lease_cutoff = now - timedelta(seconds=settings.sending_lease)
    lost = [
        Notification.provider_ref.is_(None),
        Notification.claimed_at < lease_cutoff,
    ]
    max_attempts = settings.delivery_max_attempts
    receipt_cutoff = now - timedelta(seconds=settings.sending_timeout_seconds)
    due_cutoff = now - timedelta(seconds=settings.sweep_grace_seconds)
    async with sessions() as session:
        released = await transition_many(
            session,
            [*lost, Notification.attempts < max_attempts],
            expected=S.SENDING,
            to=S.CREATED,
            detail="claim expired (worker lost); sending again",
            next_attempt_at=now,
            unsure_since=func.coalesce(Notification.unsure_since, Notification.claimed_at),  # gateway.jobs.unsure
        )
        reason = f"no outcome after {max_attempts} attempts (workers lost)"
        abandoned = await transition_many(
            session,
            [*lost, Notification.attempts >= max_attempts],
            expected=S.SENDING,
            to=S.TECHNICAL_FAILURE,
            detail=reason,
            failure_reason=reason,
        )
        timeout = f"no delivery receipt within {settings.sending_timeout_seconds} s"
        timed_out = await transition_many(
            session,
            [Notification.provider_ref.is_not(None), Notification.sent_at < receipt_cutoff],
            expected=S.SENDING,
            to=S.TEMPORARY_FAILURE,
            detail=timeout,
            failure_reason=timeout,
        )
        due = (
            await session.scalars(
                select(Notification.id)
                .where(
                    Notification.status == S.CREATED.value,
                    or_(
                        Notification.next_attempt_at <= due_cutoff,
                        and_(
                            Notification.next_attempt_at.is_(None),
                            Notification.created_at <= due_cutoff,
                            Notification.held_for.is_(None),
                            Notification.broadcast_id.is_(None),  # its broadcast's pump hands it out, paced
                        ),
                    ),
                )
                .order_by(Notification.created_at)
                .limit(BATCH)
            )
        ).all()
        expired = await expire_waiting(session, settings.sending_timeout_seconds)
        paused = await held_senders(session)
        await session.commit()
    # Final statuses set here get what every final status gets: record entry, live push, service receipt.
    for status, rows in ((S.TECHNICAL_FAILURE, abandoned), (S.TEMPORARY_FAILURE, timed_out + expired)):
        if rows:
            async with sessions() as session:
                finished = (
                    await session.scalars(select(Notification).where(Notification.id.in_([r[0] for r in rows])))
                ).all()
            await after_status_changes(ctx, [(n, status) for n in finished], record=True, actor=ACTOR)
    requeue = [nid for nid, _ in released] + [nid for nid in due if nid not in {r for r, _ in released}]
    await enqueue_deliveries(ctx["queue"], requeue)
    breakers = {b.key: b for b in await ctx["breaker"].status()}
    for key in paused:
        found = breakers.get(key)
        if found is not None and found.state in (BreakerState.OPEN, BreakerState.PROBING):
            await schedule_probe(ctx["queue"], key, found.probe_at_ms)
            continue
        async with sessions() as session:  # a batch on its way releases the next itself, when it is done
            out = await batch_out(session, key, utcnow() - timedelta(seconds=settings.job_timeout_seconds))
        if not out:
            await resume_sender(ctx, key)
    pumps = await restart_lost_pumps(ctx)  # broadcasts whose pump stopped ticking (gateway.broadcasts.pump)
    writes = await resume_lost_writes(ctx)  # broadcasts whose writer stopped part-way (gateway.broadcasts.takeover)
    inbound = await sweep_inbound(dict(ctx))  # inbound messages left `received` (gateway.inbound.jobs)
    letters = await batch_due_letters(ctx, now)  # the daily print batch at each service's cutoff
    digests = await send_due_digests(ctx, now)  # staff digests of unanswered replies, at each service's time
    victims = await sweep_victims(ctx)  # victim notices: escalation, lost fan-outs, calls, statement reminders
    summary = (
        f"requeued={len(requeue)} released={len(released)} abandoned={len(abandoned)} timed_out={len(timed_out)}"
        f" expired={len(expired)} paused_senders={len(paused)} inbound={inbound} digests={len(digests)}"
        f" letter_batches={len(letters)} broadcast_pumps={pumps} broadcast_writes={writes} {victims}"
    )
    if requeue or abandoned or timed_out or expired:
        log.info(
            "sweep",
            requeued=len(requeue),
            released=len(released),
            abandoned=len(abandoned),
            timed_out=len(timed_out),
            expired=len(expired),
        )
    return summary
