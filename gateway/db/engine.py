"""Engine and session factory, built the same way in the web process, workers and CLI."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from gateway.db.sqlite_adapter import one_hop_dbapi
from gateway.settings import Settings


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the single writer; busy_timeout waits for the write lock.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create an async engine; SQLite gets WAL, a busy timeout, foreign keys and one thread hand-off per
    statement (`gateway.db.sqlite_adapter`). Bound parameters are never put in error messages or logs
    (`hide_parameters`): they can be contact data (`gateway.logs`)."""
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, module=one_hop_dbapi(), **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def engine_from_settings(settings: Settings) -> AsyncEngine:
    return make_engine(settings.database_url)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


ANALYZE_LOCK_WAIT = "200ms"
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a lock_timeout


async def analyze_in_transaction(db: AsyncSession | AsyncConnection, *tables: str) -> bool:
    """Refresh PostgreSQL's statistics of `tables` inside the caller's transaction (nothing on SQLite);
    whether it did.

    A big write (an import, a broadcast's recipients) goes in one transaction, which autovacuum cannot
    see until it commits and then only at its next round; on a fresh install the planner meanwhile
    knows nothing of the tables and scans them whole for look-ups by id (a first import of 100,000
    appointments: 52 s of 105; a 100,000-recipient broadcast: PostgreSQL's CPU a message 0.54 ms, not
    0.23). ANALYZE run in the transaction counts its own new rows, so what follows uses the indexes.

    ANALYZE's lock (SHARE UPDATE EXCLUSIVE) is held to the end of the transaction and two of them
    conflict, so while one big write holds it another's ANALYZE would wait for that whole write: it
    waits ANALYZE_LOCK_WAIT at most and is skipped (a savepoint keeps the caller's transaction whole).
    Ordinary reads and writes of the tables do not conflict with it."""
    dialect = db.dialect if isinstance(db, AsyncConnection) else db.get_bind().dialect
    if dialect.name != "postgresql":
        return False
    before = await db.scalar(text("SELECT current_setting('lock_timeout')"))
    try:
        async with db.begin_nested():
            await db.execute(text(f"SET LOCAL lock_timeout = '{ANALYZE_LOCK_WAIT}'"))
            await db.execute(text(f"ANALYZE {', '.join(tables)}"))
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        return False
    finally:  # SET LOCAL outlives a released savepoint: the rest of the transaction keeps its own setting
        await db.execute(text("SELECT set_config('lock_timeout', :value, true)"), {"value": before})
    return True
