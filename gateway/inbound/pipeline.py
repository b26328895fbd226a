"""Runs the handler chain over one stored inbound message. Nothing accepted is lost.

`run_pipeline(deps, inbound_id)`, in ONE transaction:

1. claim the row with a conditional UPDATE (`received` -> `processing`); no match means another
   run has it or it is done, and this run stops (so the job is safe to run twice);
2. run the handlers in order (`handlers.registry`), keeping each decision, until one stops;
3. append one case record entry per matched open case (the message by id, every decision);
4. mark the message `processed` with its person, case, conversation and decisions; commit;
5. after the commit: live pushes, enqueued deliveries (auto-replies, alerts), the service's
   inbound-SMS callback.

`processing` therefore only exists inside that transaction: a worker that dies mid-chain leaves the
row `received` with none of the handlers' writes, and the sweeper enqueues it again. An
IntegrityError (a racing writer took the same record seq, conversation or auto-reply slot) reruns
the whole chain. Any other exception rolls the chain back and keeps the message as `failed` with
`stage` = the handler that raised and `error`, plus a case record entry saying so when the case
was known; `gateway inbound replay` runs it again.

On PostgreSQL the case rows are locked (`FOR UPDATE`, in id order) before their record entries
are appended, so concurrent messages for one case queue instead of colliding. The default chain
runs in batches (`gateway.inbound.batch`): the same steps for every message waiting in this
process, in one transaction, with this one-message path as the fallback.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import structlog
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from gateway.db import InboundMessage
from gateway.db.write_lock import write_lock
from gateway.domain import RecordKind
from gateway.inbound.batch import run_batched
from gateway.inbound.chain import (
    ACTOR,
    FINISH,
    ChainFailed,
    InboundDeps,
    after_commit,
    claim,
    context_for,
    finished,
    run_chain,
)
from gateway.inbound.store import InboundState
from gateway.record import append_entry
from handlers.base import Handler
from handlers.registry import default_chain

__all__ = ["InboundDeps", "run_pipeline"]

log = structlog.get_logger()

MAX_ATTEMPTS = 25
MAX_ERROR_CHARS = 2000


async def run_pipeline(deps: InboundDeps, inbound_id: uuid.UUID, chain: Sequence[Handler] | None = None) -> str:
    """Run the chain over message `inbound_id`; returns `processed`, `failed` or `skipped`."""
    if chain is None:
        return await run_batched(deps, inbound_id, tuple(default_chain()), fallback=run_single)
    return await run_single(deps, inbound_id, tuple(chain) if chain is not None else tuple(default_chain()))


async def run_single(deps: InboundDeps, inbound_id: uuid.UUID, chain: Sequence[Handler]) -> str:
    """The one-message path, rerun on top of any racing writer's work."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return await _run_once(deps, inbound_id, chain, last_attempt=attempt == MAX_ATTEMPTS)
        except IntegrityError:
            await asyncio.sleep(0.001 * attempt)  # a racing writer won; go again on top of its work
    raise AssertionError("unreachable: the last attempt records a failure instead of raising")


async def _run_once(deps: InboundDeps, inbound_id: uuid.UUID, chain: Sequence[Handler], *, last_attempt: bool) -> str:
    failure: ChainFailed | None = None
    decisions: list[dict[str, str]] = []
    async with write_lock(deps.engine), deps.sessions() as session:
        claimed = await claim(session, inbound_id)
        if not claimed:
            await session.rollback()
            return "skipped"
        row = claimed[0]
        context = await context_for(deps, session, row)
        try:
            decisions = await run_chain(context, chain)
            await session.execute(FINISH, finished(context, decisions))
            await session.commit()
        except ChainFailed as exc:
            failure = exc
        except Exception as exc:  # the final update or the commit
            failure = ChainFailed("commit", decisions, [c.id for c in context.cases], exc)
        if failure is not None:
            await session.rollback()
            if isinstance(failure.cause, IntegrityError) and not last_attempt:
                raise failure.cause
    if failure is not None:  # recorded outside the chain's transaction (and its write lock)
        await _fail(deps, inbound_id, failure)
        return InboundState.FAILED.value
    await after_commit(deps, context)
    return InboundState.PROCESSED.value


async def _fail(deps: InboundDeps, inbound_id: uuid.UUID, failure: ChainFailed) -> None:
    """Keep the message as failed, with the stage and the error, and say so in the case record."""
    cause, stage, decisions = failure.cause, failure.stage, failure.decisions
    error = f"{type(cause).__name__}: {cause}"[:MAX_ERROR_CHARS]
    log.error("inbound.failed", inbound_id=str(inbound_id), stage=stage, error=type(cause).__name__)
    async with write_lock(deps.engine), deps.sessions() as session:
        await session.execute(
            update(InboundMessage)
            .where(
                InboundMessage.id == inbound_id,
                InboundMessage.state.in_([InboundState.RECEIVED.value, InboundState.PROCESSING.value]),
            )
            .values(state=InboundState.FAILED.value, stage=stage, error=error, decisions=decisions)
            .execution_options(synchronize_session=False)
        )
        await session.commit()
    summary = f"Inbound message could not be handled: {stage} failed ({type(cause).__name__}); kept for replay"
    data: dict[str, object] = {"stage": stage, "error_type": type(cause).__name__, "decisions": decisions}
    for case_id in sorted(set(failure.case_ids)):
        async with write_lock(deps.engine):
            await append_entry(
                deps.sessions, case_id, RecordKind.HANDLER, ACTOR, summary, dict(data), inbound_id=inbound_id
            )
