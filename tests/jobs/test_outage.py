"""A provider outage longer than the whole retry budget loses nothing: the sender pauses, probes, resumes in order.

The real path: the `twilio` package against the fake Twilio switched into its outage mode (every send
answered 503, nothing taken), through both queue backends on both databases. Settings are small
(backoff 0.05-0.2 s, a probe every 0.2 s) so the budget of GATEWAY_DELIVERY_MAX_ATTEMPTS tries is used
up well within the outage; the rule does not depend on the figures: a provider-wide failure uses no
attempt, however long the outage lasts (up to GATEWAY_SENDING_TIMEOUT_SECONDS).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlalchemy import func, select

from gateway.db import Notification
from gateway.domain import Channel, NotificationStatus
from gateway.jobs.breaker import Breaker, BreakerState, LocalBreaker, RedisBreaker
from gateway.jobs.delivery import enqueue_delivery_batches
from tests.factories import ServiceUnderTest
from tests.fakes.twilio_server import FakeTwilio
from tests.jobs.conftest import SMS_FROM, Harness, add_notification

S = NotificationStatus
BODY = "Outage test {:04d}: your appointment is on Monday."


def retry_budget(h: Harness) -> float:
    """The longest all of a message's attempts could take with these settings (every backoff at its cap)."""
    s = h.settings
    waits = [min(s.retry_backoff_max_seconds, s.retry_backoff_seconds * 2**i) for i in range(s.delivery_max_attempts)]
    return sum(waits) + s.delivery_max_attempts * s.twilio_timeout


async def held_count(h: Harness) -> int:
    async with h.sessions() as session:
        return int(
            await session.scalar(
                select(func.count()).where(
                    Notification.status == S.CREATED.value,
                    Notification.held_for.is_not(None),
                    Notification.next_attempt_at.is_(None),
                )
            )
            or 0
        )


async def ride_out_an_outage(h: Harness, service: ServiceUnderTest, twilio: FakeTwilio, total: int) -> dict[str, float]:
    """`total` SMS accepted during an outage longer than the retry budget; then Twilio recovers. Checks that
    each is delivered once, with one attempt, in acceptance order across delivery batches."""
    twilio.outage = 503
    ids = [
        await add_notification(h, service.id, Channel.SMS, f"+1202555{i % 10000:04d}", message=BODY.format(i))
        for i in range(total)
    ]
    await enqueue_delivery_batches(h.ctx["queue"], ids, h.settings.delivery_batch_size)
    running = asyncio.create_task(h.run())
    started = time.monotonic()
    outage = max(1.5 * retry_budget(h), 2.0)
    # all held, but for the probe that may be out at that moment
    while time.monotonic() - started < outage or await held_count(h) < total - 1:
        assert time.monotonic() - started < 60, f"only {await held_count(h)} of {total} held"
        assert not running.done(), "the queue stopped during the outage"
        await asyncio.sleep(0.05)
    refused_in_outage = twilio.refused
    assert twilio.messages == [] and refused_in_outage >= h.settings.breaker_failures
    [paused] = await h.ctx["breaker"].status()
    assert paused.key == f"twilio:{SMS_FROM}" and paused.state in (BreakerState.OPEN, BreakerState.PROBING)

    twilio.outage = None
    recovered = time.monotonic()
    await asyncio.wait_for(running, 60)
    drained_after = time.monotonic() - recovered

    async with h.sessions() as session:
        rows = (
            await session.execute(
                select(Notification.id, Notification.status, Notification.attempts, Notification.provider_ref).where(
                    Notification.id.in_(ids)
                )
            )
        ).all()
    left = [nid for nid, status, _, _ in rows if status != S.SENDING.value]
    if left:
        n = await h.get(left[0])
        assert not left, (
            str(n.id),
            n.rate_slot_at,
            n.status,
            n.held_for,
            n.next_attempt_at,
            n.waiting_since,
            n.created_at,
            await h.events(left[0]),
        )
    assert Counter(status for _, status, _, _ in rows) == {S.SENDING.value: total}
    assert {attempts for _, _, attempts, _ in rows} == {1}  # the outage used none of their attempts
    bodies = Counter(m.body for m in twilio.messages)
    assert set(bodies) == {BODY.format(i) for i in range(total)} and max(bodies.values()) == 1  # each once
    sid_of = {nid: ref for nid, _, _, ref in rows}
    assert [m.sid for m in twilio.messages if m.sid not in set(sid_of.values())] == []
    # Acceptance order: the backlog goes out oldest first, a delivery batch at a time. Within one batch the
    # sends are concurrent, so no message may arrive after one accepted a whole batch or more later.
    rank = {BODY.format(i): i for i in range(total)}
    arrivals = [rank[m.body] for m in twilio.messages]
    assert arrivals[0] == 0, "the probe is the oldest held message"
    latest, worst = -1, 0
    for r in arrivals:
        worst = max(worst, latest - r)
        latest = max(latest, r)
    assert worst < h.settings.delivery_batch_size, f"a message arrived {worst} places late"
    assert await h.ctx["breaker"].status() == []  # closed again
    return {
        "outage_s": round(outage, 1),
        "refused": refused_in_outage,
        "drained_s": round(drained_after, 2),
        "worst_lag": worst,
    }


