"""Rate limits, in one place for the API and the delivery job.

Two primitives behind one `RateLimiter` interface:

* a token bucket (`take`): `rate` tokens a second, at most `burst` saved up. `take(key, rate, burst,
  count)` takes as many of `count` tokens as there are and says how many it took, and the seconds
  until the next one when it took fewer (ask again then). `acquire` is `take` of one token.
* a schedule (`schedule`): the same bucket allowed to go into debt, for senders. Each of `count`
  messages gets a slot: now while tokens last, then one every 1/rate seconds after the last slot
  given out, whichever job asked for it. A message waits for its slot and takes no second token,
  so a backlog of thousands costs one wake-up per message, in order, at the sender's rate.
* a daily counter (`reserve_daily` / `release_daily`): a send is counted before its row is
  stored and given back if storing fails. A counter that is missing (a new day, or Redis
  restarted) is seeded from the database.

`admit` does both for one API send in one call (one Redis round trip): a token from the API key's
bucket (Notify's 3,000 requests a minute), then a count against the service's daily limit;
`admit_send` wraps it for the API and gives the count back when nothing is stored.

`RedisRateLimiter` keeps the state in Redis, updated by small Lua scripts so that every web process
and worker draws from the same bucket; it uses Redis's clock, not the callers'. `LocalRateLimiter`
keeps it in process memory, for embedded mode (no GATEWAY_REDIS_URL).

When Redis cannot be reached the limiter lets the request through and logs a warning: a Redis
outage must not stop intake (the rows are committed and the sweeper delivers them later).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.db import Notification
from gateway.domain import KeyType
from gateway.errors import RateLimited, TooManyRequests

log = structlog.get_logger()
Seed = Callable[[], Awaitable[int]]

# Refill the bucket KEYS[1] (ARGV: rate a second, burst, tokens wanted) by Redis's clock ...
_REFILL = """
local rate, burst, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]), tonumber(state[2])
if tokens == nil or at == nil then tokens, at = burst, now end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
"""
# ... and store it back, to live until it would be full again (any debt repaid).
_STORE = """
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)
"""
_TAKE = (
    _REFILL
    + """
local granted = math.min(want, math.floor(tokens))
tokens = tokens - granted
local wait_ms = 0
if granted < want then wait_ms = math.ceil((1 - tokens) * 1000 / rate) end
"""
    + _STORE
)
_BUCKET = _TAKE + "return {granted, wait_ms}"
# A bucket that may go into debt: one delay (ms) per message.
_SCHEDULE = (
    _REFILL
    + """
local delays = {}
for i = 1, want do
  tokens = tokens - 1
  if tokens >= 0 then delays[i] = 0 else delays[i] = math.ceil(-tokens * 1000 / rate) end
end
"""
    + _STORE
    + "return delays"
)
# KEYS[2], when given, is the daily counter (ARGV[4] its limit): counted only when the token was taken.
# The third value: 1 counted (or not asked), 0 the day's limit is used up, -1 no counter yet (seed it).
_ADMIT = (
    _TAKE
    + """
if granted < want or #KEYS == 1 then return {granted, wait_ms, 1} end
local count = redis.call('GET', KEYS[2])
if not count then return {granted, 0, -1} end
if tonumber(count) >= tonumber(ARGV[4]) then return {granted, 0, 0} end
redis.call('INCR', KEYS[2])
return {granted, 0, 1}
"""
)

_DAILY = """
local count = redis.call('GET', KEYS[1])
if not count then return -1 end
if tonumber(count) >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
return 1
"""


@dataclass(frozen=True)
class Daily:
    """A daily counter to count one against: its key, the day's limit, and how to seed it."""

    key: str
    limit: int
    seed: Seed


