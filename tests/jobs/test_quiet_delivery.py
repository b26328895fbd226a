"""Quiet hours in the delivery job's policy step: an automatic text waits for the recipient's morning,
one too late for its purpose is not sent, and a message a person sent is never held.

The clock here is the real one, so each test puts the service in a fixed-offset zone where it is now
the local hour it needs (Etc/GMT zones exist for every whole hour)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from gateway.broadcasts import control
from gateway.broadcasts.progress import bar, counts
from gateway.broadcasts.pump import PUMP, pump_broadcast
from gateway.clock import ManualClock
from gateway.db import Broadcast, Notification, Service
from gateway.db.base import utcnow
from gateway.domain import Channel, NotificationStatus
from gateway.jobs.delivery import DELIVER, DELIVER_BATCH, deliver_batch
from gateway.jobs.prepare import prepare
from gateway.sendtime.policy import TOO_LATE_REASON
from gateway.sendtime.quiet_hours import QUIET_TOO_LATE
from tests.broadcasts.test_pump import RecordingQueue, make_broadcast
from tests.factories import ServiceUnderTest
from tests.fakes.twilio_server import FakeTwilio
from tests.jobs.conftest import Harness, add_notification

if TYPE_CHECKING:
    from gateway.jobs.context import JobContext

S = NotificationStatus
NO_ZONE = "+15555550143"  # a 555 number: phonenumbers gives it no zone, so the service's applies


def zone_where_it_is(hour: int, now: datetime) -> str:
    """An Etc/GMT zone whose local hour is `hour` at `now` (POSIX signs: Etc/GMT+5 is UTC-5)."""
    offset = (hour - now.hour) % 24
    if offset > 14:
        offset -= 24
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


async def put_service_in(harness: Harness, service_id: object, zone: str) -> None:
    async with harness.sessions() as session:
        await session.execute(update(Service).where(Service.id == service_id).values(timezone=zone))
        await session.commit()


async def test_an_automatic_text_at_night_waits_for_the_window_and_a_staff_one_goes(
    harness: Harness, sender_service: ServiceUnderTest
) -> None:
    now = utcnow()
    await put_service_in(harness, sender_service.id, zone_where_it_is(3, now))
    automatic = await add_notification(harness, sender_service.id, Channel.SMS, NO_ZONE, automatic=True)
    by_hand = await add_notification(harness, sender_service.id, Channel.SMS, NO_ZONE)

    done = await prepare(harness.ctx, [automatic, by_hand])

    assert [c.notification.id for c in done.claimed] == [by_hand]
    [verdict] = done.verdicts
    assert (verdict.notification_id, verdict.outcome) == (automatic, "quiet hours")
    held = await harness.get(automatic)
    assert held.status == S.CREATED and held.next_attempt_at is not None
    # 08:00 local, 5 hours after 03:xx local: between 4 and 5 hours from now
    assert timedelta(hours=4) <= held.next_attempt_at - now <= timedelta(hours=5)
    assert held.next_attempt_at.minute == 0 and held.next_attempt_at.second == 0


async def test_a_text_that_would_wait_past_its_time_is_not_sent(
    harness: Harness, sender_service: ServiceUnderTest
) -> None:
    now = utcnow()
    await put_service_in(harness, sender_service.id, zone_where_it_is(3, now))
    too_late = await add_notification(
        harness, sender_service.id, Channel.SMS, NO_ZONE, automatic=True, send_before=now + timedelta(hours=2)
    )
    passed = await add_notification(
        harness, sender_service.id, Channel.SMS, NO_ZONE, send_before=now - timedelta(minutes=1)
    )

    done = await prepare(harness.ctx, [too_late, passed])

    assert done.claimed == []
    assert ((await harness.get(too_late)).status, (await harness.get(too_late)).failure_reason) == (
        S.CANCELLED,
        QUIET_TOO_LATE,
    )
    assert ((await harness.get(passed)).status, (await harness.get(passed)).failure_reason) == (
        S.CANCELLED,
        TOO_LATE_REASON,
    )


async def test_daytime_an_override_and_email_go_at_once(harness: Harness, sender_service: ServiceUnderTest) -> None:
    now = utcnow()
    await put_service_in(harness, sender_service.id, zone_where_it_is(12, now))
    daytime = await add_notification(harness, sender_service.id, Channel.SMS, NO_ZONE, automatic=True)
    await put_service_in(harness, sender_service.id, zone_where_it_is(3, now))
    urgent = await add_notification(
        harness, sender_service.id, Channel.SMS, NO_ZONE, automatic=True, quiet_override="escape: urgent"
    )
    email = await add_notification(harness, sender_service.id, Channel.EMAIL, "jordan@example.org", automatic=True)

    # the daytime one is prepared while its service's clock says noon
    await put_service_in(harness, sender_service.id, zone_where_it_is(12, now))
    assert [c.notification.id for c in (await prepare(harness.ctx, [daytime])).claimed] == [daytime]
    await put_service_in(harness, sender_service.id, zone_where_it_is(3, now))
    claimed = {c.notification.id for c in (await prepare(harness.ctx, [urgent, email])).claimed}
    assert claimed == {urgent, email}


async def test_the_numbers_zone_comes_before_the_services(harness: Harness, sender_service: ServiceUnderTest) -> None:
    """A Chicago number follows Chicago's clock, whatever the service's says."""
    now = utcnow()
    await put_service_in(harness, sender_service.id, zone_where_it_is(12, now))
    chicago_hour = now.astimezone(ZoneInfo("America/Chicago")).hour
    nid = await add_notification(harness, sender_service.id, Channel.SMS, "+13125550100", automatic=True)

    done = await prepare(harness.ctx, [nid])

    inside = 8 <= chicago_hour < 21
    assert bool(done.claimed) is inside


async def test_a_broadcasts_texts_held_by_quiet_hours_wait_with_its_pump_so_a_pause_holds_them(
    harness: Harness, sender_service: ServiceUnderTest, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    """A broadcast's text held for the recipient's morning goes back to its broadcast (`quiet_until`),
    not to a delivery job of its own: the pump hands it out again once the window opens, so a broadcast
    paused overnight sends none of them at 08:00, and none is sent twice once it is resumed."""
    fake, _ = fake_twilio
    now = utcnow()
    clock = ManualClock(now + timedelta(seconds=5))  # the pump marks rows due by the wall clock: past it
    queue = RecordingQueue()
    # this test runs each job by hand, on a clock of its own
    ctx = cast("JobContext", {**harness.ctx, "clock": clock, "queue": queue})
    await put_service_in(harness, sender_service.id, zone_where_it_is(3, now))
    numbers = [f"+1555555{i:04d}" for i in range(6)]  # no zone of their own: the service's applies
    bid = await make_broadcast(
        ctx["engine"], harness.sessions, ctx["vault"], sender_service.id, len(numbers), numbers=numbers
    )

    assert (await pump_broadcast(ctx, str(bid), "tok")).startswith("handed=6")
    [batch] = queue.of(DELIVER_BATCH)
    assert await deliver_batch(ctx, *batch) == "quiet hours=6"
    assert queue.of(DELIVER) == []  # no job of its own for each held text
    async with harness.sessions() as session:
        rows = (await session.scalars(select(Notification).where(Notification.broadcast_id == bid))).all()
    assert {(r.status, r.next_attempt_at) for r in rows} == {(S.CREATED, None)}
    [opening] = {r.quiet_until for r in rows}
    assert opening is not None and timedelta(hours=4) <= opening - now <= timedelta(hours=5)

    # overnight the pump hands out nothing and does not poll: the sweeper ticks it again now and then
    queue.jobs.clear()
    assert (await pump_broadcast(ctx, str(bid), "tok")).startswith("handed=0")
    assert queue.of(DELIVER_BATCH) == [] and queue.of(PUMP) == []
    assert await broadcast_status(harness, bid) == "sending"
    async with harness.sessions() as session:
        figures = await counts(session, bid)
    assert (figures["queued"], figures["quiet"]) == (6, 6)
    assert bar(figures).endswith("queued 6 sent 0 delivered 0 failed 0 cancelled 0 (6 of them held for quiet hours)")

    # paused before the window opens: nothing goes at 08:00
    await control.pause(harness.sessions, bid, sender_service.id)
    clock.set(opening + timedelta(minutes=1))
    assert await pump_broadcast(ctx, str(bid), "tok") == "not this chain's, or not sending"
    assert queue.of(DELIVER_BATCH) == [] and fake.messages == []

    # resumed: handed out again, now inside the window, and each sent once
    await control.resume(harness.sessions, queue, bid, sender_service.id)
    [(_, token)] = queue.of(PUMP)
    assert (await pump_broadcast(ctx, str(bid), token)).startswith("handed=6")
    [batch] = queue.of(DELIVER_BATCH)
    assert await deliver_batch(ctx, *batch) == "sending=6"
    assert sorted(m.to for m in fake.messages) == numbers
    queue.jobs.clear()
    await pump_broadcast(ctx, str(bid), token)
    assert await broadcast_status(harness, bid) == "finished"
    async with harness.sessions() as session:
        figures = await counts(session, bid)
    assert (figures["queued"], figures["quiet"], figures["sent"]) == (0, 0, 6)


async def broadcast_status(harness: Harness, bid: object) -> str:
    async with harness.sessions() as session:
        return str(await session.scalar(select(Broadcast.status).where(Broadcast.id == bid)))
