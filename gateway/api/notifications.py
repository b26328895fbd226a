"""`/v2/notifications`: send SMS and email (letters: `gateway.api.letters`), get one, list with filters and paging."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gateway import keys
from gateway.api import present
from gateway.api.auth import Caller, admit_api_send, caller
from gateway.api.errors import json_response
from gateway.api.idempotency import IDEMPOTENCY_HEADER, check_same_request, checked_key, request_hash
from gateway.api.paging import newest_first, parse_id
from gateway.api.schemas import EmailRequest, SmsRequest, parse_body
from gateway.db import Notification, StaffUser
from gateway.domain import Channel, KeyType, NotificationStatus
from gateway.errors import BadRequest, NotFound, ValidationFailed
from gateway.outbound import Prepared, normalise_recipient, prepare_notification, recipient_index

FAILED_ALIASES = {
    NotificationStatus.PERMANENT_FAILURE,
    NotificationStatus.TEMPORARY_FAILURE,
    NotificationStatus.TECHNICAL_FAILURE,
}

routes = web.RouteTableDef()


@routes.post("/v2/notifications/sms")
async def post_sms(request: web.Request) -> web.Response:
    body = parse_body(SmsRequest, await request.read())
    if body.sms_sender_id is not None:
        raise BadRequest(
            f"sms_sender_id {body.sms_sender_id} does not exist in database for service id {caller(request).service_id}"
        )
    return await _send(
        request, Channel.SMS, body.phone_number, body.template_id, body.personalisation, body.reference, None
    )


@routes.post("/v2/notifications/email")
async def post_email(request: web.Request) -> web.Response:
    body = parse_body(EmailRequest, await request.read())
    if body.email_reply_to_id is not None:
        raise BadRequest(
            f"email_reply_to_id {body.email_reply_to_id} does not exist in database for service "
            f"id {caller(request).service_id}"
        )
    return await _send(
        request,
        Channel.EMAIL,
        body.email_address,
        body.template_id,
        body.personalisation,
        body.reference,
        body.one_click_unsubscribe_url,
    )


async def _send(
    request: web.Request,
    channel: Channel,
    raw_recipient: str,
    template_id: uuid.UUID,
    personalisation: dict[str, Any] | None,
    reference: str | None,
    unsubscribe_url: str | None,
) -> web.Response:
    return await send_notification(
        request,
        channel,
        template_id,
        personalisation,
        reference,
        raw_recipient=raw_recipient,
        unsubscribe_url=unsubscribe_url,
    )


async def send_notification(
    request: web.Request,
    channel: Channel,
    template_id: uuid.UUID,
    personalisation: dict[str, Any] | None,
    reference: str | None,
    *,
    raw_recipient: str | None = None,
    recipient: str | None = None,
    postage: str | None = None,
    unsubscribe_url: str | None = None,
) -> web.Response:
    """The one API send path: rate limit, idempotency, render, commit, 201. A recipient comes raw (SMS,
    email: normalised here) or already checked (a letter's address, `gateway.api.letters`)."""
    app = request.app
    settings, vault = app[keys.SETTINGS], app[keys.VAULT]
    who = caller(request)
    async with admit_api_send(request) as admitted:
        if recipient is None:
            recipient = normalise_recipient(channel, raw_recipient or "", settings.default_region)
        if who.key_type is KeyType.TEAM:
            await _require_team_member(request, who, channel, recipient)
        idempotency_key = checked_key(request.headers.get(IDEMPOTENCY_HEADER))
        this_hash = ""
        if idempotency_key is not None:
            extra = {"one_click_unsubscribe_url": unsubscribe_url} if unsubscribe_url else {}
            this_hash = request_hash(
                vault,
                channel=channel,
                recipient=recipient,
                template_id=template_id,
                personalisation={**(personalisation or {}), **extra},
                reference=reference,
            )
            existing = await _by_idempotency_key(request, who, idempotency_key)
            if existing is not None:
                check_same_request(idempotency_key, channel, existing.channel, existing.request_hash, this_hash)
                await admitted.give_back()  # a repeat stores nothing, so it does not count
                return _replay(request, channel, existing)
        template = await app[keys.TEMPLATES].get(who.service_id, template_id)
        prepared = prepare_notification(
            vault=vault,
            renderer=app[keys.RENDERER],
            template=template,
            channel=channel,
            recipient=recipient,
            personalisation=personalisation,
            service_id=who.service_id,
            key_type=who.key_type,
            api_key_id=who.key_id,
            reference=reference,
            idempotency_key=idempotency_key,
            request_hash=this_hash or None,
            sender=_sender(who, channel),
            postage=postage,
        )
        try:
            await app[keys.INTAKE].submit(prepared.row)
        except IntegrityError:
            # A concurrent request with the same idempotency key won the race: answer with its row.
            existing = await _by_idempotency_key(request, who, idempotency_key) if idempotency_key else None
            if existing is None or idempotency_key is None:
                raise
            check_same_request(idempotency_key, channel, existing.channel, existing.request_hash, this_hash)
            await admitted.give_back()
            return _replay(request, channel, existing)
    return json_response(_created_body(request, channel, prepared), status=201)


def _sender(who: Caller, channel: Channel) -> str | None:
    return {Channel.SMS: who.service.sms_sender, Channel.EMAIL: who.service.email_from}.get(channel)


def _replay(request: web.Request, channel: Channel, existing: Notification) -> web.Response:
    """A repeated Idempotency-Key for the same request: the first notification again."""
    return json_response(_created_body(request, channel, existing), status=201)


def _created_body(request: web.Request, channel: Channel, item: Prepared | Notification) -> dict[str, Any]:
    base = request.app[keys.SETTINGS].base_url
    vault = request.app[keys.VAULT]
    if isinstance(item, Prepared):
        nid, reference, sender = item.row["id"], item.row["reference"], item.row["sender"]
        template_id, version = item.template.id, item.template.version
        body, subject = item.rendered.body, item.rendered.subject
    else:
        nid, reference, sender = item.id, item.reference, item.sender
        template_id, version = item.template_id, item.template_version
        body, subject = vault.open(item.body_enc), vault.open_optional(item.subject_enc)
    content: dict[str, Any] = {"body": body}
    if channel is Channel.SMS:
        content["from_number"] = sender
    elif channel is Channel.EMAIL:
        content.update(subject=subject, from_email=sender, one_click_unsubscribe_url=None)
    else:
        content["subject"] = subject
    return {
        "id": str(nid),
        "reference": reference,
        "content": content,
        "uri": f"{base}/v2/notifications/{nid}",
        "template": present.template_ref(base, template_id, version),
        "scheduled_for": None,
    }


async def _by_idempotency_key(request: web.Request, who: Caller, key: str) -> Notification | None:
    async with request.app[keys.SESSIONS]() as session:
        found: Notification | None = await session.scalar(
            select(Notification).where(
                Notification.service_id == who.service_id,
                Notification.key_type == who.key_type.value,
                Notification.idempotency_key == key,
            )
        )
        return found


async def _require_team_member(request: web.Request, who: Caller, channel: Channel, recipient: str) -> None:
    """Team keys only send to the service's own staff, as in Notify."""
    vault = request.app[keys.VAULT]
    async with request.app[keys.SESSIONS]() as session:
        staff = (
            await session.scalars(
                select(StaffUser).where(StaffUser.service_id == who.service_id, StaffUser.active.is_(True))
            )
        ).all()
    if channel is Channel.EMAIL:
        allowed = {s.email.lower() for s in staff}
        ok = recipient.lower() in allowed
    else:
        ok = recipient_index(vault, channel, recipient) in {s.mobile_index for s in staff}
    if not ok:
        raise BadRequest("Can’t send to this recipient using a team-only API key")


@routes.get("/v2/notifications/{notification_id}")
async def get_notification(request: web.Request) -> web.Response:
    notification_id = parse_id(request.match_info["notification_id"], "notification_id")
    who = caller(request)
    async with request.app[keys.SESSIONS]() as session:
        found = await session.scalar(
            select(Notification).where(Notification.id == notification_id, Notification.service_id == who.service_id)
        )
    if found is None:
        raise NotFound("No result found")
    app = request.app
    return json_response(present.notification(app[keys.SETTINGS].base_url, app[keys.VAULT], found))


@routes.get("/v2/notifications")
async def list_notifications(request: web.Request) -> web.Response:
    who = caller(request)
    app = request.app
    query = request.query
    statuses = _statuses(query.getall("status", []))
    types = query.getall("template_type", [])
    for t in types:
        if t not in {c.value for c in Channel}:
            raise ValidationFailed(f"template_type {t} is not one of [sms, email, letter]")
    stmt = select(Notification).where(
        Notification.service_id == who.service_id, Notification.key_type == who.key_type.value
    )
    if statuses:
        stmt = stmt.where(Notification.status.in_(statuses))
    if types:
        stmt = stmt.where(Notification.channel.in_(types))
    if reference := query.get("reference"):
        if "\x00" in reference:
            raise ValidationFailed("reference must not contain NUL characters")
        stmt = stmt.where(Notification.reference == reference)
    async with app[keys.SESSIONS]() as session:
        rows: list[Notification] = await newest_first(
            session,
            stmt,
            when=Notification.created_at,
            ident=Notification.id,
            scope=[Notification.service_id == who.service_id],
            older_than=query.get("older_than"),
        )
    base = app[keys.SETTINGS].base_url
    vault = app[keys.VAULT]
    links = {"current": str(request.url.with_scheme(request.scheme))}
    if rows:  # as Notify does: `next` whenever the page is not empty; an empty page ends the walk
        params = [(k, v) for k, v in query.items() if k != "older_than"] + [("older_than", str(rows[-1].id))]
        links["next"] = str(request.url.with_query(params))
    return json_response(
        {"notifications": [present.notification(base, vault, n) for n in rows], "links": _public(base, links)}
    )


def _public(base: str, links: dict[str, str]) -> dict[str, str]:
    """Links point at the gateway's public URL, not the address the request arrived on."""
    out = {}
    for name, url in links.items():
        path = url.split("/v2/", 1)[1] if "/v2/" in url else ""
        out[name] = f"{base}/v2/{path}"
    return out


def _statuses(values: list[str]) -> list[str]:
    out: set[str] = set()
    allowed = {s.value for s in NotificationStatus}
    for value in values:
        if value == "failed":
            out.update(s.value for s in FAILED_ALIASES)
        elif value in allowed:
            out.add(value)
        else:
            raise ValidationFailed(f"status {value} is not one of [{', '.join(sorted(allowed | {'failed'}))}]")
    return sorted(out)
