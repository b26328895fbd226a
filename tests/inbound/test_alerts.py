"""Alerts officers asked for (issue 14, item 9), through the real inbound pipeline and a real SMTP
server (aiosmtpd): a per-staff new-message email that never holds the text, out-of-office with a
covering officer and one auto-reply per absence, and the daily digest on a controllable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from gateway import keys
from gateway.alerts.digest import send_due_digests
from gateway.db import AutoReply, InboundMessage, Notification, Service, StaffUser
from gateway.db.base import utcnow
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio_server import FakeTwilio
from tests.inbound.conftest import Gateway, GatewayFactory, add_person, clock_at, send_sms
from tests.inbound.test_email_consent import smtp_settings

PHONE = "+12025550148"
AWAY = "Olive is away until Monday. Dana Demo is covering: reply here and she will answer."


@pytest.fixture
async def smtp() -> AsyncIterator[FakeSmtpServer]:
    server = await FakeSmtpServer().start()
    yield server
    await server.stop()


async def _staff(gw: Gateway, name: str, **values: object) -> StaffUser:
    async with gw.sessions() as session:
        user = StaffUser(
            service_id=gw.service.id,
            email=f"{name.split()[0].lower()}.{utcnow().timestamp()}@agency.example.org",
            name=name,
            roles=["officer"],
            **values,
        )
        session.add(user)
        await session.commit()
        return user


async def _set(gw: Gateway, staff_id: object, **values: object) -> None:
    async with gw.sessions() as session:
        await session.execute(update(StaffUser).where(StaffUser.id == staff_id).values(**values))
        await session.commit()


async def test_an_officer_who_asked_gets_an_email_without_the_text(
    make_gateway: GatewayFactory, smtp: FakeSmtpServer
) -> None:
    gw = await make_gateway(**smtp_settings(smtp))
    wants = await add_person(gw, PHONE)
    await _set(gw, wants.staff_id, alert_new_messages=True)
    quiet = await add_person(gw, "+12025550149")
    await gw.text(PHONE, "My new address is 12 Elm Street")
    await gw.text("+12025550149", "See you Tuesday")
    await gw.settle()
    [mail] = smtp.messages
    async with gw.sessions() as session:
        officer = await session.get_one(StaffUser, wants.staff_id)
    assert mail.rcpt_tos == [officer.email]
    text = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "You have a new message from a client — sign in to read it" in text
    assert "Elm" not in text and "Tuesday" not in text and "/conversations/" in text
    assert quiet.staff_id != wants.staff_id


async def test_out_of_office_covering_officer_and_one_reply_per_absence(
    make_gateway: GatewayFactory, smtp: FakeSmtpServer, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    gw = await make_gateway(**smtp_settings(smtp), clock=clock_at(12))  # auto-replies keep quiet hours
    person = await add_person(gw, PHONE, out_of_office=AWAY)
    cover = await _staff(gw, "Dana Demo", alert_new_messages=True)
    started = utcnow() - timedelta(days=3)
    await _set(
        gw, person.staff_id, away_from=started, away_until=utcnow() + timedelta(days=2), covering_staff_id=cover.id
    )

    await gw.text(PHONE, "Can I travel to see my mother this weekend?")
    await gw.settle()
    await gw.text(PHONE, "Hello?")
    await gw.settle()
    assert [(m.to, m.body) for m in fake_twilio[0].messages] == [(PHONE, AWAY)], "one auto-reply in this absence"
    [conversation] = await gw.conversations()
    assert conversation.assigned_staff_id == cover.id, "the covering officer's inbox gets the replies"
    assert [m.rcpt_tos for m in smtp.messages] == [[cover.email]], "the cover asked for alerts"
    async with gw.sessions() as session:
        slots = (await session.scalars(select(AutoReply.day).where(AutoReply.service_id == gw.service.id))).all()
        decisions = [m.decisions[-1]["decision"] for m in await gw.inbound()]
    assert slots == [started.date()], "the reply's slot is the absence, not the day"
    assert f"covering for staff {person.staff_id}" in decisions[0]
    assert "already replied during this absence" in decisions[1]

    # back at work: the next reply is theirs again, and no auto-reply goes
    await _set(gw, person.staff_id, away_until=utcnow() - timedelta(minutes=1))
    await gw.text(PHONE, "Are you back?")
    await gw.settle()
    [conversation] = await gw.conversations()
    assert conversation.assigned_staff_id == person.staff_id and len(fake_twilio[0].messages) == 1


async def test_the_daily_digest_counts_unanswered_replies_once_a_day(
    make_gateway: GatewayFactory, smtp: FakeSmtpServer
) -> None:
    gw = await make_gateway(**smtp_settings(smtp), digest_time="08:00")
    async with gw.sessions() as session:
        await session.execute(update(Service).where(Service.id == gw.service.id).values(timezone="America/Chicago"))
        await session.commit()
    waiting = await add_person(gw, PHONE)
    await gw.text(PHONE, "Please call me back")
    await gw.settle()
    await _set(gw, waiting.staff_id, digest_after_hours=24)
    ctx = gw.client.app[keys.JOB_CONTEXT]
    # the reply came at 09:00 Chicago time (15:00 UTC) on 1 March; move it there
    async with gw.sessions() as session:
        await session.execute(
            update(InboundMessage)
            .where(InboundMessage.service_id == gw.service.id)
            .values(received_at=datetime(2030, 3, 1, 15, 0, tzinfo=UTC))
        )
        await session.commit()

    assert await send_due_digests(ctx, datetime(2030, 3, 2, 13, 59, tzinfo=UTC)) == [], "07:59 in Chicago: not yet"
    assert await send_due_digests(ctx, datetime(2030, 3, 2, 14, 1, tzinfo=UTC)) == [], "08:01, but only 23 hours"
    assert await send_due_digests(ctx, datetime(2030, 3, 2, 20, 0, tzinfo=UTC)) == [], "one look a day"
    [sent] = await send_due_digests(ctx, datetime(2030, 3, 3, 14, 1, tzinfo=UTC))
    assert await send_due_digests(ctx, datetime(2030, 3, 3, 18, 0, tzinfo=UTC)) == []
    await gw.settle()
    [mail] = smtp.messages
    text = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert mail.message["Subject"] == f"1 replies waiting more than 24 hours in {gw.service.name}"
    assert "Please call me back" not in text and "Jordan" not in text and "/inbox" in text

    # a message the API sent is no answer; one a member of staff sent (after the reply) is
    notification_id = await send_sms(gw, PHONE, "An automatic reminder")
    assert len(await send_due_digests(ctx, datetime(2030, 3, 4, 14, 1, tzinfo=UTC))) == 1
    async with gw.sessions() as session:
        await session.execute(
            update(Notification)
            .where(Notification.id == notification_id)
            .values(
                created_by_staff_id=waiting.staff_id,
                person_id=waiting.person_id,
                created_at=datetime(2030, 3, 4, 16, 0, tzinfo=UTC),
            )
        )
        await session.commit()
    assert await send_due_digests(ctx, datetime(2030, 3, 5, 14, 1, tzinfo=UTC)) == []
    async with gw.sessions() as session:
        officer = await session.get_one(StaffUser, waiting.staff_id)
    assert officer.digest_sent_on == datetime(2030, 3, 5).date(), "looked at today, found nothing to send"
    assert sent
