"""GC Notify's bulk API: `POST /v2/notifications/bulk`, `GET /v2/notifications/bulk` and
`GET /v2/notifications/bulk/{id}` — a broadcast (`gateway.broadcasts`) made by an agency's system.

The request names the job (`name`), the template, and its recipients as `rows` (an array of arrays,
the header first) or `csv` (the text of a CSV file), exactly one of them; optionally `scheduled_for`
(ISO 8601, at most 96 hours ahead; UTC when no offset is given) and `reply_to_id`. It is checked
whole before anything is stored, and refused with GC Notify's messages: "You should specify either
rows or csv", "Missing column headers: name", "Duplicate column headers: name, NAME", "Too many rows.
Maximum number of rows allowed is 50000", "Some rows have errors. Row 1 - name: Missing. Row 2 -
phone number: invalid recipient." (rows numbered from the first after the header), the daily limit.
Accepted, the job's row and one notification per row are written in one transaction and the
broadcast's pump hands them to delivery; each is an ordinary notification (`GET /v2/notifications/{id}`).
As with single sends, an opted-out number is accepted and refused at send time.
"""

from __future__ import annotations

import csv
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web
from sqlalchemy import func, select

from gateway import keys
from gateway.api.auth import Caller, caller
from gateway.api.errors import json_response
from gateway.api.paging import newest_first, parse_id
from gateway.api.present import timestamp
from gateway.broadcasts.audience import AudienceKind
from gateway.broadcasts.content import Content, load_content
from gateway.broadcasts.lifecycle import B, seal_upload
from gateway.broadcasts.preview import parts_of, screen
from gateway.broadcasts.pump import start_pump
from gateway.broadcasts.upload import HeaderError, check_list, read_csv_text
from gateway.broadcasts.write import write_recipients
from gateway.db import ApiKey, Broadcast, Notification, Service, StaffUser
from gateway.domain import Channel, KeyType
from gateway.errors import BadRequest, NotFound, ValidationFailed
from gateway.outbound import recipient_index
from gateway.sendtime.ratelimit import sent_today

routes = web.RouteTableDef()
MAX_ROWS = 50_000
MAX_AHEAD = timedelta(hours=96)
JOB_STATUS = {
    B.DRAFT.value: "pending",
    B.AWAITING_APPROVAL.value: "pending",
    B.APPROVED.value: "pending",
    B.SCHEDULED.value: "scheduled",
    B.SENDING.value: "in progress",
    B.PAUSED.value: "in progress",
    B.FINISHED.value: "finished",
    B.CANCELLED.value: "cancelled",
}
BULK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "template_id"],
    "properties": {
        "name": {"type": "string", "description": "The job's name"},
        "template_id": {"type": "string", "format": "uuid"},
        "rows": {
            "type": "array",
            "items": {"type": "array", "items": {"type": "string"}},
            "description": "The header (`phone number` or `email address`, and one column per template field), "
            "then one row per recipient. Give rows or csv, not both.",
        },
        "csv": {"type": "string", "description": "The text of a CSV file with the same columns, instead of rows"},
        "scheduled_for": {
            "type": ["string", "null"],
            "description": "ISO 8601, at most 96 hours ahead (UTC if no offset)",
        },
        "reply_to_id": {"type": ["string", "null"], "format": "uuid"},
    },
}
ISO_INVALID = (
    "scheduled_for datetime format is invalid. It must be a valid ISO8601 date time format, "
    "https://en.wikipedia.org/wiki/ISO_8601"
)


def _body(raw: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        raise BadRequest("Invalid JSON supplied in POST data") from None
    if not isinstance(data, dict):
        raise ValidationFailed("request body is not of type object")
    for name in ("name", "template_id"):
        if data.get(name) is None:
            raise ValidationFailed(f"{name} is a required property")
    if not isinstance(data["name"], str) or not data["name"].strip():
        raise ValidationFailed("name is not of type string")
    return data


def _scheduled_for(value: object, now: datetime) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"scheduled_for {value} is not of type string, null")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(ISO_INVALID) from None
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if when < now:
        raise ValidationFailed("scheduled_for datetime cannot be in the past")
    if when > now + MAX_AHEAD:
        raise ValidationFailed("scheduled_for datetime can only be up to 96 hours in the future")
    return when


