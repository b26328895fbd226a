"""Group commit for the handler chain.

SQLite takes one writer at a time, and through aiosqlite every statement costs several thread
hand-offs, so one transaction per message caps embedded mode well below a busy office's peak; on
PostgreSQL, fewer transactions and round trips per message matter as well.
Here the messages whose jobs are waiting are handled together: the first job to get the
"inbound" lane becomes the leader, claims every waiting message (up to `MAX_BATCH`) with one
UPDATE, runs the chain over each in turn inside ONE transaction, writes their finished rows with
one executemany and commits once; then it hands each waiting job its result. Nothing about a
message's handling changes: the same handlers, the same record entries, the same after-commit
work, message by message in arrival order.

If anything in the batch raises (a handler, a racing writer's IntegrityError), the whole batch is
rolled back and every message in it goes through the one-message path (`fallback`), which
retries races and keeps a failing message as `failed` with its stage, alone.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import Awaitable, Callable, Sequence

import structlog
from sqlalchemy.engine import Engine

from gateway.db.write_lock import lane_lock, write_lock
from gateway.inbound.chain import FINISH, InboundDeps, after_commit, claim, context_for, finished, run_chain
from gateway.inbound.store import InboundState
from handlers.base import Handler, InboundContext

log = structlog.get_logger()

MAX_BATCH = 16
LANE = "inbound"
Fallback = Callable[[InboundDeps, uuid.UUID, Sequence[Handler]], Awaitable[str]]

_waiting: weakref.WeakKeyDictionary[Engine, dict[uuid.UUID, asyncio.Future[str]]] = weakref.WeakKeyDictionary()


async def run_batched(deps: InboundDeps, inbound_id: uuid.UUID, chain: Sequence[Handler], *, fallback: Fallback) -> str:
    """Handle `inbound_id`, together with whatever else is waiting; returns its own result."""
    waiting = _waiting.setdefault(deps.engine.sync_engine, {})
    mine = waiting.get(inbound_id)
    if mine is None:
        mine = waiting[inbound_id] = asyncio.get_running_loop().create_future()
    async with lane_lock(deps.engine, LANE):
        if not mine.done():  # nobody took it along: lead a batch
            waiting.pop(inbound_id, None)
            others = [i for i in waiting if not waiting[i].done()][: MAX_BATCH - 1]
            futures = {inbound_id: mine, **{i: waiting.pop(i) for i in others}}
            try:
                results = await _run_batch(deps, list(futures), chain)
            except Exception as exc:
                log.info("inbound.batch_fallback", size=len(futures), error=type(exc).__name__)
                results = {i: await fallback(deps, i, chain) for i in futures}
            for i, future in futures.items():
                if not future.done():
                    future.set_result(results[i])
    return mine.result()


async def _run_batch(deps: InboundDeps, ids: list[uuid.UUID], chain: Sequence[Handler]) -> dict[uuid.UUID, str]:
    results = {i: "skipped" for i in ids}
    done: list[InboundContext] = []
    async with write_lock(deps.engine), deps.sessions() as session:
        rows = sorted(await claim(session, *ids), key=lambda r: (r.received_at, r.id))
        rows_done = []
        for row in rows:
            context = await context_for(deps, session, row)
            decisions = await run_chain(context, chain)
            rows_done.append(finished(context, decisions))
            done.append(context)
        if rows_done:
            await session.execute(FINISH, rows_done)
        await session.commit()
    for context in done:
        await after_commit(deps, context)
        results[context.inbound.id] = InboundState.PROCESSED.value
    return results
