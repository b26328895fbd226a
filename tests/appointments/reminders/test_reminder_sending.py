"""Reminders falling due on a ManualClock: the scheduler hands them to delivery (in-process and arq), quiet
hours on the client's clock defer or drop them, the appointment is read again before sending, an email
carries its .ics through the real SMTP server, and two arq workers send each reminder once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from icalendar import Calendar
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.appointments import Change
from gateway.appointments.scheduler import due_scheduled, send_due_scheduled
from gateway.crypto import Vault
from gateway.db import Appointment, Notification, OpenQuestion
from gateway.domain import NotificationStatus
from gateway.jobs.delivery import deliver, enqueue_deliveries
from gateway.localtime import from_local
from gateway.sendtime.quiet_hours import QUIET_TOO_LATE
from tests.appointments.plans_setup import Client, add_appointment, add_client, change_appointment, messages_of
from tests.appointments.reminders.conftest import START, ClockedHarness
from tests.factories import ServiceUnderTest
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio_server import FakeTwilio

S = NotificationStatus
CHICAGO = "America/Chicago"


def chicago(text: str) -> datetime:
    return from_local(datetime.fromisoformat(text), CHICAGO)


def sent_to(twilio: FakeTwilio, client: Client) -> list[str]:
    return [m.body for m in twilio.messages if m.to == client.phone]


async def due_now(h: ClockedHarness, when: datetime) -> None:
    """Move the clock, run the scheduler once and the queue until it is idle."""
    h.clock.set(when)
    await send_due_scheduled(h.ctx)
    await h.run()


async def test_a_reminder_goes_when_it_falls_due_and_asks_its_question(
    clocked: ClockedHarness,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    sender_service: ServiceUnderTest,
    fake_twilio: tuple[FakeTwilio, str],
) -> None:
    twilio = fake_twilio[0]
    client = await add_client(sessions, vault, sender_service.id)
    visit = await add_appointment(sessions, vault, client, chicago("2021-01-06T10:30"), now=START)
    [reminder] = await messages_of(sessions, visit)

    await due_now(clocked, chicago("2021-01-05T10:29"))
    assert sent_to(twilio, client) == []
    await due_now(clocked, chicago("2021-01-05T10:30"))

    [body] = sent_to(twilio, client)
    assert "office visit is on Wednesday 6 January 2021 at 10:30 am CST" in body
    [sent] = await messages_of(sessions, visit)
    assert sent.status == S.SENDING
    async with sessions() as session:
        [question] = (await session.scalars(select(OpenQuestion).where(OpenQuestion.subject_id == str(visit)))).all()
    assert (question.kind, question.state, question.notification_id) == ("appointment", "open", reminder.id)
    assert question.choices == {"C": "confirm", "R": "reschedule"}
    assert question.expires_at == chicago("2021-01-06T10:30")

    await due_now(clocked, chicago("2021-01-05T10:31"))  # the next minute's run finds nothing more
    assert len(sent_to(twilio, client)) == 1


async def test_a_reminder_due_in_quiet_hours_waits_for_eight_on_the_clients_clock(
    clocked: ClockedHarness, sessions: async_sessionmaker[AsyncSession], vault: Vault, sender_service: ServiceUnderTest
) -> None:
    # the person's own zone (New York) wins over the number's (Chicago) and the service's (UTC)
    client = await add_client(sessions, vault, sender_service.id, timezone="America/New_York")
    early = chicago("2021-01-06T06:30")  # 07:30 in New York; the day before at 06:30 CST is 07:30 EST: quiet
    visit = await add_appointment(sessions, vault, client, early, now=START)
    [reminder] = await messages_of(sessions, visit)
    assert reminder.scheduled_for == datetime(2021, 1, 5, 12, 30, tzinfo=UTC)

    clocked.clock.set(reminder.scheduled_for)
    [verdict] = await deliver(clocked.ctx, [reminder.id])
    assert verdict.outcome == "quiet hours"
    [held] = await messages_of(sessions, visit)
    assert (held.status, held.next_attempt_at) == (S.CREATED, datetime(2021, 1, 5, 13, 0, tzinfo=UTC))  # 08:00 EST

    clocked.clock.set(datetime(2021, 1, 5, 13, 0, tzinfo=UTC))
    [verdict] = await deliver(clocked.ctx, [reminder.id])
    assert verdict.outcome == "sending"


async def test_a_reminder_that_quiet_hours_would_push_past_the_appointment_is_not_sent(
    clocked: ClockedHarness, sessions: async_sessionmaker[AsyncSession], vault: Vault, sender_service: ServiceUnderTest
) -> None:
    client = await add_client(sessions, vault, sender_service.id)  # a Chicago number, no zone of their own
    interview = await add_appointment(
        sessions, vault, client, chicago("2021-01-06T07:30"), now=START, kind="job_interview"
    )
    two_hours = next(m for m in await messages_of(sessions, interview) if m.appointment_step == "reminder:2h")

    clocked.clock.set(two_hours.scheduled_for)  # 05:30 in Chicago; the window opens at 08:00, after the interview
    [verdict] = await deliver(clocked.ctx, [two_hours.id])

    assert verdict.outcome == str(S.CANCELLED)
    async with sessions() as session:
        row = await session.get(Notification, two_hours.id)
    assert row is not None and (row.status, row.failure_reason) == (S.CANCELLED, QUIET_TOO_LATE)


async def test_a_stale_reminder_is_not_sent(
    clocked: ClockedHarness,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    sender_service: ServiceUnderTest,
    fake_twilio: tuple[FakeTwilio, str],
) -> None:
    client = await add_client(sessions, vault, sender_service.id)
    cancelled = await add_appointment(sessions, vault, client, chicago("2021-01-07T10:00"), now=START)
    moved = await add_appointment(sessions, vault, client, chicago("2021-01-07T11:00"), now=START)
    # written by a path that did not call the hook: the reminders still stand in the database
    await change_appointment(sessions, vault, cancelled, Change.CANCELLED, now=START, hook=False, status="cancelled")
    await change_appointment(
        sessions, vault, moved, Change.MOVED, now=START, hook=False, starts_at=chicago("2021-01-09T11:00")
    )

    await due_now(clocked, chicago("2021-01-06T11:00"))

    assert sent_to(fake_twilio[0], client) == []
    [a] = await messages_of(sessions, cancelled)
    [b] = await messages_of(sessions, moved)
    assert (a.status, a.failure_reason) == (S.CANCELLED, "not sent: the appointment is cancelled")
    assert (b.status, b.failure_reason) == (S.CANCELLED, "not sent: the appointment has moved")


async def test_email_reminders_carry_an_ics_that_a_cancellation_replaces(
    clocked: ClockedHarness,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    sender_service: ServiceUnderTest,
    smtp: FakeSmtpServer,
) -> None:
    client = await add_client(sessions, vault, sender_service.id, email="casey@example.org", preferred=("email",))
    hearing = await add_appointment(
        sessions, vault, client, chicago("2021-01-20T09:00"), now=START, kind="court_hearing", location="Courtroom 4B"
    )
    await due_now(clocked, chicago("2021-01-13T09:00"))  # the 7-day reminder
    [mail] = [m for m in smtp.messages if m.rcpt_tos == ["casey@example.org"]]
    request = _calendar(mail.message)
    assert request["method"] == "REQUEST"
    event = request.walk("VEVENT")[0]
    assert str(event["uid"]) == f"{hearing}@appointments.gateway" and int(event["sequence"]) == 0
    assert event.decoded("dtstart") == chicago("2021-01-20T09:00") and str(event["location"]) == "Courtroom 4B"

    clocked.clock.set(chicago("2021-01-14T10:00"))
    moved_to = chicago("2021-01-21T13:30")
    send_now = await change_appointment(
        sessions, vault, hearing, Change.MOVED, now=clocked.clock.now(), starts_at=moved_to
    )
    await deliver_now(clocked, send_now)
    [_, new_time] = [m for m in smtp.messages if m.rcpt_tos == ["casey@example.org"]]
    update = _calendar(new_time.message)
    event = update.walk("VEVENT")[0]
    assert update["method"] == "REQUEST" and str(event["uid"]) == f"{hearing}@appointments.gateway"
    assert int(event["sequence"]) == 1 and event.decoded("dtstart") == moved_to

    send_now = await change_appointment(
        sessions, vault, hearing, Change.CANCELLED, now=clocked.clock.now(), status="cancelled"
    )
    await deliver_now(clocked, send_now)

    [_, _, cancel] = [m for m in smtp.messages if m.rcpt_tos == ["casey@example.org"]]
    cancelled = _calendar(cancel.message)
    assert cancelled["method"] == "CANCEL"
    event = cancelled.walk("VEVENT")[0]
    assert str(event["uid"]) == f"{hearing}@appointments.gateway" and int(event["sequence"]) == 2
    assert str(event["status"]) == "CANCELLED"
    assert cancel.message["Subject"] == "Cancelled: your appointment on Thursday 21 January 2021"


async def deliver_now(h: ClockedHarness, ids: list[uuid.UUID]) -> None:
    """What a write path does after commit with the hook's ids."""
    await enqueue_deliveries(h.ctx["queue"], ids)
    await h.run()


