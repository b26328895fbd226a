"""`POST /v2/notifications/letter` and `GET /v2/notifications/{id}/pdf`: Notify's letter API.

A templated letter's address is checked here (`gateway.letters.address`: 3-7 lines, a US city line or
another country, each line fits the window) and its postage chosen (`gateway.letters.postage`); then it
takes the same send path as SMS and email (`send_notification`). Team keys cannot send letters, as in
Notify. The PDF is there once the letter channel has accepted the letter (`PDFNotReadyError` before).
"""

from __future__ import annotations

import asyncio
import base64

import orjson
from aiohttp import web
from sqlalchemy import select

from gateway import keys
from gateway.api.auth import caller
from gateway.api.errors import json_response
from gateway.api.notifications import send_notification
from gateway.api.paging import parse_id
from gateway.api.schemas import LetterRequest, parse_body
from gateway.db import LetterDocument, Notification
from gateway.domain import Channel, KeyType, NotificationStatus
from gateway.errors import ApiError, AuthFailed, BadRequest, NotFound, ValidationFailed
from gateway.letters.address import from_personalisation
from gateway.letters.content import open_content
from gateway.letters.intake import accept_precompiled
from gateway.letters.logo import load_logos
from gateway.letters.pdf import render_pdf
from gateway.letters.postage import ACCEPTED_NAMES, DEFAULT_POSTAGE, Postage, parse_postage, postage_for

routes = web.RouteTableDef()
S = NotificationStatus
NO_PDF = frozenset({S.VALIDATION_FAILED.value, S.TECHNICAL_FAILURE.value, S.CANCELLED.value})


@routes.post("/v2/notifications/letter")
async def post_letter(request: web.Request) -> web.Response:
    raw = await request.read()
    who = caller(request)
    if who.key_type is KeyType.TEAM:
        raise AuthFailed("Cannot send letters with a team api key", status=403)
    if _precompiled(raw):
        return json_response(await accept_precompiled(request, raw), status=201)
    body = parse_body(LetterRequest, raw)
    address = from_personalisation(body.personalisation)
    template = await request.app[keys.TEMPLATES].get(who.service_id, body.template_id)
    requested = _postage(body.postage) or parse_postage((template.postage if template else None) or "")
    postage = postage_for(requested or DEFAULT_POSTAGE, address.international)
    return await send_notification(
        request,
        Channel.LETTER,
        body.template_id,
        body.personalisation,
        body.reference,
        recipient=address.as_text(),
        postage=postage.value,
    )


def _precompiled(raw: bytes) -> bool:
    """Notify's precompiled-letter request (`content`: a base64 PDF): `gateway.letters.intake`."""
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return False  # parse_body answers it
    return isinstance(data, dict) and "content" in data


def _postage(value: str | None) -> Postage | None:
    if value is None:
        return None
    found = parse_postage(value)
    if found is None:
        raise ValidationFailed(f"postage invalid. It must be one of {', '.join(ACCEPTED_NAMES)}")
    return found


@routes.get("/v2/notifications/{notification_id}/pdf")
async def get_pdf(request: web.Request) -> web.Response:
    notification_id = parse_id(request.match_info["notification_id"], "notification_id")
    who = caller(request)
    async with request.app[keys.SESSIONS]() as session:
        found = (
            await session.execute(
                select(Notification.channel, Notification.status, LetterDocument)
                .outerjoin(LetterDocument, LetterDocument.notification_id == Notification.id)
                .where(Notification.id == notification_id, Notification.service_id == who.service_id)
            )
        ).first()
    if found is None:
        raise NotFound("No result found")
    channel, status, document = found
    if channel != Channel.LETTER.value:
        raise BadRequest("Notification is not a letter")
    if status in NO_PDF:
        raise BadRequest(f"PDF not available for letters in status {status}")
    if document is None or document.pages == 0:
        raise ApiError(400, "PDFNotReadyError", "PDF not available yet, try again later")
    pdf = await letter_pdf(request.app, document)
    return web.Response(body=pdf, content_type="application/pdf")


async def letter_pdf(app: web.Application, document: LetterDocument) -> bytes:
    """The PDF of a letter: a precompiled letter's own, or the templated letter's fixed content drawn again."""
    vault = app[keys.VAULT]
    if document.kind == "precompiled":
        return base64.b64decode(vault.open(document.content_enc))
    content = open_content(vault, document.content_enc)
    async with app[keys.SESSIONS]() as session:
        logos = await load_logos(session, [content.logo])
    pdf, _ = await asyncio.to_thread(render_pdf, content, content.subject, logos)
    return pdf
