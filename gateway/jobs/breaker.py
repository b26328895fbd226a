"""A circuit breaker per provider and sender: a failing provider pauses its sender instead of failing messages.

Each (provider, sender) pair — `twilio:+15005550006`, `smtp:notify@agency.example` — has a breaker,
shared by every worker through Redis when scaled (`RedisBreaker`, small Lua scripts in the manner of
`gateway.sendtime.ratelimit`, on Redis's clock) and in process memory when embedded (`LocalBreaker`):

| state    | what the delivery job does with the sender's messages                                     |
| closed   | sends them                                                                                |
| open     | holds them (`held_for`, see `gateway.jobs.held`); after GATEWAY_BREAKER_PROBE_SECONDS one  |
|          | caller is given the probe: it sends the oldest held message alone                         |
| probing  | holds them; the probe is out (if its sender dies, another probe is given after the same wait) |
| draining | the probe got through: the held backlog goes out oldest first, a batch at a time; messages |
|          | accepted meanwhile join the back of it, so the sender's order is kept; then `closed`      |

Only provider-wide errors (`ChannelError.provider_wide`: 5xx, 429, timeouts, refused connections)
count: GATEWAY_BREAKER_FAILURES of them with no answer from the provider in between open the breaker;
a probe that fails opens it again (after Retry-After, if the provider gave a longer one). Any answer
from the provider — accepted, or refused for reasons about one message — resets the count, and a
probe that gets one moves the breaker to `draining`.

When Redis cannot be reached the breaker says `closed` and logs a warning: sends then fail or succeed
on their own, and a provider-wide failure still never uses a message's attempts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger()


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    PROBING = "probing"
    DRAINING = "draining"


@dataclass(frozen=True)
class Admission:
    """What a delivery job may send for one sender now: `state`; `probe`: this caller sends one message,
    the oldest; `probe_at_ms`: when (Unix ms) a probe may next be given, while open or probing."""

    state: BreakerState
    probe: bool = False
    probe_at_ms: int = 0


@dataclass(frozen=True)
class Recorded:
    """The breaker's state before and after a job's outcomes for one sender were counted."""

    before: BreakerState
    after: BreakerState
    probe_at_ms: int = 0
    failures: int = 0


@dataclass(frozen=True)
class BreakerStatus:
    """One breaker that is not closed, for the CLI and /readyz."""

    key: str
    state: BreakerState
    since_ms: int
    probe_at_ms: int
    failures: int


class Breaker(Protocol):
    """The breakers of every sender, shared by every process that uses the same backend."""

    async def admit(self, key: str, *, probe: bool = False) -> Admission:
        """May messages from `key` be sent now? With `probe` (the probe job), gives it the probe when due."""

    async def record(self, key: str, answered: int, failed: int, retry_after: float | None) -> Recorded:
        """Count a job's sends for `key`: `answered` got an answer from the provider, `failed` were
        provider-wide failures (the longest Retry-After among them, if any)."""

    async def drained(self, key: str) -> bool:
        """Nothing is held for `key` any more: `draining` -> `closed`. True if it changed."""

    async def status(self) -> list[BreakerStatus]:
        """Every breaker that is not closed."""


# KEYS[1] the breaker's hash; ARGV: op, threshold, probe ms, then for admit: may probe (1/0); for
# record: answered, failed, retry-after ms.
# Fields: state, failures, since (ms), probe_at (ms). A closed breaker with no failures is deleted.
_BREAKER = """
local op = ARGV[1]
local threshold, probe_ms = tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local h = redis.call('HMGET', KEYS[1], 'state', 'failures', 'since', 'probe_at')
local state, failures = h[1] or 'closed', tonumber(h[2]) or 0
local since, probe_at = tonumber(h[3]) or now, tonumber(h[4]) or 0
local before, probe = state, 0
if op == 'admit' then
  if ARGV[4] == '1' and (state == 'open' or state == 'probing') and now >= probe_at then
    state, probe, probe_at = 'probing', 1, now + probe_ms
  end
elseif op == 'record' then
  local answered, failed, wait = tonumber(ARGV[4]), tonumber(ARGV[5]), math.max(probe_ms, tonumber(ARGV[6]))
  if answered > 0 then
    failures = 0
    if state == 'open' or state == 'probing' then state, since = 'draining', now end
  end
  if failed > 0 and state ~= 'open' then
    failures = failures + failed
    if state == 'probing' then
      state, probe_at = 'open', now + wait
    elseif failures >= threshold then
      state, since, probe_at = 'open', now, now + wait
    end
  end
elseif op == 'drained' then
  if state == 'draining' then state = 'closed' end
end
if state == 'closed' and failures == 0 then
  if h[1] then redis.call('DEL', KEYS[1]) end
elseif state ~= before or op ~= 'admit' or probe == 1 then
  redis.call('HSET', KEYS[1], 'state', state, 'failures', failures, 'since', since, 'probe_at', probe_at)
