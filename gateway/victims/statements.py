"""Victim impact statements: the invitation (the `vis_deadline` event's notice), reminders, receipt.

A `vis_deadline` event tells each victim following the case of their right to make a statement and
its deadline (the notice itself, acknowledged like any other). `invite` writes a `VictimStatement`
per notice with its reminders planned `REMINDER_DAYS` before the deadline (end of that day on the
VSU's clock). The sweeper calls `send_due_reminders`: each due reminder is an informational notice
(`vis_reminder`, no acknowledgment asked) on the victim's first channel that works, then the next
reminder is planned. Staff recording "statement received" (`record_received`) stops them.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import OffenderEvent, Service, VictimNotice, VictimStatement
from gateway.db.write_lock import write_lock
from gateway.localtime import day_start

if TYPE_CHECKING:
    from gateway.jobs.context import JobContext

REMINDER_DAYS = (7, 2)
BATCH = 500


def deadline_at(day: date, zone_name: str) -> datetime:
    """The end of the deadline day on the unit's clock."""
    return day_start(day + timedelta(days=1), zone_name)


def next_reminder(deadline: datetime, sent: int, now: datetime) -> datetime | None:
    """The next reminder still ahead (`sent` already gone), or None."""
    for days in REMINDER_DAYS[sent:]:
        at = deadline - timedelta(days=days)
        if at > now:
            return at
    return None


async def invite(session: AsyncSession, event: OffenderEvent, notices: list[VictimNotice], now: datetime) -> None:
    """A statement row per invited victim (their notice is the invitation)."""
    day = date.fromisoformat(str(event.details["deadline"]))
    zones: dict[uuid.UUID, str] = {}
    for notice in notices:
        if notice.service_id not in zones:
            service = await session.get(Service, notice.service_id)
            zones[notice.service_id] = service.timezone if service is not None else "UTC"
        deadline = deadline_at(day, zones[notice.service_id])
        skipped = sum(1 for days in REMINDER_DAYS if deadline - timedelta(days=days) <= now)
        session.add(
            VictimStatement(
                service_id=notice.service_id,
                registration_id=notice.registration_id,
                event_id=event.id,
                case_id=notice.case_id,
                deadline=deadline,
                reminders_sent=skipped,
                next_reminder_at=next_reminder(deadline, skipped, now),
                created_at=now,
            )
        )


async def record_received(
    session: AsyncSession, service_id: uuid.UUID, statement_id: int, by: str, now: datetime
) -> bool:
    """Staff: the statement came in; no more reminders. False if already recorded or not this unit's."""
    result = await session.execute(
        update(VictimStatement)
        .where(
            VictimStatement.id == statement_id,
            VictimStatement.service_id == service_id,
            VictimStatement.received_at.is_(None),
        )
        .values(received_at=now, received_by=by[:255], next_reminder_at=None)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def send_due_reminders(ctx: JobContext, now: datetime) -> int:
    """Send the reminders that are due (sweeper); returns how many notices were written."""
    from gateway.victims.fanout import dispatch
    from gateway.victims.sending import Outgoing, Sender

    out = Outgoing()
    async with write_lock(ctx["engine"]), ctx["sessions"]() as session:
        due = (
            await session.scalars(
                select(VictimStatement)
                .where(VictimStatement.received_at.is_(None), VictimStatement.next_reminder_at <= now)
                .order_by(VictimStatement.next_reminder_at)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
        ).all()
        notices: list[VictimNotice] = []
        for statement in due:
            invitation = await session.scalar(
                select(VictimNotice).where(
                    VictimNotice.event_id == statement.event_id,
                    VictimNotice.registration_id == statement.registration_id,
                )
            )
            statement.reminders_sent += 1
            statement.next_reminder_at = next_reminder(statement.deadline, statement.reminders_sent, now)
            if invitation is None:
                continue
            # a reminder asks nothing: no call, and a letter goes first class
            plan = list(
                dict.fromkeys("letter" if c.startswith("letter") else c for c in invitation.plan if c != "voice")
            )
            notices.append(
                VictimNotice(
                    id=uuid.uuid4(),
                    service_id=statement.service_id,
                    event_id=None,
                    registration_id=statement.registration_id,
                    person_id=invitation.person_id,
                    case_id=statement.case_id,
                    kind="vis_reminder",
                    urgent=False,
                    language=invitation.language,
                    personalisation=dict(invitation.personalisation),
                    plan=plan,
                    step=0,
                    state="info",
                    created_at=now,
                    updated_at=now,
                )
            )
        session.add_all(notices)
        await session.flush()
        if notices:
            out = await Sender(session, ctx["vault"], ctx["settings"], now).send_steps(notices)
        await session.commit()
    await dispatch(ctx, out)
    return len(notices)
