"""`gateway broadcast status ID [--watch]`: a broadcast's name, status and progress bar."""

from __future__ import annotations

import asyncio
import uuid

from gateway.broadcasts.lifecycle import B
from gateway.broadcasts.progress import bar, counts
from gateway.db import Broadcast
from gateway.db.engine import engine_from_settings, session_factory
from gateway.settings import Settings

MOVING = (B.SCHEDULED.value, B.SENDING.value, B.PAUSED.value)


async def print_status(settings: Settings, raw_id: str, *, watch: bool = False) -> int:
    from gateway.cli import parse_uuid
    from gateway.commands import CommandError

    broadcast_id: uuid.UUID = parse_uuid(raw_id, "the broadcast id")
    engine = engine_from_settings(settings)
    try:
        sessions = session_factory(engine)
        while True:
            async with sessions() as db:
                broadcast = await db.get(Broadcast, broadcast_id)
                if broadcast is None:
                    raise CommandError(f"no broadcast {broadcast_id}")
                figures = await counts(db, broadcast_id)
            print(f"{broadcast.name}  ({broadcast.status}; {broadcast.audience})")
            print(bar(figures), flush=True)
            if not watch or broadcast.status not in MOVING:
                return 0
            await asyncio.sleep(1.0)
    finally:
        await engine.dispose()
