"""The scheduler's wiring (an arq cron and a job by name, the in-process timer) and one way for every
scheduled message: a message staff scheduled in the composer goes through the same job as reminders."""

from __future__ import annotations

from datetime import timedelta

from gateway.appointments.scheduler import SEND_DUE, send_due_scheduled
from gateway.db import Notification
from gateway.domain import Channel, NotificationStatus
from gateway.jobs.queue import LocalQueue
from gateway.jobs.registry import jobs_by_name
from gateway.jobs.worker import worker_settings
from tests.appointments.reminders.conftest import ClockedHarness
from tests.conftest import test_settings as settings_for_url
from tests.factories import ServiceUnderTest
from tests.fakes.twilio_server import FakeTwilio
from tests.jobs.conftest import add_notification

NO_ZONE = "+15555550166"  # no zone of its own: the service's (UTC) applies, midday at the harness's hours


def test_the_scheduler_is_a_job_and_a_cron_every_minute() -> None:
    settings = settings_for_url("sqlite+aiosqlite:///unused.db", redis_url="redis://127.0.0.1:6379/0")
    assert SEND_DUE in jobs_by_name()
    crons = {c.name: c for c in worker_settings(settings)["cron_jobs"]}
    scheduler = crons[f"cron:{settings.redis_prefix}:queue:{SEND_DUE}"]
    assert scheduler.second == {0} and scheduler.minute == set(range(60)) and scheduler.run_at_startup


async def test_embedded_the_queue_runs_the_scheduler_on_a_timer(clocked: ClockedHarness) -> None:
    queue = clocked.ctx["queue"]
    if isinstance(queue, LocalQueue):
        assert {t.get_name() for t in queue._timers} == {"timer sweep", f"timer {SEND_DUE}"}


async def test_a_message_staff_scheduled_goes_through_the_same_job(
    clocked: ClockedHarness, sender_service: ServiceUnderTest, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    when = clocked.clock.now() + timedelta(hours=2)
    nid = await add_notification(
        clocked,  # type: ignore[arg-type]  # a harness: sessions and ctx
        sender_service.id,
        Channel.SMS,
        NO_ZONE,
        message="Scheduled by your officer",
        scheduled_for=when,
        next_attempt_at=when,
    )
    await send_due_scheduled(clocked.ctx)  # not due yet
    await clocked.run()
    assert [m for m in fake_twilio[0].messages if m.to == NO_ZONE] == []
    clocked.clock.set(when)
    await send_due_scheduled(clocked.ctx)
    await clocked.run()
    assert [m.body for m in fake_twilio[0].messages if m.to == NO_ZONE] == ["Scheduled by your officer"]
    async with clocked.sessions() as session:
        row = await session.get(Notification, nid)
    assert row is not None and row.status == NotificationStatus.SENDING