class RateLimiter(Protocol):
    """Token buckets and daily counters, shared by every process that uses the same backend."""

    async def take(self, key: str, rate: float, burst: float, count: int) -> tuple[int, float]:
        """Take up to `count` tokens: (how many were taken, seconds until the next one if fewer than `count`)."""

    async def acquire(self, key: str, rate: float, burst: float) -> float:
        """Take one token: 0.0 when taken, else seconds until one is available."""

    async def schedule(self, key: str, rate: float, burst: float, count: int) -> list[float]:
        """A send slot for each of `count` messages: seconds from now (0.0: a token now), in order."""

    async def reserve_daily(self, key: str, limit: int, seed: Seed) -> bool:
        """Count one against today's `limit`; False (nothing counted) when it is used up."""

    async def release_daily(self, key: str) -> None:
        """Give back one reserved by `reserve_daily`."""

    async def admit(self, key: str, rate: float, burst: float, daily: Daily | None) -> tuple[float, bool]:
        """One token from `key`'s bucket and, if one was taken, one count against `daily`:
        (0.0, True) when both were taken; (seconds until a token, False) when the bucket is empty;
        (0.0, False) when the day's limit is used up (the token stays taken)."""


def _day_ttl() -> int:
    """Seconds until an hour after the next UTC midnight: a day's counter outlives its day a little."""
    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return int((midnight - now).total_seconds()) + 3600


class LocalRateLimiter:
    """In-process limiter for embedded mode: one process, so process memory is shared enough."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._daily: dict[str, int] = {}

    async def take(self, key: str, rate: float, burst: float, count: int) -> tuple[int, float]:
        now = time.monotonic()
        tokens, at = self._buckets.get(key, (burst, now))
        tokens = min(burst, tokens + (now - at) * rate)
        granted = min(count, math.floor(tokens))
        tokens -= granted
        self._buckets[key] = (tokens, now)
        return granted, 0.0 if granted == count else (1 - tokens) / rate

    async def acquire(self, key: str, rate: float, burst: float) -> float:
        return (await self.take(key, rate, burst, 1))[1]

    async def schedule(self, key: str, rate: float, burst: float, count: int) -> list[float]:
        now = time.monotonic()
        tokens, at = self._buckets.get(key, (burst, now))
        tokens = min(burst, tokens + (now - at) * rate)
        delays = []
        for _ in range(count):
            tokens -= 1
            delays.append(0.0 if tokens >= 0 else -tokens / rate)
        self._buckets[key] = (tokens, now)
        return delays

    async def reserve_daily(self, key: str, limit: int, seed: Seed) -> bool:
        if key not in self._daily:
            count = await seed()
            today = key.rsplit(":", 1)[-1]
            self._daily = {k: v for k, v in self._daily.items() if k.endswith(today)}  # forget past days
            self._daily.setdefault(key, count)
        if self._daily[key] >= limit:
            return False
        self._daily[key] += 1
        return True

    async def release_daily(self, key: str) -> None:
        if self._daily.get(key, 0) > 0:
            self._daily[key] -= 1

    async def admit(self, key: str, rate: float, burst: float, daily: Daily | None) -> tuple[float, bool]:
        wait = await self.acquire(key, rate, burst)
        if wait > 0:
            return wait, False
        return 0.0, daily is None or await self.reserve_daily(daily.key, daily.limit, daily.seed)


class RedisRateLimiter:
    """Limiter state in Redis under `{prefix}:rl:`, shared by every web process and worker."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:rl:"
        self._bucket = redis.register_script(_BUCKET)
        self._daily = redis.register_script(_DAILY)
        self._admit = redis.register_script(_ADMIT)
        self._schedule = redis.register_script(_SCHEDULE)

    async def take(self, key: str, rate: float, burst: float, count: int) -> tuple[int, float]:
        try:
            granted, wait_ms = await self._bucket(keys=[self._prefix + key], args=[rate, burst, count])
        except (RedisError, OSError) as exc:
            log.warning("rate_limit_unavailable", limit="bucket", error=type(exc).__name__)
            return count, 0.0
        return int(granted), int(wait_ms) / 1000

    async def acquire(self, key: str, rate: float, burst: float) -> float:
        return (await self.take(key, rate, burst, 1))[1]

    async def schedule(self, key: str, rate: float, burst: float, count: int) -> list[float]:
        try:
            delays = await self._schedule(keys=[self._prefix + key], args=[rate, burst, count])
        except (RedisError, OSError) as exc:
            log.warning("rate_limit_unavailable", limit="schedule", error=type(exc).__name__)
            return [0.0] * count
        return [int(ms) / 1000 for ms in delays]

    async def reserve_daily(self, key: str, limit: int, seed: Seed) -> bool:
        full = self._prefix + key
        try:
            result = int(await self._daily(keys=[full], args=[limit]))
            if result == -1:
                await self._redis.set(full, await seed(), nx=True, ex=_day_ttl())
                result = int(await self._daily(keys=[full], args=[limit]))
        except (RedisError, OSError) as exc:
            log.warning("rate_limit_unavailable", limit="daily", error=type(exc).__name__)
            return True
        return result == 1

    async def release_daily(self, key: str) -> None:
        try:
            await self._redis.decr(self._prefix + key)
        except (RedisError, OSError) as exc:
            log.warning("rate_limit_unavailable", limit="daily", error=type(exc).__name__)

    async def admit(self, key: str, rate: float, burst: float, daily: Daily | None) -> tuple[float, bool]:
        keys = [self._prefix + key] + ([self._prefix + daily.key] if daily else [])
        try:
            granted, wait_ms, counted = await self._admit(keys=keys, args=[rate, burst, 1, daily.limit if daily else 0])
        except (RedisError, OSError) as exc:
            log.warning("rate_limit_unavailable", limit="admit", error=type(exc).__name__)
            return 0.0, True
        if not int(granted):
            return int(wait_ms) / 1000, False
        if int(counted) == -1 and daily is not None:  # no counter for today yet: seed it, then count
            return 0.0, await self.reserve_daily(daily.key, daily.limit, daily.seed)
        return 0.0, int(counted) == 1