async def test_an_outage_longer_than_the_retry_budget_loses_nothing(
    harness: Harness, sender_service: ServiceUnderTest, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    figures = await ride_out_an_outage(harness, sender_service, fake_twilio[0], 150)
    print("outage:", figures)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("backend", ["local"], indirect=True)
async def test_a_thousand_messages_ride_out_an_outage_embedded(
    harness: Harness,
    sender_service: ServiceUnderTest,
    fake_twilio: tuple[FakeTwilio, str],
) -> None:
    """The issue's figure on SQLite with the in-process queue: 1,000 SMS, all delivered once, in order."""
    # embedded mode only: SQLite with the in-process queue (PostgreSQL + arq: test_outage_workers.py)
    figures = await ride_out_an_outage(harness, sender_service, fake_twilio[0], 1000)
    print("outage, 1,000 embedded:", figures)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("backend", ["arq"], indirect=True)
async def test_an_outage_seen_as_timeouts_loses_nothing_and_sends_nothing_twice(
    harness: Harness, sender_service: ServiceUnderTest, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    """As on a loaded machine: every send times out at the client (the fake answers the outage's 503 after
    0.6 s, the timeout is 0.5 s) until the outage ends. Each timed-out message is looked for at Twilio before it goes
    again (`gateway.jobs.unsure`); the lookups during the outage are refused too."""
    twilio = fake_twilio[0]
    twilio.outage_delay = 0.6
    figures = await ride_out_an_outage(harness, sender_service, twilio, 150)
    assert twilio.lookups > 0  # the timed-out messages were looked for before they went again
    print("outage seen as timeouts:", figures)


@pytest.fixture(params=["local", "redis"])
def breaker_backend(request: pytest.FixtureRequest) -> tuple[str, str]:
    """("", "") for the in-process breaker; the Redis URL and this test's own prefix for the Redis one."""
    if request.param == "local":
        return "", ""
    return request.getfixturevalue("live_redis"), request.getfixturevalue("redis_prefix")


@pytest.fixture
async def breaker(breaker_backend: tuple[str, str]) -> AsyncIterator[Breaker]:
    """The in-process breaker, and the Redis one (its Lua script)."""
    url, prefix = breaker_backend
    if not url:
        yield LocalBreaker(threshold=3, probe_seconds=0.05)
        return
    client: Redis = Redis.from_url(url)
    try:
        yield RedisBreaker(client, prefix, threshold=3, probe_seconds=0.05)
    finally:
        await client.aclose()


async def test_the_breaker_pauses_probes_one_at_a_time_and_drains(breaker: Breaker) -> None:
    key = "twilio:+15005550006"
    assert (await breaker.record(key, 0, 2, None)).after is BreakerState.CLOSED  # below the threshold
    assert (await breaker.record(key, 1, 0, None)).after is BreakerState.CLOSED  # an answer resets the count
    assert await breaker.status() == []
    opened = await breaker.record(key, 0, 3, None)
    assert (opened.before, opened.after) == (BreakerState.CLOSED, BreakerState.OPEN)
    assert not (await breaker.admit(key, probe=True)).probe  # not due yet
    await asyncio.sleep(0.06)
    assert not (await breaker.admit(key)).probe  # only the probe job may probe
    first = await breaker.admit(key, probe=True)
    assert first.probe and first.state is BreakerState.PROBING
    assert not (await breaker.admit(key, probe=True)).probe  # one probe at a time
    assert (await breaker.record(key, 0, 1, 0.2)).after is BreakerState.OPEN  # the probe failed; Retry-After wins
    await asyncio.sleep(0.06)
    assert not (await breaker.admit(key, probe=True)).probe
    await asyncio.sleep(0.15)
    assert (await breaker.admit(key, probe=True)).probe
    assert (await breaker.record(key, 1, 0, None)).after is BreakerState.DRAINING
    assert [b.state for b in await breaker.status()] == [BreakerState.DRAINING]
    assert await breaker.drained(key) and await breaker.status() == []
