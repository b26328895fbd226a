"""Just before an appointment's message is sent (`gateway.jobs.prepare`): read the appointment again.

`check_appointments` reads every appointment of a delivery batch in one query and says, for each
message:

* a reminder or new-time message (`reminder:*`, `moved:*`) whose appointment is cancelled or
  finished, has moved (its start is not the message's `send_before`), or has begun, is stale: it
  is `cancelled` with the reason, and nothing is sent. So a write path that forgot the hook, or a
  race with one, never sends a wrong time;
* an email reminder, new time, "on again" or cancellation gets the appointment's `.ics` invitation as it is now
  (`gateway.appointments.ics`); a missed follow-up or a reply's acknowledgment gets none.

`ask_questions` runs once the batch's rows are claimed, in the same transaction: each reminder and
new-time message asks "Reply C to confirm or R to reschedule" (`gateway.questions.expect_replies`),
so the newest message a client got is the one their reply answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.appointments import FINISHED
from gateway.appointments.ics import invitation
from gateway.appointments.planning import QUESTION_KIND, TIMED
from gateway.db import Appointment, Notification
from gateway.db.base import padded
from gateway.domain import Channel
from gateway.questions import Ask, expect_replies

CHOICES = {"C": "confirm", "R": "reschedule"}  # "SI" is a carrier keyword (Spanish opt-in): refused
CALENDAR_ALSO = "cancelled:"  # besides reminders and new times: a missed follow-up or an answer carries none
MISSING = "not sent: the appointment no longer exists"
MOVED = "not sent: the appointment has moved"
STARTED = "not sent: the appointment has begun"


def finished_reason(status: str) -> str:
    return f"not sent: the appointment is {status.replace('_', ' ')}"


@dataclass
class Checked:
    stale: dict[uuid.UUID, str] = field(default_factory=dict)  # notification id -> why it is not sent
    calendars: dict[uuid.UUID, str] = field(default_factory=dict)  # notification id -> .ics text


async def check_appointments(
    session: AsyncSession, messages: Sequence[tuple[Notification, str, str | None]], now: datetime
) -> Checked:
    """For each (notification, recipient, sender) about an appointment: stale, or its invitation. One query."""
    done = Checked()
    wanted = [(n, to, sender) for n, to, sender in messages if n.appointment_id is not None]
    if not wanted:
        return done
    found = {
        a.id: a
        for a in (
            await session.scalars(
                select(Appointment).where(Appointment.id.in_(padded({n.appointment_id for n, _, _ in wanted})))
            )
        ).all()
    }
    for n, to, sender in wanted:
        appointment = found.get(n.appointment_id)  # type: ignore[arg-type]
        timed = (n.appointment_step or "").startswith(TIMED)
        if timed:
            if appointment is None:
                done.stale[n.id] = MISSING
            elif appointment.status in FINISHED:
                done.stale[n.id] = finished_reason(appointment.status)
            elif appointment.starts_at != n.send_before:
                done.stale[n.id] = MOVED
            elif now >= appointment.starts_at:
                done.stale[n.id] = STARTED
        invites = timed or (n.appointment_step or "").startswith(CALENDAR_ALSO)
        if invites and n.id not in done.stale and appointment is not None and n.channel == Channel.EMAIL.value:
            done.calendars[n.id] = invitation(appointment, organizer=sender, attendee=to, now=now)
    return done


async def ask_questions(session: AsyncSession, claimed: Sequence[Notification]) -> int:
    """Open the "confirm or reschedule" question of each claimed reminder and new-time message."""
    asks = [
        Ask(
            service_id=n.service_id,
            person_id=n.person_id,
            kind=QUESTION_KIND,
            subject_id=str(n.appointment_id),
            case_id=n.case_id,
            notification_id=n.id,
            expires_at=n.send_before,
        )
        for n in claimed
        if n.appointment_id is not None and n.person_id is not None and (n.appointment_step or "").startswith(TIMED)
    ]
    return await expect_replies(session, asks, CHOICES)
