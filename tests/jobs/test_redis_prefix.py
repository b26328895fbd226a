"""GATEWAY_REDIS_PREFIX covers arq's own keys: with a real Redis and a real arq worker, every key
written for a delivery either starts with the prefix or is one of arq's fixed `arq:<kind>:` keys
followed by a job id that starts with it (arq accepts no prefix of its own)."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from gateway.domain import Channel
from tests.factories import ServiceUnderTest
from tests.jobs.conftest import Harness, add_notification

ARQ_KINDS = ("arq:job:", "arq:retry:", "arq:in-progress:", "arq:result:")


@pytest.mark.parametrize("backend", ["arq"], indirect=True)
async def test_no_key_is_written_outside_the_prefix(harness: Harness, sender_service: ServiceUnderTest) -> None:
    prefix = harness.settings.redis_prefix
    assert harness.settings.redis_url is not None
    nid = await add_notification(harness, sender_service.id, Channel.SMS, "+12025550143")
    seen: list[str] = []
    monitor_client: Redis = Redis.from_url(harness.settings.redis_url)
    ready = asyncio.Event()

    async def watch() -> None:
        async with monitor_client.monitor() as monitor:
            ready.set()
            async for command in monitor.listen():
                if str(nid) in command["command"]:
                    seen.append(command["command"])

    watcher = asyncio.create_task(watch())
    await ready.wait()
    await harness.deliver(nid)
    await harness.run()
    await asyncio.sleep(0.2)
    watcher.cancel()
    await monitor_client.aclose()
    assert (await harness.get(nid)).status == "sending"
    keys = {word for line in seen for word in line.split() if str(nid) in word and not word.startswith("\\x")}
    assert keys, seen
    outside = [
        k
        for k in keys
        if not k.strip("'\"").startswith(f"{prefix}:")
        and not any(k.strip("'\"").startswith(kind + f"{prefix}:") for kind in ARQ_KINDS)
    ]
    assert outside == [], (outside, seen[:5])
