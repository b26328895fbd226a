"""The parts of running the handler chain shared by the one-message and the batched paths.

`InboundDeps` (what the process provides), claiming rows, building each message's
`InboundContext`, running the handlers in order (`run_chain`), the case record entry
(`record`), the finished row's values, and the work done after the commit.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import structlog
from sqlalchemy import Row, Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.db import Case, InboundMessage, Service
from gateway.db.base import utcnow
from gateway.domain import Channel, RecordKind
from gateway.inbound.callbacks import SEND_INBOUND_CALLBACK, callback_job_id
from gateway.inbound.store import Enqueuer, InboundState
from gateway.live import LiveHub
from gateway.record import append_in_session
from gateway.settings import Settings
from gateway.templating import Renderer, shared_renderer
from handlers.base import Action, Handler, InboundContext, Received

log = structlog.get_logger()

ACTOR = "gateway:inbound"
CHAIN_TIMEOUT_SECONDS = 30.0
SERVICE_CACHE_SECONDS = 5.0
CHANNEL_WORDS = {Channel.SMS: "text message", Channel.EMAIL: "email", Channel.LETTER: "letter"}
Decisions = list[dict[str, str]]

# Built once (Core, not ORM): these run for every message.
_TABLE = cast(Table, InboundMessage.__table__)
_CLAIM = (
    update(_TABLE)
    .where(_TABLE.c.id.in_(bindparam("ids", expanding=True)), _TABLE.c.state == InboundState.RECEIVED.value)
    .values(state=InboundState.PROCESSING.value)
    .returning(
        _TABLE.c.id,
        _TABLE.c.service_id,
        _TABLE.c.channel,
        _TABLE.c.sender_enc,
        _TABLE.c.sender_index,
        _TABLE.c.recipient,
        _TABLE.c.body_enc,
        _TABLE.c.media,
        _TABLE.c.received_at,
        _TABLE.c.reply_to_notification_id,
    )
)
FINISH = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("b_id"))
    .values(
        state=InboundState.PROCESSED.value,
        stage=None,
        error=None,
        decisions=bindparam("b_decisions"),
        person_id=bindparam("b_person"),
        case_id=bindparam("b_case"),
        conversation_id=bindparam("b_conversation"),
        processed_at=bindparam("b_processed"),
    )
)


@dataclass(frozen=True)
class InboundDeps:
    """What the pipeline needs from the process: the job `ctx` or the web app provide it."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    vault: Vault
    renderer: Renderer
    queue: Enqueuer | None
    live: LiveHub | None

    @property
    def engine(self) -> AsyncEngine:
        bind = self.sessions.kw["bind"]
        assert isinstance(bind, AsyncEngine)
        return bind

    @classmethod
    def from_ctx(cls, ctx: dict[str, Any]) -> InboundDeps:
        return cls(
            settings=ctx["settings"],
            sessions=ctx["sessions"],
            vault=ctx["vault"],
            renderer=ctx.get("renderer") or shared_renderer(),
            queue=ctx.get("queue"),
            live=ctx.get("live"),
        )


class ChainFailed(Exception):
    """A handler (or the record, or the commit) raised: where, what was decided so far, which cases."""

    def __init__(self, stage: str, decisions: Decisions, case_ids: list[uuid.UUID], cause: Exception) -> None:
        super().__init__(f"{stage}: {type(cause).__name__}")
        self.stage, self.decisions, self.case_ids, self.cause = stage, decisions, case_ids, cause


async def claim(session: AsyncSession, *ids: uuid.UUID) -> list[Row[Any]]:
    """`received` -> `processing` for these messages, returning what the chain needs of them."""
    return list((await session.execute(_CLAIM, {"ids": list(ids)})).all())


_services: dict[uuid.UUID, tuple[float, Service]] = {}


async def _service(session: AsyncSession, service_id: uuid.UUID) -> Service:
    """The message's service, from a few seconds' cache: one query less per message on the hot path."""
    now = time.monotonic()
    cached = _services.get(service_id)
    if cached is None or now - cached[0] >= SERVICE_CACHE_SECONDS:
        service = await session.get_one(Service, service_id)
        session.expunge(service)
        cached = _services[service_id] = (now, service)
    return await session.merge(cached[1], load=False)


