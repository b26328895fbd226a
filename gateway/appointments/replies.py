"""What a client's answer to a reminder does to the appointment (called by `handlers.answers`).

A reminder or new-time message asks "Reply C to confirm or R to reschedule" (an open question of
kind "appointment" about the appointment, `gateway.appointments.sendcheck`). When the `answers`
handler resolves one, `appointment_answered` runs in the handler chain's transaction:

* **confirm** (C): the appointment becomes `confirmed`, and its case record says so.
* **reschedule** (R): it becomes `reschedule_requested`; the officer gets a task
  (`gateway.appointments.tasks`: the status on "My appointments", the reply in their inbox, a
  case-record line and an email), and the client is told the officer will be in touch
  (`appointment_reschedule_ack`, once per appointment time).

An answer about an appointment that has since been cancelled, moved or finished changes nothing
(moving or cancelling withdraws the question, so this is a race at most).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.api.intake import insert_notifications
from gateway.appointments import FINISHED, AppointmentStatus
from gateway.appointments.notices import (
    RESCHEDULE_ACK,
    Templates,
    message_row,
    reach_people,
    say_when,
)
from gateway.appointments.planning import ACTOR
from gateway.appointments.tasks import OfficerTask, officer_alert_rows
from gateway.crypto import Vault
from gateway.db import Appointment, Notification, OpenQuestion, Service
from gateway.db.base import utcnow
from gateway.domain import RecordKind
from gateway.record import append_in_session, append_many

CONFIRM = "confirm"
RESCHEDULE = "reschedule"


@dataclass
class Answered:
    """One line for the decision, and the notifications to deliver after the commit."""

    decision: str
    send_now: list[uuid.UUID] = field(default_factory=list)


async def appointment_answered(session: AsyncSession, vault: Vault, question: OpenQuestion) -> Answered:
    try:
        appointment_id = uuid.UUID(question.subject_id or "")
    except ValueError:
        return Answered("the question names no appointment")
    appointment = await session.get(Appointment, appointment_id, with_for_update=True)
    if appointment is None or appointment.service_id != question.service_id:
        return Answered("the appointment no longer exists")
    if appointment.status in FINISHED:
        return Answered(f"appointment {appointment.id} is {appointment.status}; nothing changed")
    now = utcnow()
    when = say_when(appointment.starts_at, appointment.time_zone, "en")
    data = {"appointment_id": str(appointment.id), "question_id": str(question.id)}
    if question.answer_value == CONFIRM:
        appointment.status, appointment.status_at, appointment.updated_at = AppointmentStatus.CONFIRMED.value, now, now
        summary = f"Client confirmed the appointment on {when}"
        await _record(session, appointment, summary, data, question)
        return Answered(f"appointment {appointment.id} confirmed")
    if question.answer_value != RESCHEDULE:
        return Answered(f"answer {question.answer_value!r} is not one the appointment knows")
    appointment.status, appointment.status_at, appointment.updated_at = (
        AppointmentStatus.RESCHEDULE_REQUESTED.value,
        now,
        now,
    )
    await _record(session, appointment, f"Client asked to reschedule the appointment on {when}", data, question)
    task = OfficerTask(
        appointment, "asked to reschedule their appointment", "Please contact the client to agree a new time."
    )
    rows, entries = await officer_alert_rows(session, vault, [task])
    step = f"reschedule:{appointment.sequence}"
    told = await session.scalar(
        select(Notification.id).where(
            Notification.appointment_id == appointment.id, Notification.appointment_step == step
        )
    )
    decision = f"appointment {appointment.id}: reschedule requested; officer task"
    if told is None:
        ack = await _acknowledgement(session, vault, appointment, step)
        if isinstance(ack, str):
            decision += f"; client not told: {ack}"
        else:
            rows.append(ack)
            decision += f"; client told the officer will be in touch (notification {ack['id']})"
    if rows:
        for row in rows:
            for name in ("appointment_id", "appointment_step", "scheduled_for", "next_attempt_at"):
                row.setdefault(name, None)
        await insert_notifications(await session.connection(), rows)
    await append_many(session, entries)
    return Answered(decision, [r["id"] for r in rows])


async def _record(
    session: AsyncSession, appointment: Appointment, summary: str, data: dict[str, str], question: OpenQuestion
) -> None:
    await append_in_session(
        session, appointment.case_id, RecordKind.HANDLER, ACTOR, summary, data, inbound_id=question.inbound_id
    )


async def _acknowledgement(
    session: AsyncSession, vault: Vault, appointment: Appointment, step: str
) -> dict[str, Any] | str:
    reach = (await reach_people(session, vault, [appointment.person_id])).get(appointment.person_id)
    service = await session.get(Service, appointment.service_id)
    templates = await Templates.load(session, [appointment.service_id], (RESCHEDULE_ACK,))
    return message_row(vault, appointment, service, reach, templates, RESCHEDULE_ACK, step, None, None)
