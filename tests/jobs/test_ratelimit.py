"""Rate limiters (in-process and Redis), and the per-sender limit applied by the delivery job."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.domain import Channel, NotificationStatus
from gateway.sendtime.ratelimit import Daily, LocalRateLimiter, RateLimiter, RedisRateLimiter
from tests.factories import ServiceUnderTest
from tests.fakes.twilio_server import FakeTwilio
from tests.jobs.conftest import Backend, Harness, add_notification, set_service


@pytest.fixture
async def limiters(backend: Backend) -> AsyncIterator[tuple[RateLimiter, RateLimiter]]:
    """Two limiters as two processes would have them: the same one in-process, two clients on Redis."""
    if backend.redis_url is None:
        local = LocalRateLimiter()
        yield local, local
        return
    clients: list[Redis] = [Redis.from_url(backend.redis_url), Redis.from_url(backend.redis_url)]
    yield RedisRateLimiter(clients[0], backend.redis_prefix), RedisRateLimiter(clients[1], backend.redis_prefix)
    for client in clients:
        await client.aclose()


async def test_token_bucket_is_shared_and_refills(limiters: tuple[RateLimiter, RateLimiter]) -> None:
    one, two = limiters
    assert await one.acquire("sender:sms:+15005550006", 4, 2) == 0
    assert await two.acquire("sender:sms:+15005550006", 4, 2) == 0
    wait = await one.acquire("sender:sms:+15005550006", 4, 2)
    assert 0.1 < wait <= 0.25  # a token every 0.25 s
    assert await two.acquire("sender:sms:+15005550099", 4, 2) == 0  # another sender, another bucket
    await asyncio.sleep(wait + 0.02)
    assert await two.acquire("sender:sms:+15005550006", 4, 2) == 0


async def test_daily_counter_is_seeded_counted_and_given_back(limiters: tuple[RateLimiter, RateLimiter]) -> None:
    one, two = limiters
    seeds = []

    async def seed() -> int:
        seeds.append(1)
        return 1

    assert await one.reserve_daily("daily:s:2026-11-22", 3, seed) is True  # 1 (seed) + 1
    assert await two.reserve_daily("daily:s:2026-11-22", 3, seed) is True  # 3
    assert await one.reserve_daily("daily:s:2026-11-22", 3, seed) is False
    await two.release_daily("daily:s:2026-11-22")
    assert await one.reserve_daily("daily:s:2026-11-22", 3, seed) is True
    assert len(seeds) <= 2  # once per process at most, and only for a missing counter


async def test_admit_takes_a_token_then_a_daily_count(limiters: tuple[RateLimiter, RateLimiter]) -> None:
    """One call per API send: the key's bucket first; the day's count only when a token was taken."""
    one, two = limiters
    seeds = []

    async def seed() -> int:
        seeds.append(1)
        return 1  # one sent earlier today

    daily = Daily("daily:svc:2026-11-22", 3, seed)
    assert await one.admit("api:key", 1, 3, daily) == (0.0, True)  # seeded at 1, now 2
    assert await two.admit("api:key", 1, 3, daily) == (0.0, True)  # 3: the limit
    assert await one.admit("api:key", 1, 3, daily) == (0.0, False)  # token taken, day used up
    wait, allowed = await two.admit("api:key", 1, 3, daily)  # bucket empty: the day is not asked
    assert 0 < wait <= 1 and allowed is False
    await one.release_daily(daily.key)  # a stored send failed: its count comes back
    assert await two.admit("api:other", 1, 3, daily) == (0.0, True)
    assert await one.admit("api:other", 1, 3, None) == (0.0, True)  # test keys: no daily count
    assert len(seeds) <= 2  # once per process at most, and only for a missing counter


async def test_unreachable_redis_lets_requests_through() -> None:
    client: Redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    limiter = RedisRateLimiter(client, "nowhere")

    async def seed() -> int:
        return 0

    assert await limiter.acquire("api:k", 1, 1) == 0
    assert await limiter.reserve_daily("daily:k", 0, seed) is True
    assert await limiter.admit("api:k", 1, 1, Daily("daily:k", 0, seed)) == (0.0, True)
    await limiter.release_daily("daily:k")
    await client.aclose()


async def test_delivery_keeps_to_the_senders_rate(
    harness: Harness,
    sender_service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],
    fake_twilio: tuple[FakeTwilio, str],
) -> None:
    await set_service(sessions, sender_service.id, sms_per_second=2)
    ids = [await add_notification(harness, sender_service.id, Channel.SMS, f"+1202555014{i}") for i in range(4)]
    await harness.deliver(*ids)
    await harness.run()

    for nid in ids:
        assert (await harness.get(nid)).status == NotificationStatus.SENDING
    times = sorted(m.received_at for m in fake_twilio[0].messages)
    assert len(times) == 4
    # two at once (a second's worth), then one every half second: the last at least ~1 s after the first
    assert times[-1] - times[0] >= 0.9
