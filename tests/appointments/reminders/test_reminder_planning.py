"""The plan hook on SQLite and PostgreSQL: reminders planned per kind, moved and cancelled appointments, a
missed one, past steps, repeated calls that change nothing, the person's channel and language."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.appointments import Change
from gateway.appointments.plans import save_plan
from gateway.crypto import Vault
from gateway.db import Appointment, RecordEntry
from gateway.domain import NotificationStatus
from gateway.localtime import from_local, to_local
from tests.appointments.plans_setup import add_appointment, add_client, change_appointment, messages_of
from tests.factories import ServiceUnderTest

S = NotificationStatus
CHICAGO = "America/Chicago"
NOW = datetime(2027, 1, 4, 15, 0, tzinfo=UTC)  # Monday 4 January 2027, 09:00 CST


def chicago(text: str) -> datetime:
    return from_local(datetime.fromisoformat(text), CHICAGO)


def pending(messages: list) -> list:  # type: ignore[type-arg]
    return [m for m in messages if m.status == S.CREATED]


async def record_lines(sessions: async_sessionmaker[AsyncSession], case_id: object) -> list[str]:
    async with sessions() as session:
        return list(
            await session.scalars(
                select(RecordEntry.summary).where(RecordEntry.case_id == case_id).order_by(RecordEntry.seq)
            )
        )


async def test_each_kind_gets_its_default_plan(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, service: ServiceUnderTest
) -> None:
    client = await add_client(sessions, vault, service.id)
    court_at = chicago("2027-01-20T09:00")
    court = await add_appointment(sessions, vault, client, court_at, now=NOW, kind="court_hearing")
    interview = await add_appointment(
        sessions, vault, client, chicago("2027-01-12T14:00"), now=NOW, kind="job_interview"
    )
    visit = await add_appointment(sessions, vault, client, chicago("2027-01-08T10:30"), now=NOW, bring="your ID")

    court_messages = await messages_of(sessions, court)
    assert [
        (m.appointment_step, to_local(m.scheduled_for, CHICAGO).strftime("%m-%d %H:%M")) for m in court_messages
    ] == [
        ("reminder:7d", "01-13 09:00"),
        ("reminder:1d", "01-19 09:00"),
        ("reminder:0d@08:00", "01-20 08:00"),
    ]
    for m in court_messages:
        assert (m.status, m.automatic, m.send_before, m.next_attempt_at) == (S.CREATED, True, court_at, m.scheduled_for)
        assert (m.person_id, m.case_id, m.channel) == (client.person_id, client.case_id, "sms")
        assert vault.open(m.recipient_enc) == client.phone
    body = vault.open(court_messages[0].body_enc)
    assert "court hearing is on Wednesday 20 January 2027 at 9:00 am CST, at Room 2, 100 Main Street" in body
    assert "a warrant may be issued" in body and "Reply C to confirm or R to reschedule." in body
    assert [m.appointment_step for m in await messages_of(sessions, interview)] == ["reminder:1d", "reminder:2h"]
    [visit_reminder] = await messages_of(sessions, visit)
    assert visit_reminder.appointment_step == "reminder:1d"
    assert "Bring: your ID." in vault.open(visit_reminder.body_enc)
    assert "warrant" not in vault.open(visit_reminder.body_enc)


async def test_a_services_own_plan_replaces_the_default(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, service: ServiceUnderTest
) -> None:
    async with sessions() as session:
        await save_plan(session, service.id, "drug_test", [{"before": "30m"}, {"days_before": 1, "at": "18:00"}])
        await session.commit()
    client = await add_client(sessions, vault, service.id)
    test = await add_appointment(sessions, vault, client, chicago("2027-01-07T07:00"), now=NOW, kind="drug_test")
    messages = await messages_of(sessions, test)
    assert [(m.appointment_step, to_local(m.scheduled_for, CHICAGO).strftime("%d %H:%M")) for m in messages] == [
        ("reminder:1d@18:00", "06 18:00"),
        ("reminder:30m", "07 06:30"),
    ]


async def test_past_steps_are_skipped_and_said_once_and_a_second_call_writes_nothing(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, service: ServiceUnderTest
) -> None:
    client = await add_client(sessions, vault, service.id)
    soon = chicago("2027-01-06T09:00")  # in two days: the 7-day reminder has passed
    court = await add_appointment(sessions, vault, client, soon, now=NOW, kind="court_hearing")
    assert [m.appointment_step for m in await messages_of(sessions, court)] == ["reminder:1d", "reminder:0d@08:00"]
    lines = await record_lines(sessions, client.case_id)
    assert lines == ["Appointment messages: reminders 7d before not planned: that time had passed"]

    async with sessions() as session:
        appointment = await session.get(Appointment, court)
        assert appointment is not None
        from gateway.appointments.plan import appointments_changed

        again = await appointments_changed(session, vault, [(appointment, Change.CREATED)], now=NOW)
        await session.commit()
    assert again == []
    assert len(await messages_of(sessions, court)) == 2  # no duplicates
    assert len(await record_lines(sessions, client.case_id)) == 1  # the skipped step is said once


async def test_moved_cancels_the_old_reminders_sends_one_new_time_and_plans_again(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, service: ServiceUnderTest
) -> None:
    client = await add_client(sessions, vault, service.id)
    first = chicago("2027-01-20T09:00")
    court = await add_appointment(sessions, vault, client, first, now=NOW, kind="court_hearing")
    moved_to = chicago("2027-01-27T13:00")

    send_now = await change_appointment(sessions, vault, court, Change.MOVED, now=NOW, starts_at=moved_to)

    messages = await messages_of(sessions, court)
    old = [m for m in messages if m.send_before == first]
    assert {(m.status, m.failure_reason) for m in old} == {(S.CANCELLED, "appointment moved")}
    [notice] = [m for m in messages if m.appointment_step == "moved:1"]
    assert send_now == [notice.id] and notice.scheduled_for is None and notice.send_before == moved_to
    body = vault.open(notice.body_enc)
    assert "new time: Wednesday 27 January 2027 at 1:00 pm CST" in body
    assert "no longer on Wednesday 20 January 2027, 9:00 am CST" in body
    new = [m for m in pending(messages) if m.appointment_step.startswith("reminder:")]
    assert sorted(m.appointment_step for m in new) == ["reminder:0d@08:00", "reminder:1d", "reminder:7d"]
    assert {m.send_before for m in new} == {moved_to}

    # the same move reported again (a retried request): nothing more
    assert await change_appointment(sessions, vault, court, Change.MOVED, now=NOW) == []
    assert len(await messages_of(sessions, court)) == len(messages)


async def test_cancelled_sends_one_notice_and_nothing_more(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, service: ServiceUnderTest
) -> None:
    client = await add_client(sessions, vault, service.id, language="es")
    visit = await add_appointment(sessions, vault, client, chicago("2027-01-08T10:30"), now=NOW)

    send_now = await change_appointment(sessions, vault, visit, Change.CANCELLED, now=NOW, status="cancelled")

    messages = await messages_of(sessions, visit)
    [reminder, notice] = messages
    assert (reminder.status, reminder.failure_reason) == (S.CANCELLED, "appointment cancelled")
    assert (notice.appointment_step, notice.status, send_now) == ("cancelled:1", S.CREATED, [notice.id])
    assert "visita a la oficina del viernes 8 de enero de 2027 a las 10:30 a. m. CST está cancelada" in vault.open(
        notice.body_enc
    )
    assert await change_appointment(sessions, vault, visit, Change.CANCELLED, now=NOW) == []
    assert len(await messages_of(sessions, visit)) == 2


async def test_a_cancelled_appointment_scheduled_again_says_so_once_and_is_planned_afresh(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, service: ServiceUnderTest
) -> None:
    """Told "you do not need to come", the client is told it is on again (a reminder may not fall due
    before it), and the plan is written again beside the cancelled reminders."""
    client = await add_client(sessions, vault, service.id)
    visit = await add_appointment(sessions, vault, client, chicago("2027-01-08T10:30"), now=NOW)
    await change_appointment(sessions, vault, visit, Change.CANCELLED, now=NOW, status="cancelled")

    # as the write paths reinstate it: scheduled, the sequence raised again, told CREATED
    send_now = await change_appointment(sessions, vault, visit, Change.CREATED, now=NOW, status="scheduled", sequence=2)

    messages = await messages_of(sessions, visit)
    assert sorted((m.appointment_step, m.status) for m in messages) == [
        ("back_on:2", S.CREATED),
        ("cancelled:1", S.CREATED),
        ("reminder:1d", S.CANCELLED),
        ("reminder:1d", S.CREATED),
    ]
    [back_on] = [m for m in messages if m.appointment_step == "back_on:2"]
    assert send_now == [back_on.id] and back_on.send_before == chicago("2027-01-08T10:30")
    assert "office visit on Friday 8 January 2027 at 10:30 am CST" in vault.open(back_on.body_enc)
    assert "is on again" in vault.open(back_on.body_enc)
    # the hook again with nothing changed writes nothing
    assert await change_appointment(sessions, vault, visit, Change.CREATED, now=NOW) == []
    assert len(await messages_of(sessions, visit)) == 4


async def test_missed_sends_the_follow_up_and_alerts_the_officer(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, service: ServiceUnderTest
) -> None:
    client = await add_client(sessions, vault, service.id)
    visit = await add_appointment(sessions, vault, client, NOW + timedelta(hours=1), now=NOW)
    later = NOW + timedelta(hours=3)

    send_now = await change_appointment(sessions, vault, visit, Change.OUTCOME, now=later, status="missed")

    [follow_up] = await messages_of(sessions, visit)
    assert follow_up.appointment_step == "missed" and follow_up.id in send_now
    assert "we missed you at your office visit" in vault.open(follow_up.body_enc)
    [alert] = [i for i in send_now if i != follow_up.id]
    async with sessions() as session:
        from gateway.db import Notification

        alert_row = await session.get(Notification, alert)
    assert alert_row is not None and vault.open(alert_row.recipient_enc) == client.staff_email
    assert client.case_ref in (vault.open_optional(alert_row.subject_enc) or "")
    lines = await record_lines(sessions, client.case_id)
    assert lines[-1] == "Officer task: the client missed their appointment; Olive Officer alerted by email"
    assert await change_appointment(sessions, vault, visit, Change.OUTCOME, now=later) == []


async def test_email_when_that_is_their_channel_and_updates_rewrite_the_reminder(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, service: ServiceUnderTest
) -> None:
    client = await add_client(sessions, vault, service.id, email="jordan@example.org", preferred=("email", "sms"))
    visit = await add_appointment(
        sessions,
        vault,
        client,
        chicago("2027-01-08T10:30"),
        now=NOW,
        location_kind="video",
        location="https://meet.example/abc",
    )
    [reminder] = await messages_of(sessions, visit)
    assert reminder.channel == "email" and vault.open(reminder.recipient_enc) == "jordan@example.org"
    assert vault.open_optional(reminder.subject_enc) == "Reminder: your appointment on Friday 8 January 2027"
    assert "Where: by video: https://meet.example/abc" in vault.open(reminder.body_enc)

    # reported as updated with nothing changed (a source refresh): the reminder is kept as it is
    await change_appointment(sessions, vault, visit, Change.UPDATED, now=NOW)
    assert [m.id for m in await messages_of(sessions, visit)] == [reminder.id]

    await change_appointment(sessions, vault, visit, Change.UPDATED, now=NOW, location_kind="phone", location=None)

    [old, new] = await messages_of(sessions, visit)
    assert (old.status, old.failure_reason) == (S.CANCELLED, "appointment details changed; reminder written again")
    assert new.status == S.CREATED and new.scheduled_for == old.scheduled_for
    assert "Where: by phone" in vault.open(new.body_enc)


async def test_no_way_to_reach_the_client_is_recorded(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, service: ServiceUnderTest
) -> None:
    client = await add_client(sessions, vault, service.id, phone=None)
    visit = await add_appointment(sessions, vault, client, chicago("2027-01-08T10:30"), now=NOW)
    assert await messages_of(sessions, visit) == []
    assert "no mobile number or email address" in (await record_lines(sessions, client.case_id))[0]


async def test_court_reminders_keep_the_local_hour_across_both_2027_clock_changes(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, service: ServiceUnderTest
) -> None:
    client = await add_client(sessions, vault, service.id)
    planned_at = datetime(2027, 3, 1, 15, 0, tzinfo=UTC)
    spring = await add_appointment(
        sessions, vault, client, chicago("2027-03-14T15:00"), now=planned_at, kind="court_hearing"
    )
    fall = await add_appointment(
        sessions, vault, client, chicago("2027-11-07T14:00"), now=planned_at, kind="court_hearing"
    )

    def local(messages: list) -> list[str]:  # type: ignore[type-arg]
        return [to_local(m.scheduled_for, CHICAGO).strftime("%m-%d %H:%M %Z") for m in messages]

    # Sunday 14 March: the day before is still CST, the day itself CDT; 15:00 and 08:00 stay 15:00 and 08:00
    assert local(await messages_of(sessions, spring)) == ["03-07 15:00 CST", "03-13 15:00 CST", "03-14 08:00 CDT"]
    # Sunday 7 November: the day before and the week before are CDT, the day itself CST
    assert local(await messages_of(sessions, fall)) == ["10-31 14:00 CDT", "11-06 14:00 CDT", "11-07 08:00 CST"]


async def test_an_appointment_already_past_gets_nothing_and_no_record_line(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, service: ServiceUnderTest
) -> None:
    client = await add_client(sessions, vault, service.id)
    past = await add_appointment(sessions, vault, client, NOW - timedelta(days=2), now=NOW, kind="court_hearing")
    assert await messages_of(sessions, past) == []
    assert await record_lines(sessions, client.case_id) == []


async def test_times_are_said_on_the_clients_own_clock_when_the_directory_has_it(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, service: ServiceUnderTest
) -> None:
    client = await add_client(sessions, vault, service.id, timezone="America/Denver")
    hearing = await add_appointment(sessions, vault, client, chicago("2027-01-20T09:00"), now=NOW, kind="court_hearing")
    [week_before, *_] = await messages_of(sessions, hearing)
    assert "court hearing is on Wednesday 20 January 2027 at 8:00 am MST" in vault.open(week_before.body_enc)
