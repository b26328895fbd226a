"""Quiet hours in the delivery job's policy step: an automatic text waits for the recipient's morning,
one too late for its purpose is not sent, and a message a person sent is never held.

The clock here is the real one, so each test puts the service in a fixed-offset zone where it is now
the local hour it needs (Etc/GMT zones exist for every whole hour)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update

from gateway.db import Service
from gateway.db.base import utcnow
from gateway.domain import Channel, NotificationStatus
from gateway.jobs.prepare import prepare
from gateway.sendtime.policy import TOO_LATE_REASON
from gateway.sendtime.quiet_hours import QUIET_TOO_LATE
from tests.factories import ServiceUnderTest
from tests.jobs.conftest import Harness, add_notification

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
