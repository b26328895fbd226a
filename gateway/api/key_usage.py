"""When each API key was last used, kept cheaply.

`api_keys.last_used_at` is for people (the admin keys page, `gateway key list`): "used today" or
"not used since March" is what they need, not the exact request. So each process writes a key's
time at most once a minute (`WRITE_EVERY_SECONDS`): the first request a key makes in a minute
schedules one conditional UPDATE in the background (`... WHERE last_used_at IS NULL OR
last_used_at < now - 1 minute`, so several processes do not rewrite each other's minute), and
every other request costs one dict look-up. The request never waits for the write; a failed write
is logged and tried again with the next minute's request. The figure shown is therefore at most
a minute (plus the write's own delay) behind.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import structlog
from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db import ApiKey
from gateway.db.base import utcnow
from gateway.db.write_lock import write_lock

log = structlog.get_logger()
WRITE_EVERY_SECONDS = 60.0


class KeyUsage:
    """Records `last_used_at` per key: at most one write a minute per key and process."""

    def __init__(self, engine: AsyncEngine, *, every: float = WRITE_EVERY_SECONDS) -> None:
        self._engine = engine
        self._every = every
        self._written: dict[uuid.UUID, float] = {}  # one entry per key that exists: bounded
        self._tasks: set[asyncio.Task[None]] = set()

    def seen(self, key_id: uuid.UUID) -> None:
        """Note that `key_id` authenticated a request now (never waits)."""
        now = time.monotonic()
        last = self._written.get(key_id)
        if last is not None and now - last < self._every:
            return
        self._written[key_id] = now
        task = asyncio.get_running_loop().create_task(self._write(key_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, key_id: uuid.UUID) -> None:
        now = utcnow()
        stale = now - timedelta(seconds=self._every)
        try:
            async with write_lock(self._engine), self._engine.begin() as conn:
                await conn.execute(
                    update(ApiKey)
                    .where(ApiKey.id == key_id, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < stale))
                    .values(last_used_at=now)
                )
        except Exception:
            self._written.pop(key_id, None)  # try again with the next request
            log.warning("api_key_last_used_write_failed", key_id=str(key_id), exc_info=True)

    async def flush(self) -> None:
        """Wait for the writes in flight (tests, and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