end
return {before, state, probe, probe_at, failures, since}
"""


class RedisBreaker:
    """Breaker state in Redis under `{prefix}:breaker:`, shared by every web process and worker."""

    def __init__(self, redis: Redis, prefix: str, threshold: int, probe_seconds: float) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:breaker:"
        self._threshold, self._probe_ms = threshold, round(probe_seconds * 1000)
        self._script = redis.register_script(_BREAKER)

    async def _call(self, op: str, key: str, *args: float) -> tuple[str, str, int, int, int, int] | None:
        values: list[str | int | float] = [op, self._threshold, self._probe_ms, *args]
        try:
            before, after, probe, probe_at, failures, since = await self._script(keys=[self._prefix + key], args=values)
        except (RedisError, OSError) as exc:
            log.warning("breaker.unavailable", op=op, error=type(exc).__name__)
            return None
        return _text(before), _text(after), int(probe), int(probe_at), int(failures), int(since)

    async def admit(self, key: str, *, probe: bool = False) -> Admission:
        found = await self._call("admit", key, 1 if probe else 0)
        if found is None:
            return Admission(BreakerState.CLOSED)
        return Admission(BreakerState(found[1]), bool(found[2]), found[3])

    async def record(self, key: str, answered: int, failed: int, retry_after: float | None) -> Recorded:
        found = await self._call("record", key, answered, failed, round((retry_after or 0) * 1000))
        if found is None:
            return Recorded(BreakerState.CLOSED, BreakerState.CLOSED)
        return Recorded(BreakerState(found[0]), BreakerState(found[1]), found[3], found[4])

    async def drained(self, key: str) -> bool:
        found = await self._call("drained", key)
        return found is not None and found[0] != found[1]

    async def status(self) -> list[BreakerStatus]:
        found = []
        try:
            async for raw in self._redis.scan_iter(match=self._prefix + "*", count=500):
                fields: dict[bytes | str, bytes | str] = await self._redis.hgetall(raw)  # type: ignore[misc]
                values = {_text(k): _text(v) for k, v in fields.items()}
                if values.get("state", "closed") == "closed":
                    continue
                key = _text(raw).removeprefix(self._prefix)
                found.append(
                    BreakerStatus(
                        key,
                        BreakerState(values["state"]),
                        int(values.get("since", 0)),
                        int(values.get("probe_at", 0)),
                        int(values.get("failures", 0)),
                    )
                )
        except (RedisError, OSError) as exc:
            log.warning("breaker.unavailable", op="status", error=type(exc).__name__)
        return sorted(found, key=lambda b: b.key)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass
class _Local:
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    since: int = 0
    probe_at: int = 0


class LocalBreaker:
    """In-process breakers for embedded mode (one process delivers); the same rules as the Lua script."""

    def __init__(self, threshold: int, probe_seconds: float) -> None:
        self._threshold, self._probe_ms = threshold, round(probe_seconds * 1000)
        self._breakers: dict[str, _Local] = {}

    def _now(self) -> int:
        return round(time.time() * 1000)

    async def admit(self, key: str, *, probe: bool = False) -> Admission:
        b = self._breakers.get(key)
        if b is None:
            return Admission(BreakerState.CLOSED)
        now = self._now()
        if probe and b.state in (BreakerState.OPEN, BreakerState.PROBING) and now >= b.probe_at:
            b.state, b.probe_at = BreakerState.PROBING, now + self._probe_ms
            return Admission(b.state, True, b.probe_at)
        return Admission(b.state, False, b.probe_at)

    async def record(self, key: str, answered: int, failed: int, retry_after: float | None) -> Recorded:
        now = self._now()
        b = self._breakers.setdefault(key, _Local(since=now))
        before, wait = b.state, max(self._probe_ms, round((retry_after or 0) * 1000))
        if answered > 0:
            b.failures = 0
            if b.state in (BreakerState.OPEN, BreakerState.PROBING):
                b.state, b.since = BreakerState.DRAINING, now
        if failed > 0 and b.state is not BreakerState.OPEN:
            b.failures += failed
            if b.state is BreakerState.PROBING:
                b.state, b.probe_at = BreakerState.OPEN, now + wait
            elif b.failures >= self._threshold:
                b.state, b.since, b.probe_at = BreakerState.OPEN, now, now + wait
        if b.state is BreakerState.CLOSED and b.failures == 0:
            del self._breakers[key]
        return Recorded(before, b.state, b.probe_at, b.failures)

    async def drained(self, key: str) -> bool:
        b = self._breakers.get(key)
        if b is None or b.state is not BreakerState.DRAINING:
            return False
        del self._breakers[key]
        return True

    async def status(self) -> list[BreakerStatus]:
        return [
            BreakerStatus(key, b.state, b.since, b.probe_at, b.failures)
            for key, b in sorted(self._breakers.items())
            if b.state is not BreakerState.CLOSED
        ]
