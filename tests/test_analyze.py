"""`analyze_in_transaction`: statistics refreshed inside a big write's transaction, never waiting on
another writer's ANALYZE (it is skipped after a short wait, the transaction kept whole)."""

from __future__ import annotations

import time

from sqlalchemy import func, select, text

from gateway.db import Notification
from gateway.db.engine import ANALYZE_LOCK_WAIT, analyze_in_transaction, make_engine, session_factory


async def test_skipped_while_another_transaction_holds_the_lock(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        async with engine.connect() as holder, session_factory(engine)() as db:
            before = await db.scalar(text("SELECT current_setting('lock_timeout')"))
            await holder.execute(text("LOCK TABLE notifications IN SHARE UPDATE EXCLUSIVE MODE"))  # as an ANALYZE
            started = time.monotonic()
            assert await analyze_in_transaction(db, "notifications") is False
            assert time.monotonic() - started < 2.0  # ANALYZE_LOCK_WAIT, not the other write's length
            # the transaction goes on, with its own lock timeout back
            assert await db.scalar(select(func.count()).select_from(Notification)) is not None
            assert await db.scalar(text("SELECT current_setting('lock_timeout')")) == before != ANALYZE_LOCK_WAIT
            await holder.rollback()  # the other write ends
            assert await analyze_in_transaction(db, "notifications") is True
            assert await db.scalar(text("SELECT current_setting('lock_timeout')")) == before
            await db.commit()
    finally:
        await engine.dispose()


async def test_nothing_on_sqlite(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        async with session_factory(engine)() as db:
            assert await analyze_in_transaction(db, "notifications") is False
    finally:
        await engine.dispose()
