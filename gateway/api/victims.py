"""`/v2/victims/{external_id}` (victim-services keys) and `POST /v2/cases/{reference}/events` (offender-facing keys).

Victims follow the directory's conventions (`gateway.api.directory`): PUT is a whole-resource
upsert keyed by the agency's id (201 created, 200 with `changed`, the same PUT again writes
nothing), every bad field is one `ValidationError`, a test key is checked and answered but stores
nothing. `DELETE` unregisters: the registration is kept (history) but follows nothing, and the
victim is sent a confirmation on their first channel that works.

Confidentiality: a key of a service that is not victim services gets 404 "No result found" for
every victim URL, the same answer as for a victim that does not exist.

Events: the offender-facing service's key posts a status change of one of its own cases (404 for a
case it does not have). The answer is `{"id": <event id>}` and nothing else, whatever follows the
case: the fan-out runs afterwards, inside the VSU (`gateway.victims.fanout`). Idempotent by the
caller's `event_id`.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import keys
from gateway.api.auth import Caller, caller
from gateway.api.directory import _write
from gateway.api.directory_views import person as person_view
from gateway.api.errors import json_response
from gateway.api.present import timestamp
from gateway.crypto import Vault
from gateway.db import Service
from gateway.db.write_lock import write_lock
from gateway.directory import queries
from gateway.domain import KeyType, ServiceKind
from gateway.errors import ApiError, BadRequest, NotFound, ValidationErrors
from gateway.victims.events import FAN_OUT, EventConflict, check_event, fan_out_job_id, record_event
from gateway.victims.fanout import dispatch
from gateway.victims.kinds import EventInvalid
from gateway.victims.registrations import FIELDS, find_registration, followed_cases, upsert_registration
from gateway.victims.unregister import unregister
from gateway.web.audit import record as audit

routes = web.RouteTableDef()
NOT_FOUND = "No result found"


async def _is_vsu(db: AsyncSession, service_id: uuid.UUID) -> bool:
    kind = await db.scalar(select(Service.kind).where(Service.id == service_id))
    return kind == ServiceKind.VICTIM_SERVICES.value


async def _require_vsu(request: web.Request) -> Caller:
    who = caller(request)
    async with request.app[keys.SESSIONS]() as db:
        if not await _is_vsu(db, who.service_id):
            raise NotFound(NOT_FOUND)  # an offender-facing key learns nothing, not even that the URL exists
    return who


def _body(raw: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        raise BadRequest("Invalid JSON supplied in request data") from None
    if not isinstance(data, dict):
        raise ApiError(400, "ValidationError", "request body is not of type object")
    return data


async def registration_view(db: AsyncSession, vault: Vault, service_id: uuid.UUID, external_id: str) -> dict[str, Any]:
    """A registration as the API (and the edit page) shows it; NotFound outside the unit."""
    found = await find_registration(db, service_id, external_id)
    if found is None:
        raise NotFound(NOT_FOUND)
    reg, person = found
    view = await person_view(db, vault, person)
    view.pop("preferred_channels", None)
    substitute = vault.open(reg.substitute_address_enc) if reg.substitute_address_enc else None
    view.update(
        channels=reg.channels,
        events=reg.events,
        address_confidential=reg.confidential,
        substitute_address=substitute.split("\n") if substitute else None,
        cases=[
            {"service_id": str(f.offender_service_id), "reference": f.case_reference, "offender_name": f.offender_name}
            for f in await followed_cases(db, reg.id)
        ],
        status=reg.status,
        registered_at=timestamp(reg.created_at),
        unregistered_at=timestamp(reg.unregistered_at),
    )
    return view


def _audit(db: AsyncSession, request: web.Request, who: Caller, action: str, target: str, detail: Any = None) -> None:
    audit(
        db,
        action=action,
        actor=f"api_key:{who.key_id}",
        service_id=who.service_id,
        source_ip=request.remote,
        target=target,
        detail=detail,
    )


@routes.put("/v2/victims/{external_id}")
async def put_victim(request: web.Request) -> web.Response:
    who = await _require_vsu(request)
    vault, external_id = request.app[keys.VAULT], request.match_info["external_id"]
    data = _body(await request.read())
    unexpected = sorted(set(data) - FIELDS)
    if unexpected:
        raise ValidationErrors([f"Additional properties are not allowed ({n} was unexpected)" for n in unexpected])
    region = request.app[keys.SETTINGS].default_region

    async def work(db: AsyncSession) -> tuple[dict[str, Any], list[str]]:
        _, _, changed = await upsert_registration(
            db, vault, who.service_id, external_id, data, f"api_key:{who.key_id}", region=region
        )
        if changed:
            _audit(db, request, who, "victim.register", external_id, {"fields": changed})
        await db.flush()
        return await registration_view(db, request.app[keys.VAULT], who.service_id, external_id), changed

    view, changed = await _write(request, work)
    return json_response({**view, "changed": changed}, status=201 if changed == ["created"] else 200)


@routes.get("/v2/victims/{external_id}")
async def get_victim(request: web.Request) -> web.Response:
    who = await _require_vsu(request)
    external_id = request.match_info["external_id"]
    async with request.app[keys.SESSIONS]() as db:
        view = await registration_view(db, request.app[keys.VAULT], who.service_id, external_id)
        _audit(db, request, who, "view.victim_registration", external_id)
        await db.commit()
    return json_response(view)


@routes.delete("/v2/victims/{external_id}")
async def delete_victim(request: web.Request) -> web.Response:
    who = await _require_vsu(request)
    app, external_id = request.app, request.match_info["external_id"]
    ctx = app[keys.JOB_CONTEXT]
    async with write_lock(app[keys.ENGINE]), app[keys.SESSIONS]() as db:
        found = await find_registration(db, who.service_id, external_id)
        if found is None:
            raise NotFound(NOT_FOUND)
        changed, out = await unregister(
            db, ctx, found[0], found[1], f"api_key:{who.key_id}", send_confirmation=who.key_type is not KeyType.TEST
        )
        if changed:
            _audit(db, request, who, "victim.unregister", external_id)
        view = await registration_view(db, request.app[keys.VAULT], who.service_id, external_id)
        if who.key_type is KeyType.TEST:
            await db.rollback()
            view["status"] = "unregistered"
        else:
            await db.commit()
    if out is not None:
        await dispatch(ctx, out)
    return json_response({**view, "changed": ["unregistered"] if changed else []})


@routes.post("/v2/cases/{reference}/events")
async def post_event(request: web.Request) -> web.Response:
    """The same answer whatever follows the case: only the event's id."""
    who, app = caller(request), request.app
    reference = request.match_info["reference"]
    data = _body(await request.read())
    try:
        check_event(reference, data)
    except EventInvalid as exc:
        raise ValidationErrors(exc.errors) from None
    async with write_lock(app[keys.ENGINE]), app[keys.SESSIONS]() as db:
        if await _is_vsu(db, who.service_id):
            raise BadRequest("Offender events are posted by the service that holds the case, not by victim services")
        if await queries.find_case(db, who.service_id, reference) is None:
            raise NotFound("Case not found")
        if who.key_type is KeyType.TEST:
            return json_response({"id": str(uuid.uuid4())}, status=201)  # checked, answered, nothing stored
        try:
            event, created = await record_event(db, who.service_id, reference, data)
        except EventConflict as exc:
            raise ApiError(409, "ConflictError", str(exc)) from None
        event_id = event.id
        await db.commit()
    if created:
        await app[keys.QUEUE].enqueue(FAN_OUT, str(event_id), job_id=fan_out_job_id(event_id), priority=True)
    return json_response({"id": str(event_id)}, status=201)
