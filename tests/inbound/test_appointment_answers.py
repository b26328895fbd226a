"""Answers to appointment reminders through the real inbound path (signed Twilio webhook -> handler chain):
"C" confirms the appointment, "R" asks to reschedule (officer task, the client told once), and an answer
after the appointment was cancelled changes nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from gateway.appointments import Change
from gateway.appointments.sendcheck import ask_questions
from gateway.db import Appointment, Notification, OpenQuestion
from gateway.db.base import utcnow
from tests.appointments.plans_setup import Client, add_appointment, add_client, change_appointment, messages_of
from tests.inbound.conftest import Gateway


async def reminded(gw: Gateway) -> tuple[Client, uuid.UUID]:
    """A client with an appointment in three days whose first reminder has gone (its question is open:
    `ask_questions` is what the delivery job runs when it claims the reminder)."""
    client = await add_client(gw.sessions, gw.vault, gw.service.id)
    now = utcnow()
    appointment_id = await add_appointment(gw.sessions, gw.vault, client, now + timedelta(days=3), now=now)
    [reminder] = await messages_of(gw.sessions, appointment_id)
    async with gw.sessions() as session:
        assert await ask_questions(session, [reminder]) == 1
        await session.commit()
    return client, appointment_id


async def appointment(gw: Gateway, appointment_id: uuid.UUID) -> Appointment:
    async with gw.sessions() as session:
        found = await session.get(Appointment, appointment_id)
    assert found is not None
    return found


async def test_c_confirms_the_appointment_and_says_so_in_the_case_record(gw: Gateway) -> None:
    client, appointment_id = await reminded(gw)

    await gw.text(client.phone or "", "c")
    await gw.settle()

    assert (await appointment(gw, appointment_id)).status == "confirmed"
    [message] = await gw.inbound()
    answers = next(d for d in message.decisions if d["handler"] == "answers")
    assert answers["decision"].endswith(f"appointment {appointment_id} confirmed")
    summaries = [e.summary for e in await gw.record(client.case_id)]
    assert any(s.startswith("Client confirmed the appointment on ") for s in summaries)
    [conversation] = await gw.conversations()  # the reply still reaches the officer's inbox
    assert conversation.unread_count == 1


async def test_r_asks_to_reschedule_tasks_the_officer_and_tells_the_client_once(gw: Gateway) -> None:
    client, appointment_id = await reminded(gw)

    await gw.text(client.phone or "", "R")
    await gw.settle()

    assert (await appointment(gw, appointment_id)).status == "reschedule_requested"
    messages = await messages_of(gw.sessions, appointment_id)
    [ack] = [m for m in messages if m.appointment_step == "reschedule:0"]
    assert gw.vault.open(ack.recipient_enc) == client.phone and ack.automatic
    assert "Your officer knows you asked to reschedule your office visit" in gw.vault.open(ack.body_enc)
    async with gw.sessions() as session:
        alerts = (
            await session.scalars(
                select(Notification).where(Notification.service_id == gw.service.id, Notification.channel == "email")
            )
        ).all()
    [alert] = [a for a in alerts if gw.vault.open(a.recipient_enc) == client.staff_email]
    assert "asked to reschedule" in (gw.vault.open_optional(alert.subject_enc) or "")
    summaries = [e.summary for e in await gw.record(client.case_id)]
    assert any(s.startswith("Client asked to reschedule the appointment on ") for s in summaries)
    assert "Officer task: the client asked to reschedule their appointment; Olive Officer alerted by email" in summaries

    # asked again on a later reminder and answered R again: no second acknowledgment
    async with gw.sessions() as session:
        await ask_questions(session, [next(m for m in messages if m.appointment_step == "reminder:1d")])
        await session.commit()
    await gw.text(client.phone or "", "r")
    await gw.settle()
    assert len([m for m in await messages_of(gw.sessions, appointment_id) if m.appointment_step == "reschedule:0"]) == 1


async def test_cancelling_withdraws_the_question_so_a_late_answer_changes_nothing(gw: Gateway) -> None:
    client, appointment_id = await reminded(gw)
    await change_appointment(gw.sessions, gw.vault, appointment_id, Change.CANCELLED, now=utcnow(), status="cancelled")
    async with gw.sessions() as session:
        [question] = (
            await session.scalars(select(OpenQuestion).where(OpenQuestion.subject_id == str(appointment_id)))
        ).all()
    assert question.state == "withdrawn"

    await gw.text(client.phone or "", "C")
    await gw.settle()

    assert (await appointment(gw, appointment_id)).status == "cancelled"
    [message] = await gw.inbound()
    answers = next(d for d in message.decisions if d["handler"] == "answers")
    assert answers["decision"] == "no open question"
