"""One conversation: its thread both ways, who it is with, and the composer.

* `GET /conversations/{id}` — the page: the thread oldest first (inbound messages and the
  notifications sent to that person or number, each outbound with its delivery status), the
  opt-out state, and the composer (free text or a template, with an optional send time).
  Opening it marks the conversation read.
* `GET /conversations/{id}/messages?after=<ISO time>` — only the thread items newer than `after`,
  as an HTML fragment; the live script appends it when an event names this conversation.

A conversation of another service answers 404, as does a victim conversation for a role that may
not see victim data; every view of a victim conversation is audited.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import keys
from gateway.conversations import scheduled
from gateway.conversations.reads import mark_read
from gateway.conversations.thread import address_indexes, load_thread, parse_cursor
from gateway.crypto import Vault
from gateway.db import ContactPoint, Conversation, InboundMessage, Notification, Person, Service
from gateway.domain import Channel, ContactKind
from gateway.sendtime.policy import is_opted_out
from gateway.victim_access import victim_people
from gateway.web.access import audit_view, can_see_victim_data, not_found, parse_id, signed_in
from gateway.web.compose_form import composer_context
from gateway.web.context import StaffContext
from gateway.web.conversation_data import get_conversation, is_victim_conversation, unknown_sender
from gateway.web.render import render_page

routes = web.RouteTableDef()

STATUS_LABELS = {
    "created": "Queued",
    "sending": "Sending",
    "pending": "Sending",
    "sent": "Sent",
    "delivered": "Delivered",
    "permanent-failure": "Failed",
    "temporary-failure": "Failed",
    "technical-failure": "Failed",
    "cancelled": "Cancelled",
}


SENT_STATUS = {"sent": "Your message has been sent.", "scheduled": "Your message has been scheduled."}


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """Where a reply goes: the channel and address of the person's last message (or their phone)."""

    channel: Channel
    address: str  # never logged or shown in full
    index: str
    sender: str | None

    @property
    def masked(self) -> str:
        digits = [c for c in self.address if c.isdigit()]
        return f"number ending {''.join(digits[-4:])}" if self.channel is Channel.SMS else "their email address"


async def visible_conversation(
    db: AsyncSession, request: web.Request, conversation_id: uuid.UUID, *, audit: bool = False
) -> Conversation:
    """The conversation if this staff member may see it (404 otherwise); a victim view is audited."""
    staff = signed_in(request)
    conversation = await get_conversation(db, staff, conversation_id)
    if conversation is None:
        raise not_found()
    if await is_victim_conversation(db, staff, conversation):
        if not can_see_victim_data(staff, staff.service):
            raise not_found()
        if audit:
            audit_view(db, request, staff, "victim_conversation", str(conversation.id))
    return conversation


async def reply_target(
    db: AsyncSession, vault: Vault, conversation: Conversation, via: Channel | None = None
) -> ReplyTarget | None:
    """The last inbound message's sender and channel; else the person's phone; else nowhere.

    `via` (a failed message's next step, "send it by email instead") picks the person's current
    contact point of that channel instead, when they have one.

    An email reply is answered at the address its reply token was sent to when its From differs:
    anyone can type any From, and staff must not be made to write to an address of a stranger's
    choosing (or a victim's) from someone else's conversation.
    """
    service = await db.get(Service, conversation.service_id)
    assert service is not None
    if via is not None and conversation.person_id is not None:
        point = await current_contact(db, conversation, via)
        if point is not None:
            sender = service.sms_sender if via is Channel.SMS else service.email_from
            return ReplyTarget(via, vault.open(point.value_enc), point.value_index, sender)
    last = await db.get(InboundMessage, conversation.last_inbound_id) if conversation.last_inbound_id else None
    if last is not None and await _retired_for_person(db, conversation, last.sender_index):
        last = None  # they wrote last from a number since changed: reply to the current one
    if last is not None and last.channel in (Channel.SMS.value, Channel.EMAIL.value):
        channel = Channel(last.channel)
        address, index = vault.open(last.sender_enc), last.sender_index
        answered = await _answered_email(db, conversation.service_id, last)
        if answered is not None and answered.recipient_index != index:
            address, index = vault.open(answered.recipient_enc), answered.recipient_index
    elif conversation.person_id is not None:
        phone = await db.scalar(
            select(ContactPoint)
            .where(
                ContactPoint.service_id == conversation.service_id,
                ContactPoint.person_id == conversation.person_id,
                ContactPoint.kind == ContactKind.PHONE.value,
                ContactPoint.retired_at.is_(None),  # a changed number is never sent to
            )
            .order_by(ContactPoint.created_at.desc())
        )
        if phone is None:
            return None
        channel, address, index = Channel.SMS, vault.open(phone.value_enc), phone.value_index
    else:
        return None
    sender = service.sms_sender if channel is Channel.SMS else service.email_from
    return ReplyTarget(channel, address, index, sender)


async def current_contact(db: AsyncSession, conversation: Conversation, channel: Channel) -> ContactPoint | None:
    """The person's newest current (not retired) phone or email address."""
    kind = ContactKind.PHONE if channel is Channel.SMS else ContactKind.EMAIL
    found: ContactPoint | None = await db.scalar(
        select(ContactPoint)
        .where(
            ContactPoint.service_id == conversation.service_id,
            ContactPoint.person_id == conversation.person_id,
            ContactPoint.kind == kind.value,
            ContactPoint.retired_at.is_(None),
        )
        .order_by(ContactPoint.created_at.desc())
    )
    return found


def parse_via(raw: str | None) -> Channel | None:
    return {"sms": Channel.SMS, "email": Channel.EMAIL}.get(raw or "")


