"""Sending from a handler: automatic replies and staff alerts, through the normal send path.

A handler never calls a provider. It builds a notification with `prepare_notification` (the same
validation and rendering as the API), writes it with `insert_notifications` inside the chain's
transaction, and enqueues `deliver_notification` after the commit. So an auto-reply exists only
if the message's handling committed, the delivery policy (opt-outs, quiet hours, rate limits)
applies to it as to anything else, and a lost enqueue is picked up by the delivery sweeper.

Automatic replies (out-of-office, the unclaimed inbox's) go only to a sender that can receive one
(`no_reply_reason`): not to an alphanumeric sender id such as `ACME`, a short code or an empty
sender, which a carrier would refuse, and not to an email From that is not the address the reply
token was sent to, which may be forged.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any

import structlog
from sqlalchemy import or_, select

from gateway.api.intake import insert_notifications
from gateway.db import AutoReply, Template
from gateway.db.base import utcnow
from gateway.domain import Channel, KeyType
from gateway.errors import ApiError
from gateway.jobs.delivery import DELIVER
from gateway.outbound import prepare_notification
from gateway.recipients import can_receive_sms
from gateway.template_store import TemplateRow
from handlers.base import InboundContext
from handlers.identify import SENDER_MISMATCH

log = structlog.get_logger()

FREE_TEXT = "free_text"
AUTO_REPLY_SUBJECT = {"en": "Automatic reply", "es": "Respuesta automática"}


async def find_template(message: InboundContext, slug: str, channel: Channel, language: str) -> TemplateRow | None:
    """The template `slug` for the channel in `language` (falling back to English); a service's own wins."""
    rows = (
        await message.session.scalars(
            select(Template).where(
                Template.slug == slug,
                Template.channel == channel.value,
                Template.language.in_({language, "en"}),
                Template.archived.is_(False),
                or_(Template.service_id.is_(None), Template.service_id == message.service.id),
            )
        )
    ).all()
    if not rows:
        return None
    best = min(rows, key=lambda t: (t.language != language, t.service_id is None))
    return TemplateRow(
        best.id,
        best.service_id,
        best.name,
        best.slug,
        Channel(best.channel),
        best.language,
        best.version,
        best.subject,
        best.body,
        best.postage,
        best.content_hash,
        best.created_at,
        best.updated_at,
    )


async def queue_notification(
    message: InboundContext,
    *,
    channel: Channel,
    recipient: str,
    slug: str,
    personalisation: Mapping[str, Any],
    language: str = "en",
    sender: str | None = None,
    person_id: uuid.UUID | None = None,
    case_id: uuid.UUID | None = None,
    automatic: bool = False,
) -> uuid.UUID | None:
    """Write a notification in the chain's transaction and deliver it after the commit. `automatic`: a
    message the gateway sends on its own (an auto-reply), which quiet hours hold.

    Returns its id, or None when it cannot be built (no such template, text too long): that is
    a decision to record, not a reason to fail the inbound message.
    """
    template = await find_template(message, slug, channel, language)
    try:
        prepared = prepare_notification(
            vault=message.vault,
            renderer=message.renderer,
            template=template,
            channel=channel,
            recipient=recipient,
            personalisation=personalisation,
            service_id=message.service.id,
            key_type=KeyType.LIVE,
            sender=sender,
            person_id=person_id,
            case_id=case_id,
            automatic=automatic,
        )
    except ApiError as exc:
        log.warning("handler_send_refused", inbound_id=str(message.inbound.id), template=slug, error=exc.error)
        return None
    connection = await message.session.connection()
    await insert_notifications(connection, [prepared.row])
    notification_id: uuid.UUID = prepared.row["id"]
    queue = message.queue

    async def deliver() -> None:
        if queue is not None:
            await queue.enqueue(DELIVER, str(notification_id), job_id=f"deliver:{notification_id}")

    message.after_commit(deliver)
    return notification_id


async def queue_reply(message: InboundContext, text: str, *, automatic: bool = False) -> uuid.UUID | None:
    """Answer the sender on the channel they wrote on, from the number or address they wrote to.
    A keyword's answer (STOP, HELP) goes at once, whatever the hour: the sender just asked for it and
    carriers require it. `automatic` makes the reply keep quiet hours: the auto-replies (`reply_once_a_day`:
    unclaimed inbox, out of office) set it, so a text at 2 am is answered at the window's opening."""
    inbound = message.inbound
    language = message.person.language if message.person is not None else "en"
    personalisation: dict[str, Any] = {"message": text}
    if inbound.channel is Channel.EMAIL:
        personalisation["subject"] = AUTO_REPLY_SUBJECT.get(language, AUTO_REPLY_SUBJECT["en"])
        sender = message.service.email_from
    else:
        sender = inbound.recipient
    return await queue_notification(
        message,
        channel=inbound.channel,
        recipient=inbound.sender,
        slug=FREE_TEXT,
        personalisation=personalisation,
        language=language,
        sender=sender,
        person_id=message.person.id if message.person is not None else None,
        case_id=message.case.id if message.case is not None else None,
        automatic=automatic,
    )


CANNOT_RECEIVE = "the sender cannot receive text messages (an alphanumeric sender id, short code or no number)"


def no_reply_reason(message: InboundContext) -> str | None:
    """Why no automatic reply may go to this message's sender; None when one may."""
    inbound = message.inbound
    if message.sender_mismatch:
        return SENDER_MISMATCH
    if inbound.channel is Channel.SMS and not can_receive_sms(inbound.sender):
        return CANNOT_RECEIVE
    return None


async def reply_once_a_day(
    message: InboundContext, kind: str, text: str, *, slot: date | None = None
) -> tuple[uuid.UUID | None, bool]:
    """Auto-reply at most once per address, kind and UTC day: (notification id, already replied today?).

    The `auto_replies` row is unique per (service, kind, address, day); two messages racing for the
    same slot make one transaction fail on it, and the pipeline retries that message, which then
    finds the slot taken. `slot` replaces the day: an out-of-office absence passes its first day,
    so a client gets that reply once per absence.
    """
    inbound, today = message.inbound, slot or utcnow().date()
    taken = await message.session.scalar(
        select(AutoReply.id).where(
            AutoReply.service_id == message.service.id,
            AutoReply.kind == kind,
            AutoReply.address_index == inbound.sender_index,
            AutoReply.day == today,
        )
    )
    if taken is not None:
        return None, True
    notification_id = await queue_reply(message, text, automatic=True)
    message.session.add(
        AutoReply(
            service_id=message.service.id,
            kind=kind,
            address_index=inbound.sender_index,
            day=today,
            inbound_id=inbound.id,
            notification_id=notification_id,
        )
    )
    await message.session.flush()
    return notification_id, False
