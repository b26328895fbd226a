"""Live updates for staff browsers: a small publish/subscribe hub per service.

Jobs publish events ("a message joined conversation X", "notification Y was delivered"); the staff
web UI subscribes per service and pushes them down its websockets. Events carry ids and counts,
never message bodies or contact details: the browser fetches what it is allowed to see.

* `InProcessHub` — embedded mode: web and jobs share one process, so a set of queues will do.
* `RedisHub` — scaled mode: web and worker processes are separate, so events fan out through
  Redis pub/sub on `<prefix>:live:<service id>`.

`make_live_hub(settings)` picks one; open it in a `cleanup_ctx` / arq `on_startup` and `close()` it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import orjson
import structlog
from redis.asyncio import Redis

from gateway.settings import Settings

log = structlog.get_logger()
Event = dict[str, Any]
SUBSCRIBER_BUFFER = 256


class LiveHub(Protocol):
    """Publish events to every subscriber of a service, in this process or any other."""

    async def publish(self, service_id: uuid.UUID, event: Mapping[str, Any]) -> None:
        """Send one event; never raises for a slow or missing subscriber."""
        ...

    def subscribe(self, service_id: uuid.UUID) -> AbstractAsyncContextManager[AsyncIterator[Event]]:
        """`async with hub.subscribe(sid) as events: async for event in events: ...`"""
        ...

    async def close(self) -> None: ...


class InProcessHub:
    """Subscribers are bounded queues; a subscriber that falls behind loses events, not memory."""

    def __init__(self) -> None:
        self._subscribers: dict[uuid.UUID, set[asyncio.Queue[Event]]] = {}

    async def publish(self, service_id: uuid.UUID, event: Mapping[str, Any]) -> None:
        for queue in list(self._subscribers.get(service_id, ())):
            try:
                queue.put_nowait(dict(event))
            except asyncio.QueueFull:
                log.warning("live_subscriber_behind", service_id=str(service_id))

    @contextlib.asynccontextmanager
    async def subscribe(self, service_id: uuid.UUID) -> AsyncIterator[AsyncIterator[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(SUBSCRIBER_BUFFER)
        self._subscribers.setdefault(service_id, set()).add(queue)

        async def events() -> AsyncIterator[Event]:
            while True:
                yield await queue.get()

        try:
            yield events()
        finally:
            subscribers = self._subscribers.get(service_id, set())
            subscribers.discard(queue)
            if not subscribers:
                self._subscribers.pop(service_id, None)

    async def close(self) -> None:
        self._subscribers.clear()


class RedisHub:
    """Redis pub/sub: every process's subscribers see every process's events."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self._redis: Redis = Redis.from_url(redis_url)
        self._prefix = prefix

    def channel(self, service_id: uuid.UUID) -> str:
        return f"{self._prefix}:live:{service_id}"

    async def publish(self, service_id: uuid.UUID, event: Mapping[str, Any]) -> None:
        try:
            await self._redis.publish(self.channel(service_id), orjson.dumps(dict(event)))
        except Exception:  # a live push is best effort: the database already holds the truth
            log.warning("live_publish_failed", service_id=str(service_id), exc_info=True)

    @contextlib.asynccontextmanager
    async def subscribe(self, service_id: uuid.UUID) -> AsyncIterator[AsyncIterator[Event]]:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self.channel(service_id))

        async def events() -> AsyncIterator[Event]:
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    yield orjson.loads(message["data"])

        try:
            yield events()
        finally:
            with contextlib.suppress(Exception):
                await pubsub.unsubscribe()
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        await self._redis.aclose()


def make_live_hub(settings: Settings) -> LiveHub:
    """Redis pub/sub when Redis is configured (scaled mode), in-process queues otherwise."""
    if settings.redis_url:
        return RedisHub(settings.redis_url, settings.redis_prefix)
    return InProcessHub()
