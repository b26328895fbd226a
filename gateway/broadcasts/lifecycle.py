"""A broadcast's statuses and the steps that move it: draft → send (or → awaiting approval → approved →
send) → scheduled | sending → finished; paused and resumed; cancelled.

**Approval**: a broadcast to more recipients than the service's `broadcast_approval_threshold` (default
500) is not sent by the person who wrote it: they ask, and a supervisor or an admin who is not them
approves (which sends it). The web layer audits both. **Sending** resolves the audience again (so the
list sent is the list as it is now), screens it (`gateway.broadcasts.preview.screen`) and writes the
recipients (`gateway.broadcasts.write`), a chunk a transaction, the first with the broadcast's new
status; a claim first (a conditional UPDATE from draft or approved) makes a second click or a second
approver a no-op. The pump job (`gateway.broadcasts.pump`) is enqueued once the first chunk is in, due
at the scheduled time if there is one, so the first texts go while the rest are written.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson
from aiohttp import web
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway import keys
from gateway.broadcasts.audience import AudienceKind, LeftOut, Resolved, resolve_directory
from gateway.broadcasts.content import Content, load_content
from gateway.broadcasts.preview import Screened, parts_of, screen, screen_parts
from gateway.broadcasts.upload import CheckedList, check_list
from gateway.broadcasts.write import NobodyKept, write_recipients
from gateway.clock import Clock
from gateway.crypto import Vault
from gateway.db import Broadcast, Service
from gateway.db.base import utcnow
from gateway.domain import Channel, KeyType
from gateway.jobs.queue import JobQueue
from gateway.settings import Settings
from gateway.template_store import TemplateStore
from gateway.templating import Renderer


class BroadcastStatus(StrEnum):
    DRAFT = "draft"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    FINISHED = "finished"


B = BroadcastStatus
SENDABLE = (B.DRAFT.value, B.APPROVED.value)
CANCELLABLE = (
    B.DRAFT.value,
    B.AWAITING_APPROVAL.value,
    B.APPROVED.value,
    B.SCHEDULED.value,
    B.SENDING.value,
    B.PAUSED.value,
)


class NotNow(Exception):
    """The step does not apply to the broadcast as it is (already sent, needs approval, ...): the reason."""


@dataclass(frozen=True)
class Deps:
    """What the steps use, from the web app (or a test)."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    vault: Vault
    renderer: Renderer
    templates: TemplateStore
    queue: JobQueue
    clock: Clock

    @classmethod
    def of(cls, app: web.Application) -> Deps:
        return cls(
            app[keys.SETTINGS],
            app[keys.ENGINE],
            app[keys.SESSIONS],
            app[keys.VAULT],
            app[keys.RENDERER],
            app[keys.TEMPLATES],
            app[keys.QUEUE],
            app[keys.CLOCK],
        )


def seal_upload(vault: Vault, header: list[str], rows: list[tuple[int, list[str]]], filename: str) -> str:
    """An uploaded list, personalisation and all, as one sealed document."""
    return vault.seal(orjson.dumps({"header": header, "rows": rows, "filename": filename}).decode())


def open_upload(vault: Vault, sealed: str) -> tuple[list[str], list[tuple[int, list[str]]], str]:
    document = orjson.loads(vault.open(sealed))
    return document["header"], [(int(n), cells) for n, cells in document["rows"]], document["filename"]


def check_upload(deps: Deps, broadcast: Broadcast, content: Content) -> CheckedList | None:
    """The broadcast's uploaded list checked row by row for its content (None: it has no list)."""
    if broadcast.upload_enc is None:
        return None
    header, rows, _ = open_upload(deps.vault, broadcast.upload_enc)
    return check_list(
        header,
        rows,
        fields=content.fields(deps.renderer),
        channels=content.channels,
        region=deps.settings.default_region,
    )


async def content_of(deps: Deps, service: Service, broadcast: Broadcast) -> Content:
    message = deps.vault.open(broadcast.message_enc) if broadcast.message_enc else None
    channel = broadcast.audience_spec.get("channel")  # an API job: its template's channel only
    return await load_content(
        deps.templates,
        service.id,
        template_id=broadcast.template_id,
        message=message,
        common=broadcast.audience_spec.get("common") or {},
        service_name=service.name,
        channels=frozenset({Channel(channel)}) if channel else None,
    )


async def resolve(deps: Deps, db: AsyncSession, service: Service, broadcast: Broadcast, content: Content) -> Resolved:
    """The broadcast's audience now: the directory's people, or the uploaded list's good rows."""
    spec = broadcast.audience_spec
    kind = AudienceKind(spec["kind"])
    if kind is not AudienceKind.UPLOAD:
        return await resolve_directory(
            db, deps.vault, service.id, service.timezone, kind, str(spec["value"]), content.channels
        )
    checked = check_upload(deps, broadcast, content)
    if checked is None:
        return Resolved()
    bad = sorted({e.row for e in checked.errors})
    return Resolved(checked.recipients, [LeftOut(f"row {n}", "the row has errors") for n in bad])


@dataclass(frozen=True)
class Audience:
    """A broadcast with its service and content, and its audience resolved now (not yet screened)."""

    broadcast: Broadcast
    service: Service
    content: Content
    resolved: Resolved


NOBODY = "Nobody in this audience can be sent this message: see who is left out and why."


async def audience_of(deps: Deps, broadcast_id: uuid.UUID, service_id: uuid.UUID) -> Audience:
    async with deps.sessions() as db:
        broadcast = await db.get(Broadcast, broadcast_id)
        service = await db.get(Service, service_id)
        if broadcast is None or service is None or broadcast.service_id != service_id:
            raise NotNow("No such broadcast.")
        content = await content_of(deps, service, broadcast)
        return Audience(broadcast, service, content, await resolve(deps, db, service, broadcast, content))


