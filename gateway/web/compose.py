"""Sending from a conversation: `POST /conversations/{id}/send`.

The message goes through the same path as the API: `prepare_notification` (validate, render the
agency's `free_text` template or the chosen one), `insert_notifications` (the row and its first
status event), then `enqueue_deliveries` after the commit. It records who sent it
(`created_by_staff_id`) and for whom (`person_id`, `case_id`), and adds a case record entry when
the conversation has a case.

An opted-out or retired recipient (`gateway.sendtime.policy`) is refused here with the reason, before
anything is stored (the delivery job checks again at send time). A send time (`send_at`, on the
service's wall clock, stored as UTC) stores the message with `scheduled_for` and
`next_attempt_at`, and nothing is enqueued: the scheduler (`gateway.appointments.scheduler`, every
minute) hands it to delivery when it falls due, as it does reminders; the delivery job also waits
for `next_attempt_at`, so an early run cannot send it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from aiohttp import web

from gateway import keys
from gateway.api.intake import insert_notifications
from gateway.db.base import utcnow
from gateway.db.write_lock import write_lock
from gateway.domain import Channel, KeyType, RecordKind
from gateway.errors import ApiError
from gateway.jobs.delivery import enqueue_deliveries
from gateway.localtime import NonexistentTime, from_local
from gateway.outbound import prepare_notification
from gateway.record import append_entry
from gateway.sendtime.policy import Addressee, is_opted_out, unsendable_reason
from gateway.templating import sms_length
from gateway.web.access import parse_id, signed_in
from gateway.web.compose_form import (
    FIELD_PREFIX,
    FREE_TEXT,
    chosen_template,
    composer_context,
    length_warnings,
    render_preview,
)
from gateway.web.conversation import conversation_context, parse_via, reply_target, visible_conversation
from gateway.web.render import render_page, see_other

log = structlog.get_logger()
routes = web.RouteTableDef()

MAX_SCHEDULE = timedelta(days=90)


class ComposeError(Exception):
    """Something the staff member can fix: shown above the composer, nothing stored."""


def parse_send_at(raw: str, zone_name: str) -> datetime | None:
    """`YYYY-MM-DDTHH:MM` from a datetime-local field, read on the service's wall clock (`zone_name`);
    returned in UTC. Blank means now."""
    if not raw.strip():
        return None
    try:
        wall = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ComposeError("Enter the send time as a date and time, for example 2030-01-31 09:30.") from None
    try:
        when = wall.astimezone(UTC) if wall.tzinfo else from_local(wall, zone_name)
    except NonexistentTime as exc:
        raise ComposeError(f"{exc}. Choose another time.") from None
    now = utcnow()
    if when <= now:
        raise ComposeError("The send time must be in the future. Leave it blank to send now.")
    if when - now > MAX_SCHEDULE:
        raise ComposeError("A message can be scheduled at most 90 days ahead.")
    return when


def free_text_personalisation(message: str, channel: Channel, service_name: str) -> dict[str, str]:
    """A free-text message's template values: the text, and for email the subject staff messages carry."""
    values = {"message": message}
    if channel is Channel.EMAIL:
        values["subject"] = f"A message from {service_name}"
    return values


def _personalisation(form: Any, channel: Channel, free_text: bool, service_name: str) -> dict[str, str]:
    if free_text:
        message = str(form.get("message", "")).strip()
        if not message:
            raise ComposeError("Write a message before sending.")
        return free_text_personalisation(message, channel, service_name)
    # Blank fields are left out, so the renderer reports them as missing rather than sending blanks.
    return {
        key[len(FIELD_PREFIX) :]: value.strip()
        for key, value in form.items()
        if key.startswith(FIELD_PREFIX) and isinstance(value, str) and value.strip()
    }