async def context_for(deps: InboundDeps, session: AsyncSession, row: Row[Any]) -> InboundContext:
    """A claimed row, opened, with its service, as the handlers see it."""
    return InboundContext(
        inbound=Received(
            id=row.id,
            service_id=row.service_id,
            channel=Channel(row.channel),
            sender=deps.vault.open(row.sender_enc),
            sender_index=row.sender_index,
            recipient=row.recipient,
            body=deps.vault.open(row.body_enc),
            media=tuple(row.media or ()),
            received_at=row.received_at,
            reply_to_notification_id=row.reply_to_notification_id,
        ),
        service=await _service(session, row.service_id),
        session=session,
        settings=deps.settings,
        vault=deps.vault,
        renderer=deps.renderer,
        queue=deps.queue,
        live=deps.live,
    )


async def run_chain(context: InboundContext, chain: Sequence[Handler]) -> Decisions:
    """Run the handlers until one stops, then write the record entry; ChainFailed says where it broke."""
    decisions: Decisions = []
    stage = "chain"
    case_ids: list[uuid.UUID] = []  # kept outside the ORM: a failed flush expires loaded objects
    try:
        async with asyncio.timeout(CHAIN_TIMEOUT_SECONDS):
            for handler in chain:
                stage = handler.name
                outcome = await handler.handle(context)
                decisions.append(
                    {"handler": handler.name, "outcome": outcome.action.value, "decision": outcome.decision}
                    | ({"effect": outcome.effect} if outcome.effect else {})
                )
                case_ids = [c.id for c in context.cases]
                if outcome.action is Action.STOP:
                    break
            stage = "record"
            await record(context, decisions)
    except Exception as exc:
        raise ChainFailed(stage, decisions, case_ids, exc) from exc
    return decisions


async def record(context: InboundContext, decisions: Decisions) -> None:
    """One entry per open case: the message by id and every decision; bodies never."""
    if not context.cases:
        return
    ids = sorted(c.id for c in context.cases)
    # Queue behind other writers of these cases' records instead of colliding on their next seq.
    # (SQLite: the one writer lock, held since the claim, already does.)
    if (await context.session.connection()).dialect.name != "sqlite":
        await context.session.execute(select(Case.id).where(Case.id.in_(ids)).order_by(Case.id).with_for_update())
    inbound = context.inbound
    last = decisions[-1]
    summary = f"{CHANNEL_WORDS[inbound.channel].capitalize()} received; {last['handler']}: {last['decision']}"
    data: dict[str, Any] = {"channel": inbound.channel.value, "decisions": decisions, "media": len(inbound.media)}
    data.update(context.facts)
    if context.conversation is not None:
        data["conversation_id"] = str(context.conversation.id)
    for case_id in ids:
        await append_in_session(
            context.session, case_id, RecordKind.INBOUND, ACTOR, summary, data, inbound_id=inbound.id
        )


def finished(context: InboundContext, decisions: Decisions) -> dict[str, Any]:
    """Parameters of `FINISH` for a handled message: what it was matched to, every decision."""
    return {
        "b_id": context.inbound.id,
        "b_decisions": decisions,
        "b_person": context.person.id if context.person else None,
        "b_case": context.case.id if context.case else None,
        "b_conversation": context.conversation.id if context.conversation else None,
        "b_processed": utcnow(),
    }


async def after_commit(deps: InboundDeps, context: InboundContext) -> None:
    """Live pushes, deliveries and the inbound-SMS callback: only once the chain's writes are committed."""
    actions = context.pending_actions
    if context.inbound.channel is Channel.SMS and context.service.inbound_callback_url and deps.queue is not None:
        queue, inbound_id = deps.queue, str(context.inbound.id)

        async def callback() -> None:
            await queue.enqueue(SEND_INBOUND_CALLBACK, inbound_id, job_id=callback_job_id(inbound_id))

        actions.append(callback)
    for action in actions:
        try:
            await action()
        except Exception as exc:  # the writes are committed; sweepers re-enqueue what was lost
            log.warning("inbound.after_commit_failed", inbound_id=str(context.inbound.id), error=type(exc).__name__)
    log.info("inbound.processed", inbound_id=str(context.inbound.id), cases=len(context.cases))