async def send(deps: Deps, broadcast_id: uuid.UUID, service_id: uuid.UUID, *, approved: bool = False) -> int:
    """Send (or schedule) a draft, or an approved broadcast; how many recipients were written. NotNow
    when it needs approval first, nobody in it can be sent it, or it is no longer a draft."""
    audience = await audience_of(deps, broadcast_id, service_id)
    broadcast, service, recipients = audience.broadcast, audience.service, audience.resolved.recipients
    if not recipients:
        raise NotNow(NOBODY)
    screened = None
    if broadcast.status == B.DRAFT and len(recipients) > service.broadcast_approval_threshold:
        async with deps.sessions() as db:  # above the threshold before screening: count those it keeps
            screened = await screen(db, deps.vault, deps.renderer, service, audience.content, recipients)
        if len(screened.kept) > service.broadcast_approval_threshold:
            raise NotNow(
                f"This broadcast goes to {len(screened.kept)} people, more than"
                f" {service.broadcast_approval_threshold}: a supervisor or an admin must approve it first."
            )
    previous = broadcast.status
    async with deps.sessions() as db:  # the claim: only one click, or one approver, sends it
        claimed = await db.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id, Broadcast.status.in_(SENDABLE))
            .values(status=B.SENDING.value, updated_at=utcnow(), writing_at=utcnow())
        )
        await db.commit()
    if not claimed.rowcount:  # type: ignore[attr-defined]
        raise NotNow("This broadcast has already been sent or cancelled.")
    try:
        return await write_out(deps, audience, screened)
    except Exception as exc:
        async with deps.sessions() as db:  # nothing written yet: back as it was (else the sweeper takes over)
            await db.execute(
                update(Broadcast)
                .where(
                    Broadcast.id == broadcast_id, Broadcast.status == B.SENDING.value, Broadcast.recipient_count == 0
                )
                .values(status=previous, writing_at=None)
            )
            await db.commit()
        if isinstance(exc, NobodyKept):
            raise NotNow(NOBODY) from None
        raise


async def write_out(deps: Deps, audience: Audience, screened: Screened | None = None) -> int:
    """Screen a claimed broadcast's audience and write its recipients a part at a time, starting its pump
    once the first part is in (so sending begins while the rest are screened and written); how many this
    call wrote (`screened`: the audience screened whole already). Also how the sweeper resumes a writer
    that stopped (`gateway.broadcasts.takeover`): the rows already written are skipped."""
    broadcast, service, content = audience.broadcast, audience.service, audience.content
    from gateway.broadcasts.pump import start_pump  # the pump imports the delivery jobs

    now = deps.clock.now()
    later = broadcast.scheduled_for is not None and broadcast.scheduled_for > now
    token = secrets.token_hex(8)
    values: dict[str, Any] = {"pump_token": token}
    if broadcast.status != B.PAUSED:  # a paused one resumed by the sweeper stays paused
        values |= {"status": (B.SCHEDULED if later else B.SENDING).value}
        values |= {"started_at": None if later else (broadcast.started_at or now)}
    delay = (broadcast.scheduled_for - now).total_seconds() if later and broadcast.scheduled_for else None

    async def started() -> None:
        await start_pump(deps.queue, broadcast.id, token, defer_by=delay)

    async with deps.sessions() as db:  # screening's look-ups (opt-outs, retirement), part by part
        parts = (
            parts_of(screened)
            if screened
            else screen_parts(db, deps.vault, deps.renderer, service, content, audience.resolved.recipients)
        )
        return await write_recipients(
            deps.engine,
            deps.vault,
            deps.renderer,
            service,
            broadcast.id,
            content,
            parts,
            key_type=KeyType(broadcast.key_type),
            api_key_id=broadcast.api_key_id,
            created_by=broadcast.created_by_staff_id,
            broadcast_values=values,
            left_out_before=len(audience.resolved.left_out),
            started=started,
        )


async def request_approval(sessions: async_sessionmaker[AsyncSession], broadcast_id: uuid.UUID) -> None:
    async with sessions() as db:
        moved = await db.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id, Broadcast.status == B.DRAFT.value)
            .values(status=B.AWAITING_APPROVAL.value, approval_requested_at=utcnow(), updated_at=utcnow())
        )
        await db.commit()
    if not moved.rowcount:  # type: ignore[attr-defined]
        raise NotNow("Only a draft can be sent for approval.")


async def approve(deps: Deps, broadcast_id: uuid.UUID, service_id: uuid.UUID, approver: uuid.UUID) -> int:
    """A second person approves, which sends it. NotNow for the person who wrote it, or if it is not
    waiting for approval."""
    async with deps.sessions() as db:
        broadcast = await db.get(Broadcast, broadcast_id)
        if broadcast is None or broadcast.service_id != service_id:
            raise NotNow("No such broadcast.")
        if broadcast.created_by_staff_id == approver:
            raise NotNow("You wrote this broadcast: someone else (a supervisor or an admin) must approve it.")
        moved = await db.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id, Broadcast.status == B.AWAITING_APPROVAL.value)
            .values(status=B.APPROVED.value, approved_by_staff_id=approver, approved_at=utcnow(), updated_at=utcnow())
        )
        await db.commit()
    if not moved.rowcount:  # type: ignore[attr-defined]
        raise NotNow("This broadcast is not waiting for approval.")
    return await send(deps, broadcast_id, service_id, approved=True)


def when_text(when: datetime | None) -> str:
    return when.isoformat() if when else ""