def _table(data: dict[str, Any]) -> list[list[str]]:
    rows, text = data.get("rows"), data.get("csv")
    if bool(rows) == bool(text):
        raise BadRequest("You should specify either rows or csv")
    if rows:
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise ValidationFailed("rows is not of type array of arrays")
        return [["" if c is None else str(c) for c in r] for r in rows]
    if not isinstance(text, str):
        raise ValidationFailed("csv is not of type string")
    try:
        return read_csv_text(text)
    except csv.Error as exc:
        raise BadRequest(f"Error converting to CSV: {exc}") from None


@routes.post("/v2/notifications/bulk")
async def post_bulk(request: web.Request) -> web.Response:
    app = request.app
    who = caller(request)
    settings, vault, renderer = app[keys.SETTINGS], app[keys.VAULT], app[keys.RENDERER]
    data = _body(await request.clone(client_max_size=settings.upload_max_bytes).read())
    template_id = parse_id(str(data["template_id"]), "template_id")
    now = app[keys.CLOCK].now()
    when = _scheduled_for(data.get("scheduled_for"), now)
    if (reply_to := data.get("reply_to_id")) is not None:
        parse_id(str(reply_to), "reply_to_id")
        raise BadRequest(f"reply_to_id {reply_to} does not exist in database for service id {who.service_id}")
    table = _table(data)
    content = await load_content(
        app[keys.TEMPLATES], who.service_id, template_id=template_id, message=None, channels=None
    )
    template = next(iter(content.templates.values()))
    content = Content({template.channel: template}, None, {}, content.subject)  # the template's own channel only
    header, body = table[0], [r for r in table[1:] if any(c.strip() for c in r)]
    if len(body) > MAX_ROWS:
        raise BadRequest(f"Too many rows. Maximum number of rows allowed is {MAX_ROWS}")
    try:
        checked = check_list(
            header,
            enumerate(body, start=1),
            fields=content.fields(renderer),
            channels=content.channels,
            region=settings.default_region,
        )
    except HeaderError as exc:
        raise BadRequest(str(exc)) from None
    if checked.errors:
        raise BadRequest("Some rows have errors. " + " ".join(e.gc_notify() + "." for e in checked.errors))
    if not checked.recipients:
        raise BadRequest("Some rows have errors. There are no rows after the header.")
    if who.key_type is KeyType.TEAM:
        await _team_only(request, who, checked.recipients)
    if who.key_type is not KeyType.TEST:
        remaining = who.service.daily_limit - await sent_today(app[keys.SESSIONS], who.service_id)
        if len(checked.recipients) > remaining:
            raise BadRequest(
                f"You only have {max(0, remaining)} remaining messages before you reach your daily limit. "
                f"You've tried to send {len(checked.recipients)} messages."
            )
    async with app[keys.SESSIONS]() as db:
        service = await db.get(Service, who.service_id)
        assert service is not None
        screened = await screen(db, vault, renderer, service, content, checked.recipients, check_policy=False)
    if screened.left_out:
        first = screened.left_out[0]
        raise BadRequest(f"Some rows have errors. {first.label.capitalize()} - {first.reason}.")
    bid, token = uuid.uuid4(), secrets.token_hex(8)
    later = when is not None and when > now
    status = (B.SCHEDULED if later else B.SENDING).value
    new = {
        "service_id": who.service_id,
        "name": str(data["name"]).strip()[:255],
        "api_key_id": who.key_id,
        "key_type": who.key_type.value,
        "audience": f"API bulk job: {str(data['name']).strip()}"[:500],
        # the rows, sealed, and the template's channel: what a writer needs to resume (gateway.broadcasts.takeover)
        "audience_spec": {"kind": AudienceKind.UPLOAD.value, "value": "api", "channel": template.channel.value},
        "upload_enc": seal_upload(vault, header, list(enumerate(body, start=1)), str(data["name"]).strip()),
        "template_id": template.id,
        "template_version": template.version,
        "status": status,
        "scheduled_for": when,
        "recipient_count": 0,
        "left_out_count": 0,
        "created_at": now,
        "updated_at": now,
        "started_at": None if later else now,
        "pump_token": token,
    }

    async def started() -> None:
        await start_pump(app[keys.QUEUE], bid, token, defer_by=(when - now).total_seconds() if later and when else None)

    await write_recipients(
        app[keys.ENGINE],
        vault,
        renderer,
        service,
        bid,
        content,
        parts_of(screened),
        key_type=who.key_type,
        api_key_id=who.key_id,
        broadcast_values={},
        new_broadcast=new,
        started=started,
    )
    async with app[keys.SESSIONS]() as db:
        job = await db.get(Broadcast, bid)
        assert job is not None
        body_out = await _job(request, db, job)
    body_out["job_status"] = "scheduled" if later else "pending"
    return json_response({"data": body_out}, status=201)


