"""Group commit for webhook storage: many inbound messages, one transaction, before any is answered.

Each Twilio webhook hands its row to the `InboundWriter` and waits (`gateway.db.group_commit`).
One writer task takes every row waiting (up to `max_batch`), inserts them with one multi-row
`INSERT ... ON CONFLICT DO NOTHING RETURNING id` in one transaction, finds the ids of the ones
already stored (a Twilio retry, or the same MessageSid twice in the batch), and only then answers
every waiting request with (id, created now?). So a 200 still means "committed", while the database sees one
transaction per batch instead of one per webhook, the same way `gateway.api.intake` takes API
sends.

A batch that fails is retried row by row (`store_inbound`), so one bad row fails only its own
request (which answers 500, and Twilio tries again).
"""

from __future__ import annotations

import uuid
from typing import Any, cast

import structlog
from sqlalchemy import Table, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.crypto import Vault
from gateway.db import InboundMessage
from gateway.db.group_commit import GroupWriter, Pending
from gateway.db.write_lock import write_lock
from gateway.inbound.store import Arrival, inbound_row, store_inbound

log = structlog.get_logger()
TABLE = cast(Table, InboundMessage.__table__)  # Core, not ORM: no per-row ORM bookkeeping


Result = tuple[uuid.UUID, bool]  # (row id, created now?)
Item = tuple[Arrival, dict[str, Any]]  # the webhook's arrival and the row it becomes


class InboundWriter(GroupWriter[Item, Result]):
    """Commits inbound rows in groups; `submit` returns once its row is durable."""

    def __init__(self, engine: AsyncEngine, vault: Vault, *, max_batch: int = 200) -> None:
        super().__init__("inbound-writer", max_batch)
        self._engine = engine
        self._vault = vault

    async def submit(self, arrival: Arrival) -> Result:
        """Store the message unless its provider id is stored already: (row id, created now?)."""
        return await self.write((arrival, inbound_row(self._vault, arrival)))

    async def commit_group(self, group: list[Pending[Item, Result]]) -> None:
        try:
            results = await self._commit([p.item[1] for p in group])
        except Exception as exc:
            log.warning("inbound_writer.batch_failed", size=len(group), error=type(exc).__name__)
            await self._one_by_one(group)
            return
        for pending in group:
            pending.done.set_result(results[pending.item[1]["id"]])

    async def _one_by_one(self, group: list[Pending[Item, Result]]) -> None:
        for pending in group:
            if pending.done.done():
                continue
            try:
                pending.done.set_result(await store_inbound(self._engine, self._vault, pending.item[0]))
            except Exception as exc:
                pending.done.set_exception(exc)

    async def _commit(self, rows: list[dict[str, Any]]) -> dict[uuid.UUID, Result]:
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
