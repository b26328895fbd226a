"""One writer at a time on SQLite, queued in the event loop instead of in SQLite's busy handler.

SQLite has a single write lock. A connection that finds it taken sleeps in SQLite's busy handler
(1, 2, 5, 10 ... 100 ms at a time) and retries; under a steady stream of short write
transactions it keeps waking up to find the lock taken again, so a writer can wait hundreds of
milliseconds for a lock that is free most of the time. Writers in one process that take
`write_lock` first queue in order instead and find the database free when their turn comes.
On PostgreSQL `write_lock` is a no-op: row locks do this job there.

`lane_lock(engine, name)` lets background work queue behind itself first (the handler chain uses
the "inbound" lane): at most one of its writers then waits for the database at a time, so a
webhook that must answer Twilio quickly waits behind one chain, not behind a backlog of them.
Lanes exist on every database (they are per process): the batched handler chain uses its lane to
gather the messages waiting in this process into one transaction.

Used by every writer that runs often: the API's intake writer, the delivery job's claim and outcome
transactions, the inbound path (webhook and SMTP storage, the handler chain) and staff sends. In
embedded mode that is one process, which is exactly where SQLite runs. The lock is not re-entrant:
nothing that holds it may wait for another of these writers.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from contextlib import AbstractAsyncContextManager

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

_locks: weakref.WeakKeyDictionary[Engine, dict[str, asyncio.Lock]] = weakref.WeakKeyDictionary()
_DATABASE = ""


def _lock(engine: AsyncEngine, name: str) -> asyncio.Lock:
    locks = _locks.get(engine.sync_engine)
    if locks is None:
        locks = _locks[engine.sync_engine] = {}
    if name not in locks:
        locks[name] = asyncio.Lock()
    return locks[name]


def write_lock(engine: AsyncEngine) -> AbstractAsyncContextManager[object]:
    """`async with write_lock(engine):` around a write transaction (no-op unless SQLite)."""
    return _lock(engine, _DATABASE) if engine.dialect.name == "sqlite" else contextlib.nullcontext()


def lane_lock(engine: AsyncEngine, lane: str) -> asyncio.Lock:
    """`async with lane_lock(engine, "inbound"):` before `write_lock`, for background writers."""
    if not lane:
        raise ValueError("a lane needs a name")
    return _lock(engine, lane)