async def _retired_for_person(db: AsyncSession, conversation: Conversation, index: str) -> bool:
    """True when `index` is one of the person's changed (retired) contact points and not a current one."""
    if conversation.person_id is None:
        return False
    rows = (
        await db.scalars(
            select(ContactPoint.retired_at).where(
                ContactPoint.service_id == conversation.service_id,
                ContactPoint.person_id == conversation.person_id,
                ContactPoint.value_index == index,
            )
        )
    ).all()
    return bool(rows) and all(at is not None for at in rows)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A person an unknown sender may be linked to; `victim` asks for a confirmation when chosen."""

    id: uuid.UUID
    name: str
    victim: bool


async def link_candidates(db: AsyncSession, staff: StaffContext) -> list[Candidate]:
    """The people of the service this member of staff may link a sender to: victims only for roles
    allowed victim data (`gateway.victim_access`), so an officer is never shown who is a victim."""
    victims = set((await db.scalars(victim_people(staff.service_id))).all())
    query = select(Person.id, Person.display_name).where(Person.service_id == staff.service_id)
    if victims and not can_see_victim_data(staff, staff.service):
        query = query.where(Person.id.not_in(victims))
    rows = (await db.execute(query.order_by(Person.display_name).limit(500))).all()
    return [Candidate(pid, name, pid in victims) for pid, name in rows]


async def _answered_email(db: AsyncSession, service_id: uuid.UUID, message: InboundMessage) -> Notification | None:
    """The email of this service that an inbound email replied to (by its reply token), if any."""
    if message.channel != Channel.EMAIL.value or message.reply_to_notification_id is None:
        return None
    return await db.scalar(
        select(Notification).where(
            Notification.id == message.reply_to_notification_id, Notification.service_id == service_id
        )
    )


def parse_after(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise web.HTTPBadRequest() from None


async def conversation_context(request: web.Request, conversation_id: uuid.UUID) -> dict[str, Any]:
    """Everything the page shows; marks it read for this member of staff and audits a victim view.

    `?before=<cursor>` shows the page of messages before that one (older), and marks nothing read.
    """
    staff = signed_in(request)
    app = request.app
    vault = app[keys.VAULT]
    try:
        before = parse_cursor(request.query.get("before"))
    except ValueError:
        raise web.HTTPBadRequest() from None
    via = parse_via(request.query.get("via"))
    async with app[keys.SESSIONS]() as db:
        conversation = await visible_conversation(db, request, conversation_id, audit=True)
        person = await db.get(Person, conversation.person_id) if conversation.person_id else None
        last = await db.get(InboundMessage, conversation.last_inbound_id) if conversation.last_inbound_id else None
        name = person.display_name if person else unknown_sender(vault, last.sender_enc if last else None)
        page = await load_thread(db, vault, conversation, name=name if person else "The sender", before=before)
        target = await reply_target(db, vault, conversation, via)
        opted_out = target is not None and await is_opted_out(
            db, staff.service_id, target.channel, target.index, target.sender
        )
        people = await link_candidates(db, staff) if person is None else []
        indexes = await address_indexes(db, conversation)
        waiting = await scheduled.for_conversation(db, conversation, indexes, vault.open)
        reachable = {
            channel.value: person is not None and await current_contact(db, conversation, channel) is not None
            for channel in (Channel.SMS, Channel.EMAIL)
        }
        if before is None and page.newest_inbound is not None:
            await mark_read(db, staff.user_id, conversation.id, page.newest_inbound)
        if conversation.unread_count and before is None:  # "new since anyone looked": the alert rule's
            await db.execute(update(Conversation).where(Conversation.id == conversation.id).values(unread_count=0))
        await db.commit()
    return {
        "title": name,
        "conversation": conversation,
        "person": person,
        "people": people,
        "thread": page.items,
        "earlier": page.earlier,
        "older_view": before is not None,
        "scheduled": waiting,
        "reachable": reachable,
        "labels": STATUS_LABELS,
        "target": target,
        "via": via.value if via and target and target.channel is via else "",
        "opted_out": opted_out,
        "mine": conversation.assigned_staff_id == staff.user_id,
    }


@routes.get("/conversations/{conversation_id}")
async def conversation_page(request: web.Request) -> web.StreamResponse:
    conversation_id = parse_id(request.match_info["conversation_id"])
    context = await conversation_context(request, conversation_id)
    context["composer_status"] = SENT_STATUS.get(request.query.get("done", ""))
    context.update(
        await composer_context(
            request,
            context["target"],
            request.query.get("template"),
            person=context["person"],
            case_id=context["conversation"].case_id,
        )
    )
    return render_page(request, "conversation.html", **context)


@routes.get("/conversations/{conversation_id}/messages")
async def conversation_messages(request: web.Request) -> web.StreamResponse:
    """Thread items as a fragment: newer than `after` (live), or the page before `before` (earlier);
    the next earlier cursor, if any, in the `X-Earlier-Cursor` header. Marks nothing read."""
    conversation_id = parse_id(request.match_info["conversation_id"])
    after = parse_after(request.query.get("after"))
    try:
        before = parse_cursor(request.query.get("before"))
    except ValueError:
        raise web.HTTPBadRequest() from None
    vault = request.app[keys.VAULT]
    async with request.app[keys.SESSIONS]() as db:
        conversation = await visible_conversation(db, request, conversation_id, audit=True)
        person = await db.get(Person, conversation.person_id) if conversation.person_id else None
        name = person.display_name if person else "The sender"
        page = await load_thread(db, vault, conversation, name=name, after=after, before=before)
        await db.commit()
    response = render_page(
        request,
        "_thread_items.html",
        title="Messages",
        thread=page.items,
        labels=STATUS_LABELS,
        conversation=conversation,
    )
    if page.earlier:
        response.headers["X-Earlier-Cursor"] = page.earlier
    return response
