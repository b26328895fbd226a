"""Scheduled messages on the staff pages, and the conversation page's read and state calls.

* `GET /scheduled` — the signed-in member of staff's scheduled messages, soonest first, each with
  its send time on the service's clock, who it is to (a link to the conversation), and Edit / Cancel.
* `POST /scheduled/{id}/cancel`, `POST /scheduled/{id}/edit` (`send_at`, and `message` for a
  free-text one) — only while it has not gone (`gateway.conversations.scheduled`: a guarded UPDATE,
  so a message being sent cannot be edited); by its author or a supervisor or admin. `next` says
  where to go back to (the conversation or this page).
* `POST /conversations/{id}/read` (`through` = the time of the newest message the page showed) —
  the live script's "I have seen it", sent only while the page is visible and focused.
* `GET /conversations/{id}/state` — `{"opted_out": bool}` for the open page's opt-out line and
  composer, fetched when a message arrives in that conversation.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import structlog
from aiohttp import web

from gateway import keys
from gateway.conversations import scheduled
from gateway.conversations.reads import mark_read
from gateway.domain import Channel, KeyType, Role
from gateway.errors import ApiError
from gateway.jobs.delivery import DELIVER
from gateway.outbound import prepare_notification
from gateway.sendtime.policy import is_opted_out
from gateway.web import audit
from gateway.web.access import not_found, parse_id, signed_in
from gateway.web.compose import ComposeError, free_text_personalisation, parse_send_at
from gateway.web.compose_form import FREE_TEXT
from gateway.web.conversation import reply_target, visible_conversation
from gateway.web.render import render_page, see_other

log = structlog.get_logger()
routes = web.RouteTableDef()


def _next(raw: object) -> str:
    text = raw if isinstance(raw, str) else ""
    return text if text.startswith(("/conversations/", "/scheduled")) and "//" not in text else "/scheduled"


def _with(url: str, done: str) -> str:
    path, _, anchor = url.partition("#")
    return f"{path}{'&' if '?' in path else '?'}done=scheduled_{done}" + (f"#{anchor}" if anchor else "")


@routes.get("/scheduled")
async def scheduled_list(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    vault = request.app[keys.VAULT]
    async with request.app[keys.SESSIONS]() as db:
        rows = await scheduled.for_staff(db, staff.service_id, staff.user_id, vault.open)
    free = set(FREE_TEXT.values())
    return render_page(
        request,
        "scheduled.html",
        title="Scheduled messages",
        rows=rows,
        free_text=free,
    )


async def _may_change(request: web.Request, notification_id: uuid.UUID) -> None:
    staff = signed_in(request)
    async with request.app[keys.SESSIONS]() as db:
        n = await scheduled.get_pending(db, staff.service_id, notification_id)
    if n is None:
        raise web.HTTPSeeOther(_with(_next((await request.post()).get("next")), "too_late"))
    if n.created_by_staff_id != staff.user_id and not staff.has_role(Role.SUPERVISOR, Role.ADMIN):
        raise web.HTTPForbidden()


@routes.post("/scheduled/{notification_id}/cancel")
async def scheduled_cancel(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    notification_id = parse_id(request.match_info["notification_id"])
    form = await request.post()
    back = _next(form.get("next"))
    await _may_change(request, notification_id)
    async with request.app[keys.SESSIONS]() as db:
        try:
            await scheduled.cancel(db, staff.service_id, notification_id, staff.actor)
        except scheduled.TooLate:
            raise see_other(_with(back, "too_late")) from None
        audit.by_staff(db, request, staff, "notification.cancel", target=str(notification_id))
        await db.commit()
    log.info("scheduled.cancelled", notification_id=str(notification_id))
    raise see_other(_with(back, "cancelled"))


@routes.post("/scheduled/{notification_id}/edit")
async def scheduled_edit(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    app = request.app
    notification_id = parse_id(request.match_info["notification_id"])
    form = await request.post()
    back = _next(form.get("next"))
    await _may_change(request, notification_id)
    try:
        when = parse_send_at(str(form.get("send_at", "") or ""), staff.service.timezone)
        if when is None:
            raise ComposeError("Enter the new send time.")
    except ComposeError as exc:
        return await _edit_refused(request, str(exc))
    async with app[keys.SESSIONS]() as db:
        n = await scheduled.get_pending(db, staff.service_id, notification_id)
        if n is None:
            raise see_other(_with(back, "too_late"))
        values: dict[str, object] = {}
        text = str(form.get("message", "") or "").strip()
        channel = Channel(n.channel)
        if text and n.template_id == FREE_TEXT.get(channel):
            try:
                prepared = prepare_notification(
                    vault=app[keys.VAULT],
                    renderer=app[keys.RENDERER],
                    template=await app[keys.TEMPLATES].get(staff.service_id, n.template_id),
                    channel=channel,
                    recipient=app[keys.VAULT].open(n.recipient_enc),
                    personalisation=free_text_personalisation(text, channel, staff.service.name),
                    service_id=staff.service_id,
                    key_type=KeyType.LIVE,
                    sender=n.sender,
                )
            except ApiError as exc:
                return await _edit_refused(request, exc.message)
            values = {"body_enc": prepared.row["body_enc"], "fragments": prepared.row["fragments"]}
        try:
            await scheduled.edit(db, staff.service_id, notification_id, staff.actor, send_at=when, values=values)
        except scheduled.TooLate:
            raise see_other(_with(back, "too_late")) from None
        audit.by_staff(db, request, staff, "notification.edit", target=str(notification_id))
        await db.commit()
    # the scheduler (gateway.appointments.scheduler) sends it when the new time comes; a time already
    # passed goes now
    if when <= datetime.now(when.tzinfo):
        await app[keys.QUEUE].enqueue(DELIVER, str(notification_id), job_id=f"deliver:{notification_id}:edited")
    log.info("scheduled.edited", notification_id=str(notification_id))
    raise see_other(_with(back, "edited"))


async def _edit_refused(request: web.Request, message: str) -> web.Response:
    staff = signed_in(request)
    async with request.app[keys.SESSIONS]() as db:
        rows = await scheduled.for_staff(db, staff.service_id, staff.user_id, request.app[keys.VAULT].open)
    return render_page(
        request,
        "scheduled.html",
        status=400,
        title="Scheduled messages",
        rows=rows,
        free_text=set(FREE_TEXT.values()),
        errors=[message],
    )


@routes.post("/conversations/{conversation_id}/read")
async def conversation_read(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    conversation_id = parse_id(request.match_info["conversation_id"])
    form = await request.post()
    try:
        through = datetime.fromisoformat(str(form.get("through", "")))
    except ValueError:
        raise web.HTTPBadRequest() from None
    if through.tzinfo is None:
        raise web.HTTPBadRequest()
    async with request.app[keys.SESSIONS]() as db:
        conversation = await visible_conversation(db, request, conversation_id)
        await mark_read(db, staff.user_id, conversation.id, through)
        await db.commit()
    return web.Response(status=204)


@routes.get("/conversations/{conversation_id}/state")
async def conversation_state(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    conversation_id = parse_id(request.match_info["conversation_id"])
    async with request.app[keys.SESSIONS]() as db:
        conversation = await visible_conversation(db, request, conversation_id)
        target = await reply_target(db, request.app[keys.VAULT], conversation)
        if target is None:
            raise not_found()
        opted_out = await is_opted_out(db, staff.service_id, target.channel, target.index, target.sender)
    return web.json_response({"opted_out": opted_out})
