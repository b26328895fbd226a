"""Escalation, run by the sweeper: notices not acknowledged in time go to the victim's next channel.

`sweep_victims(ctx)` each sweep, on the clock of the job context (`ctx["clock"]`, so tests move a
ManualClock instead of waiting a day):

1. Events left without `fanned_out_at` longer than GATEWAY_SWEEP_GRACE_SECONDS (a lost fan-out job):
   the fan-out is enqueued again (its job id deduplicates; the fan-out itself is safe to repeat).
2. Open notices past `due_at`: one whose text question was answered meanwhile is acknowledged (a
   reply is never missed, even if the handler's step was lost); every other one moves to its next
   step (`gateway.victims.sending`), ending with a certified letter. Reaching the letter step, or
   running out of steps (no address), alerts the unit's staff (`gateway.victims.alerts`).
3. Calls waiting for their next attempt (`gateway.victims.voice`).
4. Victim impact statement reminders that are due (`gateway.victims.statements`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from gateway.db import OffenderEvent, OpenQuestion, VictimNotice, VictimNoticeStep
from gateway.db.base import utcnow
from gateway.db.write_lock import write_lock
from gateway.victims.acknowledge import acknowledge
from gateway.victims.events import FAN_OUT, fan_out_job_id
from gateway.victims.fanout import dispatch
from gateway.victims.sending import Outgoing, Sender
from gateway.victims.statements import send_due_reminders
from gateway.victims.voice import requeue_due_calls

if TYPE_CHECKING:
    from gateway.jobs.context import JobContext

BATCH = 500


async def sweep_victims(ctx: JobContext) -> str:
    now = ctx["clock"].now()
    grace = utcnow() - timedelta(seconds=ctx["settings"].sweep_grace_seconds)
    async with ctx["sessions"]() as session:
        lost = (
            await session.scalars(
                select(OffenderEvent.id)
                .where(OffenderEvent.fanned_out_at.is_(None), OffenderEvent.received_at <= grace)
                .limit(BATCH)
            )
        ).all()
    for event_id in lost:
        await ctx["queue"].enqueue(FAN_OUT, str(event_id), job_id=fan_out_job_id(event_id), priority=True)
    escalated, acknowledged = await escalate_due(ctx)
    calls = await requeue_due_calls(ctx, now)
    reminders = await send_due_reminders(ctx, now)
    return (
        f"victims: fan_outs={len(lost)} escalated={escalated} acknowledged={acknowledged}"
        f" calls={calls} reminders={reminders}"
    )


async def escalate_due(ctx: JobContext) -> tuple[int, int]:
    """Move every open notice past its window one step on; (escalated, found acknowledged)."""
    now = ctx["clock"].now()
    out = Outgoing()
    acknowledged = 0
    async with write_lock(ctx["engine"]), ctx["sessions"]() as session:
        due = (
            await session.scalars(
                select(VictimNotice)
                .where(VictimNotice.state == "open", VictimNotice.due_at <= now)
                .order_by(VictimNotice.due_at)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
        ).all()
        moving: list[VictimNotice] = []
        for notice in due:
            answered = await session.scalar(
                select(OpenQuestion.id)
                .join(VictimNoticeStep, VictimNoticeStep.question_id == OpenQuestion.id)
                .where(VictimNoticeStep.notice_id == notice.id, OpenQuestion.state == "answered")
                .limit(1)
            )
            if answered is not None:
                acknowledged += await acknowledge(session, notice.id, via="sms-reply", by="victim", now=now)
                continue
            notice.step += 1
            moving.append(notice)
        if moving:
            out = await Sender(session, ctx["vault"], ctx["settings"], now).send_steps(moving)
        await session.commit()
    await dispatch(ctx, out)
    return len(moving), acknowledged
