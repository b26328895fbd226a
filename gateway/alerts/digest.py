"""The daily digest: replies from clients that have waited more than N hours for an answer.

`send_due_digests(ctx, now)` runs in the sweeper (arq cron when scaled, the in-process timer when
embedded). For each active member of staff who asked for a digest (`digest_after_hours`), once
GATEWAY_DIGEST_TIME has passed on their service's clock and no digest went today (`digest_sent_on`,
claimed with a conditional UPDATE, so two sweepers never both send), it counts their conversations
whose newest inbound message is older than N hours with no message sent to that person or number
by staff since. With at least one, it emails them the count and a link to the inbox: never names
or messages. The clock is `now`, a parameter, so tests move it.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import and_, exists, func, or_, select, update

from gateway.api.intake import insert_notifications
from gateway.db import Conversation, InboundMessage, Notification, Service, StaffUser, Template
from gateway.db.write_lock import write_lock
from gateway.domain import Channel, KeyType
from gateway.errors import ApiError
from gateway.jobs.delivery import enqueue_deliveries
from gateway.letters.schedule import todays_cutoff
from gateway.localtime import to_local
from gateway.outbound import normalise_recipient, prepare_notification
from gateway.template_store import TemplateRow
from gateway.templating import Renderer

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from gateway.jobs.context import JobContext

log = structlog.get_logger()
DIGEST_TEMPLATE = "staff_daily_digest"


async def unanswered(session: AsyncSession, staff_id: uuid.UUID, service_id: uuid.UUID, before: datetime) -> int:
    """How many of the staff member's conversations have a newest reply older than `before` and no
    message sent by staff to that person (or number) since it came."""
    answered = exists().where(
        Notification.service_id == service_id,
        Notification.created_by_staff_id.is_not(None),
        Notification.created_at > InboundMessage.received_at,
        or_(
            and_(Conversation.person_id.is_not(None), Notification.person_id == Conversation.person_id),
            and_(Conversation.person_id.is_(None), Notification.recipient_index == Conversation.sender_index),
        ),
    )
    query = (
        select(func.count())
        .select_from(Conversation)
        .join(InboundMessage, InboundMessage.id == Conversation.last_inbound_id)
        .where(
            Conversation.service_id == service_id,
            Conversation.assigned_staff_id == staff_id,
            InboundMessage.received_at < before,
            ~answered,
        )
    )
    return int(await session.scalar(query) or 0)


async def _template(session: AsyncSession) -> TemplateRow | None:
    row = await session.scalar(
        select(Template).where(
            Template.slug == DIGEST_TEMPLATE,
            Template.channel == Channel.EMAIL.value,
            Template.language == "en",
            Template.service_id.is_(None),
            Template.archived.is_(False),
        )
    )
    if row is None:
        return None
    return TemplateRow(
        row.id, row.service_id, row.name, row.slug, Channel(row.channel), row.language, row.version,
        row.subject, row.body, row.postage, row.content_hash, row.created_at, row.updated_at, row.fields,
    )  # fmt: skip


async def _claim_day(session: AsyncSession, staff_id: uuid.UUID, today: date) -> bool:
    """Mark today's digest as taken; False when another run already did."""
    result = await session.execute(
        update(StaffUser)
        .where(
            StaffUser.id == staff_id,
            or_(StaffUser.digest_sent_on.is_(None), StaffUser.digest_sent_on != today),
        )
        .values(digest_sent_on=today)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def send_due_digests(ctx: JobContext, now: datetime) -> list[uuid.UUID]:
    """Send today's digest to everyone whose digest time has passed; the notification ids queued."""
    settings, sessions = ctx["settings"], ctx["sessions"]
    async with sessions() as session:
        wanted = (
            await session.execute(
                select(StaffUser, Service)
                .join(Service, Service.id == StaffUser.service_id)
                .where(StaffUser.active.is_(True), StaffUser.digest_after_hours.is_not(None))
            )
        ).all()
    queued: list[uuid.UUID] = []
    renderer = Renderer(cache_size=8)
    for staff, service in wanted:
        today = to_local(now, service.timezone).date()
        if staff.digest_sent_on == today or now < todays_cutoff(now, service.timezone, settings.digest_time):
            continue
        hours = int(staff.digest_after_hours or 0)
        async with write_lock(ctx["engine"]), sessions() as session:
            if not await _claim_day(session, staff.id, today):
                continue
            count = await unanswered(session, staff.id, service.id, now - timedelta(hours=hours))
            template = await _template(session) if count else None
            row = None
            if template is not None:
                try:
                    row = prepare_notification(
                        vault=ctx["vault"],
                        renderer=renderer,
                        template=template,
                        channel=Channel.EMAIL,
                        recipient=normalise_recipient(Channel.EMAIL, staff.email, settings.default_region),
                        personalisation={
                            "staff_name": staff.name,
                            "count": str(count),
                            "hours": str(hours),
                            "service_name": service.name,
                            "inbox_url": f"{settings.base_url}/inbox",
                        },
                        service_id=service.id,
                        key_type=KeyType.LIVE,
                        sender=service.email_from,
                    ).row
                except ApiError as exc:
                    log.warning("digest.not_built", staff_id=str(staff.id), error=exc.error)
            if row is not None:
                await insert_notifications(await session.connection(), [row])
                queued.append(row["id"])
            await session.commit()
        log.info("digest.checked", staff_id=str(staff.id), unanswered=count, sent=row is not None)
    if queued:
        await enqueue_deliveries(ctx["queue"], queued)
    return queued