async def _team_only(request: web.Request, who: Caller, recipients: list[Any]) -> None:
    vault = request.app[keys.VAULT]
    async with request.app[keys.SESSIONS]() as db:
        staff = (
            await db.execute(
                select(StaffUser.email, StaffUser.mobile_index).where(
                    StaffUser.service_id == who.service_id, StaffUser.active.is_(True)
                )
            )
        ).all()
    emails, mobiles = {e.lower() for e, _ in staff}, {m for _, m in staff if m}
    for r in recipients:
        ok = (
            r.address.lower() in emails
            if r.channel is Channel.EMAIL
            else recipient_index(vault, r.channel, r.address) in mobiles
        )
        if not ok:
            raise BadRequest("You cannot send to these recipients because you used a team and safelist API key.")


async def _job(request: web.Request, db: Any, job: Broadcast) -> dict[str, Any]:
    key = await db.get(ApiKey, job.api_key_id) if job.api_key_id else None
    service = await db.get(Service, job.service_id)
    count = await db.scalar(select(func.count()).where(Notification.broadcast_id == job.id))
    return {
        "id": str(job.id),
        "original_file_name": job.name,
        "job_status": JOB_STATUS.get(job.status, job.status),
        "notification_count": int(count or 0),
        "template": str(job.template_id) if job.template_id else None,
        "template_version": job.template_version,
        "scheduled_for": timestamp(job.scheduled_for),
        "created_at": timestamp(job.created_at),
        "updated_at": timestamp(job.updated_at),
        "processing_started": timestamp(job.started_at),
        "processing_finished": timestamp(job.finished_at),
        "service": str(job.service_id),
        "service_name": {"name": service.name if service else None},
        "api_key": {"id": str(key.id), "key_type": key.key_type, "name": key.name} if key else None,
        "created_by": None,
        "sender_id": None,
        "archived": False,
    }


@routes.get("/v2/notifications/bulk")
async def list_bulk(request: web.Request) -> web.Response:
    who = caller(request)
    async with request.app[keys.SESSIONS]() as db:
        jobs: list[Broadcast] = await newest_first(
            db,
            select(Broadcast).where(Broadcast.service_id == who.service_id),
            when=Broadcast.created_at,
            ident=Broadcast.id,
            scope=[Broadcast.service_id == who.service_id],
            older_than=request.query.get("older_than"),
        )
        body = [await _job(request, db, j) for j in jobs]
    base = request.app[keys.SETTINGS].base_url
    links = {"current": f"{base}/v2/notifications/bulk"}
    if jobs:
        links["next"] = f"{base}/v2/notifications/bulk?older_than={jobs[-1].id}"
    return json_response({"bulk_jobs": body, "links": links})


@routes.get("/v2/notifications/bulk/{job_id}")
async def get_bulk(request: web.Request) -> web.Response:
    who = caller(request)
    job_id = parse_id(request.match_info["job_id"], "job_id")
    async with request.app[keys.SESSIONS]() as db:
        job = await db.get(Broadcast, job_id)
        if job is None or job.service_id != who.service_id:
            raise NotFound("No result found")
        body = await _job(request, db, job)
        rows = await db.execute(
            select(Notification.status, func.count())
            .where(Notification.broadcast_id == job_id)
            .group_by(Notification.status)
            .order_by(Notification.status)
        )
        body["statistics"] = [{"status": status, "count": int(n)} for status, n in rows]
    return json_response({"data": body})
