"""The live hub: events reach subscribers of their service only, in process and through Redis pub/sub."""

from __future__ import annotations

import asyncio
import secrets
import uuid

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.live import InProcessHub, LiveHub, RedisHub
from tests.services import redis_url, require_services


async def _round_trip(hub: LiveHub) -> None:
    mine, other = uuid.uuid4(), uuid.uuid4()
    async with hub.subscribe(mine) as events, hub.subscribe(other) as elsewhere:
        await asyncio.sleep(0.05)  # Redis: the subscription is active before the first publish
        await hub.publish(other, {"type": "inbound_message", "conversation_id": "c-2"})
        await hub.publish(mine, {"type": "inbound_message", "conversation_id": "c-1"})
        assert await asyncio.wait_for(anext(events), 2) == {"type": "inbound_message", "conversation_id": "c-1"}
        assert (await asyncio.wait_for(anext(elsewhere), 2))["conversation_id"] == "c-2"
    await hub.publish(mine, {"type": "after unsubscribing"})  # nobody listening: no error


async def test_in_process_hub() -> None:
    hub = InProcessHub()
    await _round_trip(hub)
    await hub.close()


async def test_redis_hub_fans_out_between_hubs() -> None:
    url = redis_url()
    probe: Redis = Redis.from_url(url)
    try:
        await probe.ping()
    except (RedisError, OSError) as exc:
        require_services(f"Redis not reachable at {url} ({type(exc).__name__})")
    finally:
        await probe.aclose()
    prefix = f"gwtest-{secrets.token_hex(4)}"
    web, worker = RedisHub(url, prefix), RedisHub(url, prefix)
    try:
        await _round_trip(web)
        service = uuid.uuid4()
        async with web.subscribe(service) as events:  # a worker process publishes, the web process hears
            await asyncio.sleep(0.05)
            await worker.publish(service, {"type": "inbound_message", "unread_count": 3})
            assert await asyncio.wait_for(anext(events), 2) == {"type": "inbound_message", "unread_count": 3}
    finally:
        await web.close()
        await worker.close()


@pytest.mark.parametrize("hub", [InProcessHub()])
async def test_a_slow_subscriber_loses_events_not_memory(hub: InProcessHub) -> None:
    service = uuid.uuid4()
    async with hub.subscribe(service) as events:
        for n in range(300):
            await hub.publish(service, {"n": n})
        first = await asyncio.wait_for(anext(events), 1)
    assert first == {"n": 0}
