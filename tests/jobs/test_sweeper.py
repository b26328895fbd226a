"""The sweeper: rows that should have moved are moved, and final statuses stay final.

The session databases are shared by the whole run, so a sweep may also pick up other tests' old rows;
assertions look only at this test's rows.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta

from gateway.db.base import utcnow
from gateway.domain import Channel, NotificationStatus
from gateway.jobs.context import close_job_context, open_job_context
from gateway.jobs.sweeper import sweep
from gateway.settings import Settings
from tests.factories import ServiceUnderTest
from tests.fakes.twilio_server import FakeTwilio
from tests.jobs.conftest import Backend, Harness, add_notification

S = NotificationStatus
TO = "+12025550177"


def ago(seconds: float) -> object:
    return utcnow() - timedelta(seconds=seconds)


def sent_to(twilio: FakeTwilio, provider_ref: str | None) -> list[str]:
    return [m.to for m in twilio.messages if m.sid == provider_ref]


async def test_created_row_that_was_never_enqueued_is_delivered(
    harness: Harness, sender_service: ServiceUnderTest, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    old = ago(harness.settings.sweep_grace_seconds + 60)
    lost = await add_notification(harness, sender_service.id, Channel.SMS, TO, created_at=old, updated_at=old)
    recent = await add_notification(harness, sender_service.id, Channel.SMS, TO)

    await sweep(harness.ctx)
    await harness.run()

    n = await harness.get(lost)
    assert n.status == S.SENDING and sent_to(fake_twilio[0], n.provider_ref) == [TO]
    # a row inside the grace period is left to the enqueue that follows its commit
    assert (await harness.get(recent)).status == S.CREATED


async def test_claim_of_a_lost_worker_is_taken_back(
    harness: Harness, sender_service: ServiceUnderTest, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    expired = ago(harness.settings.sending_lease + 5)
    lost = await add_notification(
        harness, sender_service.id, Channel.SMS, TO, status="sending", attempts=1, claimed_at=expired
    )
    busy = await add_notification(
        harness, sender_service.id, Channel.SMS, TO, status="sending", attempts=1, claimed_at=ago(1)
    )
    spent = await add_notification(
        harness,
        sender_service.id,
        Channel.SMS,
        TO,
        status="sending",
        attempts=harness.settings.delivery_max_attempts,
        claimed_at=expired,
    )

    await sweep(harness.ctx)
    await harness.run()

    n = await harness.get(lost)
    assert (n.status, n.attempts) == (S.SENDING, 2) and sent_to(fake_twilio[0], n.provider_ref) == [TO]
    assert await harness.events(lost) == ["sending", "created", "sending", "sending"]
    still = await harness.get(busy)
    assert (still.status, still.provider_ref) == (S.SENDING, None)  # its worker may still be sending
    given_up = await harness.get(spent)
    assert given_up.status == S.TECHNICAL_FAILURE and "attempts" in (given_up.failure_reason or "")


async def test_missing_receipt_times_out_and_final_statuses_never_change(
    harness: Harness, sender_service: ServiceUnderTest
) -> None:
    long_ago = ago(harness.settings.sending_timeout_seconds + 60)
    waiting = await add_notification(
        harness,
        sender_service.id,
        Channel.SMS,
        TO,
        status="sending",
        provider_ref="SM" + uuid.uuid4().hex,
        attempts=1,
        claimed_at=long_ago,
        sent_at=long_ago,
    )
    fresh = await add_notification(
        harness,
        sender_service.id,
        Channel.SMS,
        TO,
        status="sending",
        provider_ref="SM" + uuid.uuid4().hex,
        attempts=1,
        claimed_at=ago(5),
        sent_at=ago(5),
    )
    finals = {
        status: await add_notification(
            harness,
            sender_service.id,
            Channel.SMS,
            TO,
            status=status.value,
            attempts=1,
            claimed_at=long_ago,
            sent_at=long_ago,
            created_at=long_ago,
            next_attempt_at=long_ago,
        )
        for status in (S.DELIVERED, S.PERMANENT_FAILURE, S.TEMPORARY_FAILURE, S.TECHNICAL_FAILURE)
    }
    smtp_sent = await add_notification(
        harness,
        sender_service.id,
        Channel.EMAIL,
        "a@example.org",
        status="sent",
        provider_ref="<x@y>",
        attempts=1,
        claimed_at=long_ago,
        sent_at=long_ago,
    )

    await sweep(harness.ctx)
    await harness.run()

    timed_out = await harness.get(waiting)
    assert timed_out.status == S.TEMPORARY_FAILURE and timed_out.completed_at is not None
    assert "no delivery receipt" in (timed_out.failure_reason or "")
    assert (await harness.get(fresh)).status == S.SENDING
    for status, nid in finals.items():
        assert (await harness.get(nid)).status == status
        assert await harness.events(nid) == [status.value]  # not even an event was added
    assert (await harness.get(smtp_sent)).status == S.SENT  # SMTP gives no receipt: `sent` stays


async def test_sweeps_run_on_their_own(
    backend: Backend,
    settings_for: Callable[..., Settings],
    harness: Harness,
    sender_service: ServiceUnderTest,
    fake_twilio: tuple[FakeTwilio, str],
) -> None:
    """Embedded: the in-process queue's timer. Scaled: the worker's arq cron (run at start-up)."""
    old = ago(harness.settings.sweep_grace_seconds + 60)
    lost = await add_notification(harness, sender_service.id, Channel.SMS, TO, created_at=old, updated_at=old)
    if backend.name == "arq":
        await harness.run(with_cron=True)
    else:
        ctx = await open_job_context(settings_for(sweep_interval_seconds=0.05))
        try:
            for _ in range(300):
                if (await harness.get(lost)).status != S.CREATED:
                    break
                await asyncio.sleep(0.01)
        finally:
            await close_job_context(ctx)
    n = await harness.get(lost)
    assert n.status == S.SENDING and sent_to(fake_twilio[0], n.provider_ref) == [TO]