def _calendar(message: object) -> Calendar:
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]  # type: ignore[attr-defined]
    assert len(parts) == 1 and parts[0].get_param("method") in ("REQUEST", "CANCEL")
    calendar = Calendar.from_ical(parts[0].get_content())
    assert parts[0].get_param("method") == calendar["method"]
    return calendar


async def test_two_workers_and_two_scheduler_runs_send_each_reminder_once(
    clocked: ClockedHarness,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    sender_service: ServiceUnderTest,
    fake_twilio: tuple[FakeTwilio, str],
) -> None:
    twilio = fake_twilio[0]
    clients = [await add_client(sessions, vault, sender_service.id) for _ in range(12)]
    assert len({c.phone for c in clients}) == 12  # one phone each, so a second send would show
    starts = chicago("2021-01-08T12:00")
    for client in clients:
        await add_appointment(sessions, vault, client, starts, now=START)
        await add_appointment(sessions, vault, client, starts + timedelta(minutes=30), now=START)
    async with sessions() as session:  # let the sender go fast enough for 24 at once
        from gateway.db import Service

        await session.execute(update(Service).where(Service.id == sender_service.id).values(sms_per_second=1000))
        await session.commit()

    clocked.clock.set(chicago("2021-01-07T12:30"))
    # two scheduler runs at once (two workers' crons on the same tick), then two workers on the queue
    await asyncio.gather(send_due_scheduled(clocked.ctx), send_due_scheduled(clocked.ctx))
    # and each row handed once more by a job of its own (other job ids: no deduplication by arq), so
    # two jobs race for every row and only the delivery job's claim keeps it to one send
    due = [nid for _, nid in await due_scheduled(clocked.ctx, limit=10_000)]
    await enqueue_deliveries(clocked.ctx["queue"], due)
    await clocked.run(workers=2)
    await send_due_scheduled(clocked.ctx)  # and a late third run
    await clocked.run(workers=2)

    for client in clients:
        bodies = sent_to(twilio, client)
        assert sorted(b.split(" at ")[1][:8] for b in bodies) == ["12:00 pm", "12:30 pm"], bodies
    async with sessions() as session:
        statuses = (
            await session.scalars(
                select(Notification.status).where(
                    Notification.appointment_id.in_(
                        select(Appointment.id).where(Appointment.service_id == sender_service.id)
                    )
                )
            )
        ).all()
    assert sorted(statuses) == [S.SENDING.value] * 24