@routes.post("/conversations/{conversation_id}/send")
async def send(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    app = request.app
    conversation_id = parse_id(request.match_info["conversation_id"])
    form = await request.post()
    raw_template = str(form.get("template", "") or "")
    async with app[keys.SESSIONS]() as db:
        conversation = await visible_conversation(db, request, conversation_id)
        target = await reply_target(db, app[keys.VAULT], conversation, parse_via(str(form.get("via", "") or "")))
        try:
            if target is None:
                raise ComposeError("There is no phone number or email address to reply to.")
            if await is_opted_out(db, staff.service_id, target.channel, target.index, target.sender):
                raise ComposeError(
                    "This person has opted out of messages from this service (they replied STOP). "
                    "Nothing was sent. They can opt back in by replying START."
                )
            addressee = Addressee(staff.service_id, target.channel, target.index, target.sender, conversation.person_id)
            if (retired := await unsendable_reason(db, addressee)) is not None:
                raise ComposeError(retired)
            template = await chosen_template(request, target.channel, raw_template)
            when = parse_send_at(str(form.get("send_at", "") or ""), staff.service.timezone)
            values = _personalisation(form, target.channel, template is None, staff.service.name)
            prepared = prepare_notification(
                vault=app[keys.VAULT],
                renderer=app[keys.RENDERER],
                template=template or await app[keys.TEMPLATES].get(staff.service_id, FREE_TEXT[target.channel]),
                channel=target.channel,
                recipient=target.address,
                personalisation=values,
                service_id=staff.service_id,
                key_type=KeyType.LIVE,
                sender=target.sender,
                person_id=conversation.person_id,
                case_id=conversation.case_id,
                created_by_staff_id=staff.user_id,
            )
        except (ComposeError, ApiError) as exc:
            message = exc.message if isinstance(exc, ApiError) else str(exc)
            return await _refused(request, conversation_id, raw_template, form, message)
    row = prepared.row
    if when is not None:
        row["scheduled_for"] = row["next_attempt_at"] = when
    engine = app[keys.ENGINE]
    async with write_lock(engine), engine.begin() as conn:
        await insert_notifications(conn, [row])
    notification_id: uuid.UUID = row["id"]
    if when is None or when <= utcnow():  # a scheduled one goes when the scheduler finds it due (one way)
        await enqueue_deliveries(app[keys.QUEUE], [notification_id])
    if conversation.case_id is not None:
        what = "scheduled" if when else "sent"
        await append_entry(
            app[keys.SESSIONS],
            conversation.case_id,
            RecordKind.OUTBOUND,
            staff.actor,
            f"Staff {what} a {target.channel.value} message from the conversation",
            {"conversation_id": str(conversation_id), "scheduled_for": when.isoformat() if when else None},
            notification_id=notification_id,
        )
    log.info(
        "conversation.sent",
        conversation_id=str(conversation_id),
        notification_id=str(notification_id),
        scheduled=when is not None,
    )
    # The page comes back with a status message that takes the focus (status.js), so it is announced.
    raise see_other(f"/conversations/{conversation_id}?done={'scheduled' if when else 'sent'}#composer")


@routes.post("/conversations/{conversation_id}/preview")
async def preview(request: web.Request) -> web.Response:
    """The composer's live preview: the message rendered with what is typed so far, its length and
    warnings (JSON, for composer.js). Nothing is stored; the same visibility rules as the page."""
    conversation_id = parse_id(request.match_info["conversation_id"])
    form = await request.post()
    async with request.app[keys.SESSIONS]() as db:
        conversation = await visible_conversation(db, request, conversation_id)
        target = await reply_target(db, request.app[keys.VAULT], conversation)
    if target is None:
        raise web.HTTPNotFound()
    template = await chosen_template(request, target.channel, str(form.get("template", "") or ""))
    if template is None:
        text = str(form.get("message", ""))
        length = sms_length(text)
        characters = length.characters if target.channel is Channel.SMS else len(text)
        fragments = length.fragments if target.channel is Channel.SMS else 0
        warnings = length_warnings(target.channel, characters, fragments)
        body: dict[str, Any] = {"body": text, "characters": characters, "fragments": fragments}
        body |= {"encoding": length.encoding, "warnings": list(warnings), "complete": bool(text.strip())}
        return web.json_response(body)
    return web.json_response(render_preview(request, template, _typed(form)).as_json())


def _typed(form: Any) -> dict[str, str]:
    return {k[len(FIELD_PREFIX) :]: v for k, v in form.items() if k.startswith(FIELD_PREFIX) and isinstance(v, str)}


async def _refused(
    request: web.Request, conversation_id: uuid.UUID, raw_template: str, form: Any, message: str
) -> web.Response:
    """The page again with the reason and what was typed, as a 400; nothing was stored."""
    context = await conversation_context(request, conversation_id)
    values = _typed(form)
    context.update(
        await composer_context(
            request,
            context["target"],
            raw_template,
            values,
            person=context["person"],
            case_id=context["conversation"].case_id,
        )
    )
    log.info("conversation.send_refused", conversation_id=str(conversation_id))
    return render_page(
        request,
        "conversation.html",
        status=400,
        errors=[message],
        draft=str(form.get("message", "")),
        send_at=str(form.get("send_at", "")),
        **context,
    )
