"""Group commit for accepted notifications.

Each API request validates and renders on its own, then hands its row to the `IntakeWriter` and
waits (`gateway.db.group_commit`). One writer task takes whatever rows are waiting (up to
`max_batch`), inserts them with one Core `INSERT ... VALUES` per table in one transaction, and only
then answers every waiting request. A 201 therefore always means "committed", yet the database sees one transaction per
batch instead of one per request (STACK.md measures ~1 ms of CPU per single-row transaction).

A batch that fails (say, a duplicate idempotency key) is retried row by row, so one bad row
fails only its own request.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.db import Notification, NotificationEvent
from gateway.db.group_commit import GroupWriter, Pending
from gateway.db.write_lock import write_lock

log = structlog.get_logger()

AfterCommit = Callable[[Sequence[uuid.UUID]], Awaitable[None]]
_NO_DEFAULT = frozenset(
    c.name for c in Notification.__table__.columns if c.default is None and c.server_default is None
)


class IntakeWriter(GroupWriter[dict[str, Any], None]):
    """Commits notification rows in groups; `submit` returns once its row is durable."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = 500, after_commit: AfterCommit | None = None):
        super().__init__("intake-writer", max_batch)
        self._engine = engine
        self.after_commit = after_commit

    async def submit(self, row: dict[str, Any]) -> None:
        """Queue a notification row (all columns given) and wait until it is committed."""
        await self.write(row)

    async def commit_group(self, group: list[Pending[dict[str, Any], None]]) -> None:
        committed = await self._commit(group)
        if committed and self.after_commit is not None:
            try:
                await self.after_commit([p.item["id"] for p in committed])
            except Exception:  # the sweeper re-enqueues rows left in `created`
                log.exception("intake_after_commit_failed", size=len(committed))
        for pending in committed:
            if not pending.done.done():
                pending.done.set_result(None)

    async def _commit(self, batch: list[Pending[dict[str, Any], None]]) -> list[Pending[dict[str, Any], None]]:
        try:
            await self._insert([p.item for p in batch])
            return batch
        except IntegrityError:
            if len(batch) == 1:
                raise
        committed = []
        for pending in batch:
            try:
                await self._insert([pending.item])
                committed.append(pending)
            except IntegrityError as exc:
                pending.done.set_exception(exc)
        return committed

    async def _insert(self, rows: list[dict[str, Any]]) -> None:
        async with write_lock(self._engine), self._engine.begin() as conn:
            await insert_notifications(conn, rows)


async def insert_notifications(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Insert prepared notification rows and their first status event: the one way rows are written.

    The API batches through `IntakeWriter`; other paths (staff chat, auto-replies, broadcasts) call
    this inside their own transaction, then enqueue delivery after the commit.
    """
    events = [{"notification_id": r["id"], "status": r["status"], "at": r["created_at"], "detail": None} for r in rows]
    # Columns without a default that no row sets are left out (NULL): fewer parameters to convert per row.
    unset = {c for c in rows[0] if c in _NO_DEFAULT and all(r[c] is None for r in rows)}
    if unset:
        rows = [{k: v for k, v in r.items() if k not in unset} for r in rows]
    await conn.execute(insert(Notification), rows)
    await conn.execute(insert(NotificationEvent), events)
