"""`gateway notifications retry`: failed messages go again through the normal path; what a provider took never does."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update

from gateway import commands
from gateway.cli import _parser
from gateway.db import Notification
from gateway.domain import Channel, NotificationStatus
from gateway.jobs.delivery import enqueue_deliveries
from tests.factories import ServiceUnderTest
from tests.fakes.twilio_server import FakeTwilio
from tests.jobs.conftest import Harness, add_notification

S = NotificationStatus


async def set_row(h: Harness, nid: uuid.UUID, **values: Any) -> None:
    async with h.sessions() as session:
        await session.execute(update(Notification).where(Notification.id == nid).values(**values))
        await session.commit()


async def retry(h: Harness, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    args = _parser().parse_args(["notifications", "retry", *argv])
    assert await commands.notifications_retry(h.settings, args) == 0
    return capsys.readouterr().out


async def test_retry_requeues_only_what_no_provider_took(
    harness: Harness,
    sender_service: ServiceUnderTest,
    fake_twilio: tuple[FakeTwilio, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    h = harness
    failed, lost, taken, delivered = [
        await add_notification(h, sender_service.id, Channel.SMS, f"+1202555010{i}", message=f"Retry {i}")
        for i in range(4)
    ]
    unavailable = "not sent: the provider was unavailable for 259200 s"
    await set_row(h, failed, status=S.TEMPORARY_FAILURE.value, failure_reason=unavailable, attempts=0, held_for="x")
    await set_row(
        h, lost, status=S.TECHNICAL_FAILURE.value, failure_reason="no outcome after 5 attempts (workers lost)"
    )
    await set_row(h, taken, status=S.TEMPORARY_FAILURE.value, provider_ref="SM" + "0" * 32)
    await set_row(h, delivered, status=S.DELIVERED.value)
    everything = [str(i) for i in (failed, lost, taken, delivered)]

    assert "would re-queue 1 of 3 failed; 2 skipped" in await retry(h, capsys, *everything, "--dry-run")
    assert (await h.get(failed)).status == S.TEMPORARY_FAILURE  # a dry run changes nothing

    assert "re-queued 1 of 3 failed" in await retry(h, capsys, *everything)
    again = await h.get(failed)
    assert (again.status, again.attempts, again.failure_reason, again.held_for) == (S.CREATED, 0, None, None)
    again_by_status = ("--status", "temporary-failure", "--since", "2000-01-01", "--service", str(sender_service.id))
    assert "re-queued 0 of 1 failed" in await retry(h, capsys, *again_by_status)  # the one a provider took
    if not h.settings.redis_url:  # embedded: the server's sweeper would enqueue it; here the test does
        await enqueue_deliveries(h.ctx["queue"], [failed])
    await h.run()

    [sent] = fake_twilio[0].messages  # only the failed one, once
    assert sent.body == "Retry 0" and (await h.get(failed)).status == S.SENDING
    assert [(await h.get(i)).status for i in (lost, taken, delivered)] == [
        S.TECHNICAL_FAILURE,
        S.TEMPORARY_FAILURE,
        S.DELIVERED,
    ]
    assert await h.events(failed) == ["created", "created", "sending", "sending"]


async def test_retry_says_precisely_what_is_wrong(harness: Harness) -> None:
    args = _parser().parse_args(["notifications", "retry"])
    with pytest.raises(commands.CommandError, match="say which"):
        await commands.notifications_retry(harness.settings, args)
    args = _parser().parse_args(["notifications", "retry", "--since", "yesterday"])
    with pytest.raises(commands.CommandError, match="--since must be an ISO 8601 time"):
        await commands.notifications_retry(harness.settings, args)


async def test_held_lists_each_paused_sender_with_its_messages(
    harness: Harness, sender_service: ServiceUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    h = harness
    nid = await add_notification(h, sender_service.id, Channel.SMS, "+12025550109")
    await set_row(h, nid, held_for="twilio:+15005550006", waiting_since=datetime(2026, 12, 5, 14, 0, tzinfo=UTC))
    if h.settings.redis_url:  # scaled: the breaker's state is in Redis, and the command reads it
        await h.ctx["breaker"].record("twilio:+15005550006", 0, h.settings.breaker_failures, None)
    args = _parser().parse_args(["notifications", "held", "--service", str(sender_service.id)])
    assert await commands.notifications_held(h.settings, args) == 0
    out = capsys.readouterr().out
    assert "twilio:+15005550006" in out and "held: 1" in out and "2026-12-05 14:00" in out
    assert ("state: open" in out) == bool(h.settings.redis_url)
    assert "+12025550109" not in out  # never a recipient
