"""The sandbox phone: read what the gateway texted a number and reply as that person.

Only in embedded mode with the SMS sandbox (no Twilio account configured); otherwise the page
says it is off and replies are refused. Messages "sent" by the sandbox channel stay in the
database as notifications with provider `sandbox`; this page shows them for one number.

A reply takes the real inbound path: it is stored exactly as the Twilio webhook stores a message
(`store_inbound`, provider id `sandbox-<uuid>`) and `process_inbound` is enqueued, so it reaches
the conversation, the case record, opt-out keywords and every other handler.

Numbers never travel in a URL (they would land in access logs): a person is chosen by id, and a
typed number is sent in a POST body. A reply redirects (POST-redirect-GET) to the phone by the
person's id, or by the reply's own id (`reply=`), so a refresh never posts it again.
"""

from __future__ import annotations

import uuid

import structlog
from aiohttp import web
from sqlalchemy import select

from gateway import keys
from gateway.db import InboundMessage, Service
from gateway.domain import Channel
from gateway.inbound.store import Arrival, enqueue_processing, store_inbound
from gateway.recipients import InvalidRecipient, normalise_phone
from gateway.web.access import can_see_victim_data, parse_id, signed_in
from gateway.web.context import StaffContext
from gateway.web.render import render_page, see_other
from gateway.web.sandbox_data import phone_of, sandbox_people, thread

log = structlog.get_logger()
routes = web.RouteTableDef()

SANDBOX_RECIPIENT = "sandbox"
MAX_REPLY_CHARS = 1600


async def _page(
    request: web.Request,
    staff: StaffContext,
    *,
    number: str | None = None,
    person_id: uuid.UUID | None = None,
    errors: list[str] | None = None,
    notice: str | None = None,
    body: str = "",
) -> web.Response:
    settings = request.app[keys.SETTINGS]
    if not settings.sms_sandbox:
        return render_page(request, "sandbox.html", title="Sandbox phone", enabled=False)
    vault = request.app[keys.VAULT]
    victims = can_see_victim_data(staff, staff.service)
    async with request.app[keys.SESSIONS]() as db:
        people = await sandbox_people(db, staff.service_id, include_victims=victims)
        chosen = next((p for p in people if p.id == person_id), None)
        if chosen is not None and number is None:
            number = await phone_of(db, vault, staff.service_id, chosen.id)
        messages = await thread(db, vault, staff.service_id, number) if number else []
    return render_page(
        request,
        "sandbox.html",
        status=400 if errors else 200,
        title="Sandbox phone",
        enabled=True,
        people=people,
        chosen=chosen,
        number=number,
        messages=messages,
        sandbox_notice=notice,
        body=body,
        errors=errors or [],
    )


REPLIED = "Reply sent to the gateway."


@routes.get("/sandbox")
async def sandbox_page(request: web.Request) -> web.StreamResponse:
    """The phone of a chosen person, or (`reply=<id>`) of the number a sandbox reply came from."""
    staff = signed_in(request)
    raw = request.query.get("person")
    notice = REPLIED if request.query.get("done") == "replied" else None
    raw_reply = request.query.get("reply")
    if raw_reply:
        number = await _reply_number(request, staff, parse_id(raw_reply))
        return await _page(request, staff, number=number, notice=notice)
    return await _page(request, staff, person_id=parse_id(raw) if raw else None, notice=notice)


async def _reply_number(request: web.Request, staff: StaffContext, inbound_id: uuid.UUID) -> str:
    """The number a sandbox reply of this service came from (so the number stays out of the URL)."""
    async with request.app[keys.SESSIONS]() as db:
        found = await db.scalar(
            select(InboundMessage.sender_enc).where(
                InboundMessage.id == inbound_id,
                InboundMessage.service_id == staff.service_id,
                InboundMessage.provider_id.startswith("sandbox-"),
            )
        )
    if found is None:
        raise web.HTTPNotFound()
    return request.app[keys.VAULT].open(found)


def _number(request: web.Request, raw: object) -> str | None:
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        return normalise_phone(raw, request.app[keys.SETTINGS].default_region)
    except InvalidRecipient:
        return None


@routes.post("/sandbox")
async def sandbox_open_number(request: web.Request) -> web.StreamResponse:
    """Show the phone for a typed number (POSTed, so the number stays out of URLs and logs)."""
    staff = signed_in(request)
    form = await request.post()
    number = _number(request, form.get("number"))
    if number is None:
        return await _page(request, staff, errors=["Enter a phone number, like +12025550143."])
    return await _page(request, staff, number=number)


@routes.post("/sandbox/reply")
async def sandbox_reply(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    settings = request.app[keys.SETTINGS]
    if not settings.sms_sandbox:
        raise web.HTTPForbidden(text="The sandbox phone is off: this gateway sends real text messages.")
    form = await request.post()
    raw_person = form.get("person_id")
    person_id = parse_id(raw_person) if isinstance(raw_person, str) and raw_person else None
    number = _number(request, form.get("number"))
    if person_id is not None:  # a chosen person's number comes from their record, not the form
        async with request.app[keys.SESSIONS]() as db:
            people = await sandbox_people(
                db, staff.service_id, include_victims=can_see_victim_data(staff, staff.service)
            )
            allowed = any(p.id == person_id for p in people)
            number = await phone_of(db, request.app[keys.VAULT], staff.service_id, person_id) if allowed else None
    raw_body = form.get("body")
    body = raw_body.strip() if isinstance(raw_body, str) else ""
    if number is None or not body or len(body) > MAX_REPLY_CHARS:
        problem = "Write the reply before sending it." if number else "Choose a person or enter a phone number."
        if len(body) > MAX_REPLY_CHARS:
            problem = f"A reply can be at most {MAX_REPLY_CHARS} characters."
        return await _page(request, staff, number=number, person_id=person_id, errors=[problem], body=body)
    async with request.app[keys.SESSIONS]() as db:
        service = await db.get(Service, staff.service_id)
    arrival = Arrival(
        service_id=staff.service_id,
        channel=Channel.SMS,
        provider_id=f"sandbox-{uuid.uuid4()}",
        sender=number,
        recipient=(service.sms_sender if service and service.sms_sender else SANDBOX_RECIPIENT),
        body=body,
    )
    inbound_id, _ = await store_inbound(request.app[keys.ENGINE], request.app[keys.VAULT], arrival)
    await enqueue_processing(request.app.get(keys.QUEUE), inbound_id)
    log.info("sandbox.reply_stored", inbound_id=str(inbound_id), staff_id=str(staff.user_id))
    # POST-redirect-GET: reloading the page shows the phone again and never sends the reply twice.
    if person_id is not None:
        raise see_other(f"/sandbox?person={person_id}&done=replied")
    raise see_other(f"/sandbox?reply={inbound_id}&done=replied")