async def sent_today(sessions: async_sessionmaker[AsyncSession], service_id: uuid.UUID) -> int:
    """Notifications the service has had accepted since UTC midnight (test keys do not count)."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    async with sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.service_id == service_id,
                Notification.created_at >= midnight,
                Notification.key_type != KeyType.TEST.value,
            )
        )
    return int(count or 0)


class Admitted:
    """An API send let through by `admit_send`; `give_back()` returns its count against the daily limit."""

    def __init__(self, limiter: RateLimiter, daily_key: str | None) -> None:
        self._limiter, self._daily_key = limiter, daily_key

    async def give_back(self) -> None:
        """Nothing was stored after all (an idempotent replay, a failure): uncount it, once."""
        if self._daily_key is not None:
            key, self._daily_key = self._daily_key, None
            await self._limiter.release_daily(key)


@asynccontextmanager
async def admit_send(
    limiter: RateLimiter,
    sessions: async_sessionmaker[AsyncSession],
    *,
    key_id: uuid.UUID,
    key_type: KeyType,
    per_minute: int,
    service_id: uuid.UUID,
    daily_limit: int,
) -> AsyncIterator[Admitted]:
    """One API send against the key's rate limit (Notify's 429 RateLimitError) and the service's daily
    limit (Notify's 429 TooManyRequestsError), checked first, as Notify does, in one limiter call. The
    daily count is given back if the body raises or calls `give_back()`: only stored notifications
    count. Test keys, as in Notify, neither count nor are limited daily."""
    daily = None
    if key_type is not KeyType.TEST:
        key = f"daily:{service_id}:{datetime.now(UTC).date().isoformat()}"
        daily = Daily(key, daily_limit, lambda: sent_today(sessions, service_id))
    wait, allowed = await limiter.admit(f"api:{key_id}", per_minute / 60, per_minute, daily)
    if wait > 0:
        raise RateLimited(
            f"Exceeded rate limit for key type {key_type.value.upper()} of {per_minute} requests per 60 seconds"
        )
    if not allowed:
        raise TooManyRequests(f"Exceeded send limits ({daily_limit}) for today")
    admitted = Admitted(limiter, daily.key if daily else None)
    try:
        yield admitted
    except BaseException:
        await admitted.give_back()
        raise
