"""`POST /webhooks/twilio/sms`: Twilio's inbound SMS/MMS webhook. Authenticate, save, enqueue, acknowledge.

1. `verified_form` checks `X-Twilio-Signature` against GATEWAY_PUBLIC_URL: forged or unsigned is a
   403 and nothing is stored.
2. The service is the one whose `sms_sender` is the `To` number (or whose Messaging Service SID
   Twilio names). Unknown: logged and answered 200 with empty TwiML, so Twilio stops retrying a
   message nobody here can take.
3. One `InboundMessage` per `MessageSid` (a Twilio retry or a replayed request is stored once and
   answered 200 again), committed in groups by the `InboundWriter` (`gateway.inbound.writer`)
   before the answer. Body and sender are sealed; the sender is found by blind index. MMS media
   (`NumMedia`, `MediaUrlN`, `MediaContentTypeN`) are kept as references only: never fetched,
   never rendered.
4. After the commit, `process_inbound` is enqueued as `inbound:{id}`; if that fails the row waits
   in `received` for the sweeper. The answer is an empty TwiML `<Response>`: the gateway replies,
   if at all, through its own send path, not through TwiML.
"""

from __future__ import annotations

import time
import uuid

import structlog
from aiohttp import web
from sqlalchemy import or_, select

from gateway import keys
from gateway.db import Service
from gateway.domain import Channel
from gateway.inbound.store import Arrival, enqueue_processing, store_inbound
from gateway.recipients import E164, InvalidRecipient, normalise_phone
from gateway.webhooks.twilio_signature import verified_form

log = structlog.get_logger()

PATH = "/webhooks/twilio/sms"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
MAX_MEDIA = 10
CACHE_SECONDS = 10.0


def empty_twiml() -> web.Response:
    return web.Response(text=EMPTY_TWIML, content_type="text/xml", charset="utf-8")


def normalise_sender(raw: str, region: str) -> str:
    """E.164 when it is a phone number; short codes and alphanumeric senders are kept as given."""
    if E164.match(raw):  # what Twilio sends for a phone: already normalised (and parsing costs ~0.2 ms)
        return raw
    try:
        return normalise_phone(raw, region)
    except InvalidRecipient:
        return raw.strip()[:64]


def media_references(form: dict[str, str]) -> list[dict[str, str]]:
    """`NumMedia` and `MediaUrlN` / `MediaContentTypeN` as references; the media are never fetched."""
    try:
        count = max(0, min(int(form.get("NumMedia", "0") or 0), MAX_MEDIA))
    except ValueError:
        count = 0
    media = []
    for n in range(count):
        url = form.get(f"MediaUrl{n}")
        if url:
            media.append({"kind": "mms", "url": url[:1024], "content_type": form.get(f"MediaContentType{n}", "")[:128]})
    return media


class TwilioInbound:
    """The webhook handler, with a short cache of which service owns which number."""

    def __init__(self) -> None:
        self._services: dict[tuple[str, str], tuple[float, uuid.UUID | None]] = {}

    async def service_for(self, request: web.Request, to: str, messaging_service_sid: str) -> uuid.UUID | None:
        key, now = (to, messaging_service_sid), time.monotonic()
        cached = self._services.get(key)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        matches = [Service.sms_sender == to] if to else []
        if messaging_service_sid:
            matches.append(Service.messaging_service_sid == messaging_service_sid)
        found = None
        if matches:
            async with request.app[keys.SESSIONS]() as session:
                rows = (
                    await session.execute(
                        select(Service.id, Service.sms_sender).where(Service.active.is_(True), or_(*matches))
                    )
                ).all()
            # The number itself decides over the Messaging Service, which may hold several numbers.
            found = next((r.id for r in rows if r.sms_sender == to), rows[0].id if rows else None)
        self._services[key] = (now, found)
        return found

    async def receive(self, request: web.Request) -> web.Response:
        app = request.app
        settings = app[keys.SETTINGS]
        fields = await verified_form(request, settings.twilio_auth_token, settings.base_url)
        form = {k: v for k, v in fields.items()}
        sid = form.get("MessageSid") or form.get("SmsSid") or ""
        if not sid:
            log.warning("twilio_inbound.no_message_sid")
            return empty_twiml()
        service_id = await self.service_for(request, form.get("To", "").strip(), form.get("MessagingServiceSid", ""))
        if service_id is None:
            log.warning("twilio_inbound.unknown_number", message_sid=sid)
            return empty_twiml()
        arrival = Arrival(
            service_id=service_id,
            channel=Channel.SMS,
            provider_id=sid,
            sender=normalise_sender(form.get("From", ""), settings.default_region),
            recipient=form.get("To", "").strip(),
            body=form.get("Body", ""),
            media=media_references(form),
        )
        writer = app.get(keys.INBOUND_WRITER)
        if writer is not None:
            inbound_id, created = await writer.submit(arrival)
        else:
            inbound_id, created = await store_inbound(app[keys.ENGINE], app[keys.VAULT], arrival)
        if created:
            await enqueue_processing(app.get(keys.QUEUE), inbound_id)
        else:
            log.info("twilio_inbound.duplicate", message_sid=sid, inbound_id=str(inbound_id))
        return empty_twiml()


def setup_twilio_inbound(app: web.Application) -> None:
    app.router.add_post(PATH, TwilioInbound().receive)
