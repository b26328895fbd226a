"""Group commit for webhook storage: many inbound messages, one transaction, before any is answered.

Each Twilio webhook hands its row to the `InboundWriter` and waits. One writer task takes every
row waiting (up to `max_batch`), inserts them with one multi-row `INSERT ... ON CONFLICT DO
NOTHING RETURNING id` in one transaction, finds the ids of the ones already stored (a Twilio
retry, or the same MessageSid twice in the batch), and only then answers every waiting request
with (id, created now?). So a 200 still means "committed", while the database sees one
transaction per batch instead of one per webhook, the same way `gateway.api.intake` takes API
sends.

A batch that fails is retried row by row (`store_inbound`), so one bad row fails only its own
request (which answers 500, and Twilio tries again).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass, field
from typing import Any, cast

import structlog
from sqlalchemy import Table, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.crypto import Vault
from gateway.db import InboundMessage
from gateway.db.write_lock import write_lock
from gateway.inbound.store import Arrival, inbound_row, store_inbound

log = structlog.get_logger()
TABLE = cast(Table, InboundMessage.__table__)  # Core, not ORM: no per-row ORM bookkeeping


@dataclass
class _Pending:
    arrival: Arrival
    row: dict[str, Any]
    done: asyncio.Future[tuple[uuid.UUID, bool]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class InboundWriter:
    """Commits inbound rows in groups; `submit` returns once its row is durable."""

    def __init__(self, engine: AsyncEngine, vault: Vault, *, max_batch: int = 200) -> None:
        self._engine = engine
        self._vault = vault
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="inbound-writer")

    async def stop(self) -> None:
        if self._task is not None:
            await self._queue.join()  # what was accepted is committed before shutdown
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def submit(self, arrival: Arrival) -> tuple[uuid.UUID, bool]:
        """Store the message unless its provider id is stored already: (row id, created now?)."""
        if self._task is None:
            raise RuntimeError("inbound writer is not running")
        pending = _Pending(arrival, inbound_row(self._vault, arrival))
        self._queue.put_nowait(pending)
        return await pending.done

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                results = await self._commit([p.row for p in batch])
                for pending in batch:
                    pending.done.set_result(results[pending.row["id"]])
            except Exception as exc:
                log.warning("inbound_writer.batch_failed", size=len(batch), error=type(exc).__name__)
                await self._one_by_one(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _one_by_one(self, batch: list[_Pending]) -> None:
        for pending in batch:
            if pending.done.done():
                continue
            try:
                pending.done.set_result(await store_inbound(self._engine, self._vault, pending.arrival))
            except Exception as exc:
                pending.done.set_exception(exc)

    async def _commit(self, rows: list[dict[str, Any]]) -> dict[uuid.UUID, tuple[uuid.UUID, bool]]:
        insert = postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
        statement = (
            insert(TABLE).on_conflict_do_nothing(index_elements=["channel", "provider_id"]).returning(TABLE.c.id)
        )
        async with write_lock(self._engine), self._engine.begin() as conn:
            created = set((await conn.execute(statement, rows)).scalars())
            others = [r for r in rows if r["id"] not in created]
            existing: dict[tuple[str, str], uuid.UUID] = {}
            if others:
                keys = {(r["channel"], r["provider_id"]) for r in others}
                found = await conn.execute(
                    select(TABLE.c.id, TABLE.c.channel, TABLE.c.provider_id).where(
                        tuple_(TABLE.c.channel, TABLE.c.provider_id).in_(list(keys))
                    )
                )
                existing = {(r.channel, r.provider_id): r.id for r in found}
        results = {r["id"]: (r["id"], True) for r in rows if r["id"] in created}
        for r in others:
            results[r["id"]] = (existing[(r["channel"], r["provider_id"])], False)
        return results
