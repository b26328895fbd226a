"""`/v2/appointments`: the agency's case-management (or court) system keeps appointments in step.

The same conventions as `/v2/people` and `/v2/cases` (`gateway.api.directory`, whose body parsing,
one-transaction write and errors this reuses): an upsert by the agency's id answers 201 when it
creates, 200 with `changed` naming the fields otherwise, and the same PUT again writes nothing
(`changed: []`). Every bad field is one Notify `ValidationError`, and nothing is stored. A test key
is checked and answered exactly as a live one, and nothing is stored (nor planned, nor sent).

`DELETE` cancels (status `cancelled`; a second DELETE changes nothing). `POST .../outcome` records
`attended` or `missed`, only once the appointment has started by the gateway's clock and never for a
cancelled one. Every write calls the reminders hook once (`gateway.appointments.store.apply_plans`)
and hands the notifications it returns to delivery after the commit.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import keys
from gateway.api import appointment_views as views
from gateway.api.auth import caller
from gateway.api.directory import _audit, _body, _invalid, _write
from gateway.api.errors import json_response
from gateway.api.paging import newest_first
from gateway.appointments import AppointmentStatus
from gateway.appointments.fields import FIELDS, KINDS, LOCATION_KINDS, STATUSES
from gateway.appointments.queries import appointment_filter
from gateway.appointments.writes import Written, find_stored, set_status, upsert_appointment
from gateway.db import Appointment, Service
from gateway.directory.fields import FieldErrors
from gateway.directory.visibility import hidden_people
from gateway.domain import KeyType
from gateway.errors import NotFound
from gateway.jobs.delivery import enqueue_deliveries

routes = web.RouteTableDef()
FILTERS = ("case_reference", "officer", "from", "to", "status", "older_than")
OUTCOMES = (AppointmentStatus.ATTENDED.value, AppointmentStatus.MISSED.value)
_TEXT: dict[str, Any] = {"type": ["string", "null"], "maxLength": 255}
_LONG: dict[str, Any] = {"type": ["string", "null"], "maxLength": 500}
APPOINTMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["case_reference", "kind", "starts_at"],
    "properties": {
        "case_reference": {"type": "string", "maxLength": 255, "description": "An open case of this service"},
        "person": {**_TEXT, "description": "A participant's external_id; default: the case's client"},
        "kind": {"enum": list(KINDS)},
        "title": _TEXT,
        "starts_at": {
            "type": "string",
            "description": "ISO 8601 with an offset (2026-03-09T10:30:00-05:00), or a local time without one "
            "(2026-03-09T10:30) read in time_zone. A local time skipped by a clock change is refused; one "
            "repeated by it is the first of the two.",
        },
        "time_zone": {**_TEXT, "description": "IANA zone; default: the person's, else the service's"},
        "duration_minutes": {"type": ["integer", "null"], "minimum": 1, "maximum": 720, "default": 60},
        "location_kind": {"enum": [*LOCATION_KINDS, None], "default": "address"},
        "location": {**_LONG, "description": "The address; for video an https:// link; optional by phone"},
        "staff": {**_TEXT, "description": "Email of an active member of staff; default: the case's officer"},
        "bring": {**_LONG, "description": "What to bring, said in the reminders"},
        "notes": {"type": ["string", "null"], "maxLength": 4000, "description": "For staff only; never sent"},
        "status": {"enum": [*STATUSES, None], "description": "Left out: unchanged (new: scheduled)"},
    },
}
OUTCOME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["outcome"],
    "properties": {"outcome": {"enum": list(OUTCOMES)}},
}


async def _deliver(request: web.Request, written: Written) -> None:
    """After the commit: hand what the reminders hook queued to delivery (never for a test key)."""
    if written.deliver and caller(request).key_type is not KeyType.TEST:
        await enqueue_deliveries(request.app[keys.QUEUE], written.deliver)


async def _visible(db: AsyncSession, service_id: Any, appointment: Appointment | None) -> Appointment:
    if appointment is None or appointment.person_id in await hidden_people(db, service_id):
        raise NotFound("Appointment not found")
    return appointment


@routes.put("/v2/appointments/{external_id}")
async def put_appointment(request: web.Request) -> web.Response:
    who, vault, clock = caller(request), request.app[keys.VAULT], request.app[keys.CLOCK]
    external_id = request.match_info["external_id"]
    fields = _body(await request.read(), frozenset(FIELDS))

    async def work(db: AsyncSession) -> tuple[dict[str, Any], Written]:
        written = await upsert_appointment(
            db, vault, who.service_id, external_id, fields, actor=f"api_key:{who.key_id}", now=clock.now()
        )
        if written.changed:
            _audit(db, request, who, "appointment.upsert", external_id, written.changed)
        [view] = await views.appointments(db, vault, [written.appointment])
        return view, written

    view, written = await _write(request, work)
    await _deliver(request, written)
    return json_response({**view, "changed": written.changed}, status=201 if written.changed == ["created"] else 200)


@routes.get("/v2/appointments/{external_id}")
async def get_appointment(request: web.Request) -> web.Response:
    who, vault = caller(request), request.app[keys.VAULT]
    async with request.app[keys.SESSIONS]() as db:
        found = await db.scalar(
            select(Appointment).where(
                Appointment.service_id == who.service_id, Appointment.external_id == request.match_info["external_id"]
            )
        )
        appointment = await _visible(db, who.service_id, found)
        [view] = await views.appointments(db, vault, [appointment])
    return json_response(view)


async def _status_change(request: web.Request, status: AppointmentStatus, action: str) -> web.Response:
    who, vault, clock = caller(request), request.app[keys.VAULT], request.app[keys.CLOCK]
    external_id = request.match_info["external_id"]

    async def work(db: AsyncSession) -> tuple[dict[str, Any], Written]:
        stored = await find_stored(db, vault, who.service_id, external_id=external_id)
        if stored is None or stored.person_id in await hidden_people(db, who.service_id):
            raise NotFound("Appointment not found")
        written = await set_status(db, vault, stored, status, actor=f"api_key:{who.key_id}", now=clock.now())
        if written.changed:
            _audit(db, request, who, action, external_id, written.changed)
        [view] = await views.appointments(db, vault, [written.appointment])
        return view, written

    view, written = await _write(request, work)
    await _deliver(request, written)
    return json_response({**view, "changed": written.changed})


@routes.delete("/v2/appointments/{external_id}")
async def delete_appointment(request: web.Request) -> web.Response:
    return await _status_change(request, AppointmentStatus.CANCELLED, "appointment.cancel")


@routes.post("/v2/appointments/{external_id}/outcome")
async def post_outcome(request: web.Request) -> web.Response:
    body = _body(await request.read(), frozenset({"outcome"}))
    outcome = body.get("outcome")
    if outcome not in OUTCOMES:
        raise _invalid(FieldErrors({"outcome": f"must be one of {', '.join(OUTCOMES)}"}))
    return await _status_change(request, AppointmentStatus(outcome), "appointment.outcome")


@routes.get("/v2/appointments")
async def list_appointments(request: web.Request) -> web.Response:
    """Newest first (by when they were added), 250 a page, `older_than=<appointment id>`."""
    who, query, vault = caller(request), request.query, request.app[keys.VAULT]
    unknown = sorted(set(query) - set(FILTERS))
    if unknown:
        raise _invalid(FieldErrors({name: f"is not a filter: use {', '.join(FILTERS)}" for name in unknown}))
    async with request.app[keys.SESSIONS]() as db:
        zone_name = await db.scalar(select(Service.timezone).where(Service.id == who.service_id))
        try:
            stmt = await appointment_filter(
                db,
                who.service_id,
                zone_name or "UTC",
                case_reference=query.get("case_reference"),
                officer=query.get("officer"),
                since=query.get("from"),
                until=query.get("to"),
                status=query.get("status"),
            )
        except FieldErrors as exc:
            raise _invalid(exc) from None
        hidden = await hidden_people(db, who.service_id)
        if hidden:
            stmt = stmt.where(Appointment.person_id.not_in(hidden))
        rows: list[Appointment] = await newest_first(
            db,
            stmt,
            when=Appointment.created_at,
            ident=Appointment.id,
            scope=[Appointment.service_id == who.service_id],
            older_than=query.get("older_than"),
        )
        shown = await views.appointments(db, vault, rows)
    base = request.app[keys.SETTINGS].base_url
    params = [(k, v) for k, v in query.items() if k != "older_than"]
    links = {"current": f"{base}/v2/appointments" + (f"?{request.query_string}" if request.query_string else "")}
    if rows:
        tail = str(request.url.with_query([*params, ("older_than", str(rows[-1].id))])).split("?", 1)[1]
        links["next"] = f"{base}/v2/appointments?{tail}"
    return json_response({"appointments": shown, "links": links})
