"""`/v2/people` and `/v2/cases`: the agency's case-management system keeps the directory in step.

Writes are upserts keyed by the agency's ids, so a nightly sync is safe to repeat: the first PUT
answers 201, a PUT that changes something 200 with `changed` naming the fields, and the same PUT
again 200 with `changed: []` having written nothing (no record entry, no `updated_at`). Every bad
field is one Notify `ValidationError` entry, and nothing is stored. `DELETE /v2/people/{id}`
retires the person: history kept, sends refused (`gateway.sendtime.policy`).

Key types: live and team keys write (a team key limits whom a service *sends to*; the directory
sends nothing). A test key is checked exactly as a live one and answered the same, but nothing is
stored: a developer can try a sync's payloads against the real directory without changing it.

The boundary: outside a victim-services service, victims are never returned or counted
(`gateway.directory.visibility`); they answer exactly as a person who does not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from aiohttp import web
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import keys
from gateway.api import directory_views as views
from gateway.api.auth import Caller, caller
from gateway.api.errors import json_response
from gateway.api.paging import newest_first
from gateway.db import Case
from gateway.db.write_lock import write_lock
from gateway.directory import queries
from gateway.directory.cases import upsert_case
from gateway.directory.fields import FieldErrors
from gateway.directory.people import find_by_external_id, retire_person, upsert_person
from gateway.directory.visibility import NotVisible, is_hidden_victim
from gateway.domain import KeyType
from gateway.errors import ApiError, BadRequest, NotFound, ValidationErrors
from gateway.web.audit import record as audit

routes = web.RouteTableDef()
T = TypeVar("T")
MAX_ATTEMPTS = 3
PERSON_FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "preferred_name",
        "language",
        "timezone",
        "phone_numbers",
        "email_addresses",
        "postal_address",
        "preferred_channels",
        "consent",
    }
)
CASE_FIELDS = frozenset({"client", "assigned_to", "status", "program", "office", "tags", "supervision_level"})
CASE_FILTERS = ("officer", "status", "tag", "program", "older_than")
_TEXT: dict[str, Any] = {"type": ["string", "null"], "maxLength": 255}
_TEXTS: dict[str, Any] = {"type": ["array", "null"], "items": {"type": "string", "maxLength": 255}}
_CONSENT = {
    "type": "object",
    "required": ["granted", "source", "at"],
    "properties": {
        "granted": {"type": "boolean"},
        "source": {"enum": ["intake-form", "verbal", "written", "keyword"]},
        "at": {"type": "string", "format": "date-time"},
    },
}
# The OpenAPI schemas of the two bodies; tests check their properties are exactly the fields accepted.
PERSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["first_name", "last_name"],
    "properties": {
        "first_name": _TEXT,
        "last_name": _TEXT,
        "preferred_name": _TEXT,
        "language": {**_TEXT, "description": "BCP 47 tag; the gateway has templates in en and es. Default en."},
        "timezone": {**_TEXT, "description": "IANA zone, e.g. America/Chicago; unknown when left out"},
        "phone_numbers": {**_TEXTS, "description": "Mobile numbers (normalised to E.164); others are refused"},
        "email_addresses": _TEXTS,
        "postal_address": {**_TEXTS, "description": "Address lines, 1 to 6"},
        "preferred_channels": {"type": ["array", "null"], "items": {"enum": ["sms", "email", "letter"]}},
        "consent": {
            "type": ["object", "null"],
            "properties": {"sms": _CONSENT, "email": _CONSENT, "letter": _CONSENT},
            "additionalProperties": False,
        },
    },
}
CASE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "client": {**_TEXT, "description": "The client's external_id (PUT /v2/people first)"},
        "assigned_to": {**_TEXT, "description": "Email of an active member of staff of this service"},
        "status": {"enum": ["open", "closed", None]},
        "program": _TEXT,
        "office": _TEXT,
        "tags": _TEXTS,
        "supervision_level": _TEXT,
    },
}


def _body(raw: bytes, allowed: frozenset[str]) -> dict[str, Any]:
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        raise BadRequest("Invalid JSON supplied in PUT data") from None
    if not isinstance(data, dict):
        raise ApiError(400, "ValidationError", "request body is not of type object")
    unexpected = sorted(set(data) - allowed)
    if unexpected:
        raise ValidationErrors([f"Additional properties are not allowed ({n} was unexpected)" for n in unexpected])
    return data


def _invalid(exc: FieldErrors) -> ValidationErrors:
    return ValidationErrors([f"{field} {message}" for field, message in exc.errors.items()])


async def _write(request: web.Request, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one transaction (retried when a concurrent first write of the same id won);
    committed for live and team keys, rolled back for a test key."""
    app, who = request.app, caller(request)
    for attempt in range(MAX_ATTEMPTS):
        async with write_lock(app[keys.ENGINE]), app[keys.SESSIONS]() as db:
            try:
                result = await work(db)
                if who.key_type is KeyType.TEST:
                    await db.rollback()
                else:
                    await db.commit()
                return result
            except FieldErrors as exc:
                raise _invalid(exc) from None
            except IntegrityError:
                await db.rollback()
                if attempt == MAX_ATTEMPTS - 1:
                    raise
    raise AssertionError("unreachable")


def _audit(db: AsyncSession, request: web.Request, who: Caller, action: str, target: str, changed: list[str]) -> None:
    audit(
        db,
        action=action,
        actor=f"api_key:{who.key_id}",
        service_id=who.service_id,
        source_ip=request.remote,
        target=target,
        detail={"fields": changed},
    )


@routes.put("/v2/people/{external_id}")
async def put_person(request: web.Request) -> web.Response:
    who, vault = caller(request), request.app[keys.VAULT]
    external_id = request.match_info["external_id"]
    fields = _body(await request.read(), PERSON_FIELDS)
    region = request.app[keys.SETTINGS].default_region

    async def work(db: AsyncSession) -> tuple[dict[str, Any], list[str]]:
        try:
            person, changed = await upsert_person(
                db, vault, who.service_id, external_id, fields, f"api_key:{who.key_id}", region=region
            )
        except NotVisible:
            raise BadRequest(f"external_id {external_id} cannot be written through this service's API") from None
        if changed:
            _audit(db, request, who, "person.upsert", external_id, changed)
        return await views.person(db, vault, person), changed

    view, changed = await _write(request, work)
    return json_response({**view, "changed": changed}, status=201 if changed == ["created"] else 200)


@routes.get("/v2/people/{external_id}")
async def get_person(request: web.Request) -> web.Response:
    who, vault = caller(request), request.app[keys.VAULT]
    async with request.app[keys.SESSIONS]() as db:
        person = await find_by_external_id(db, who.service_id, request.match_info["external_id"])
        if person is None or await is_hidden_victim(db, who.service_id, person.id):
            raise NotFound("Person not found")
        return json_response(await views.person(db, vault, person))


@routes.delete("/v2/people/{external_id}")
async def delete_person(request: web.Request) -> web.Response:
    who, vault = caller(request), request.app[keys.VAULT]
    external_id = request.match_info["external_id"]

    async def work(db: AsyncSession) -> tuple[dict[str, Any], bool]:
        retired = await retire_person(db, who.service_id, external_id, f"api_key:{who.key_id}")
        if retired is None:
            raise NotFound("Person not found")
        if retired[1]:
            _audit(db, request, who, "person.retire", external_id, ["retired"])
        return await views.person(db, vault, retired[0]), retired[1]

    view, changed = await _write(request, work)
    return json_response({**view, "changed": ["retired"] if changed else []})


@routes.put("/v2/cases/{reference}")
async def put_case(request: web.Request) -> web.Response:
    who = caller(request)
    reference = request.match_info["reference"]
    fields = _body(await request.read(), CASE_FIELDS)

    async def work(db: AsyncSession) -> tuple[dict[str, Any], list[str]]:
        case, changed = await upsert_case(db, who.service_id, reference, fields, f"api_key:{who.key_id}")
        if changed:
            _audit(db, request, who, "case.upsert", reference, changed)
        [view] = await views.cases(db, who.service_id, [case])
        return view, changed

    view, changed = await _write(request, work)
    return json_response({**view, "changed": changed}, status=201 if changed == ["created"] else 200)


@routes.get("/v2/cases/{reference}")
async def get_case(request: web.Request) -> web.Response:
    who = caller(request)
    async with request.app[keys.SESSIONS]() as db:
        case = await queries.find_case(db, who.service_id, request.match_info["reference"])
        if case is None:
            raise NotFound("Case not found")
        [view] = await views.cases(db, who.service_id, [case])
    return json_response(view)


@routes.get("/v2/cases")
async def list_cases(request: web.Request) -> web.Response:
    """Newest first, 250 a page, `older_than=<case id>` as `/v2/notifications` pages."""
    who, query = caller(request), request.query
    unknown = sorted(set(query) - set(CASE_FILTERS))
    if unknown:
        raise ValidationErrors([f"{name} is not a filter: use {', '.join(CASE_FILTERS)}" for name in unknown])
    async with request.app[keys.SESSIONS]() as db:
        try:
            stmt = await queries.case_filter(
                db,
                who.service_id,
                officer=query.get("officer"),
                status=query.get("status"),
                tag=query.get("tag"),
                program=query.get("program"),
            )
        except FieldErrors as exc:
            raise _invalid(exc) from None
        rows: list[Case] = await newest_first(
            db,
            stmt,
            when=Case.created_at,
            ident=Case.id,
            scope=[Case.service_id == who.service_id],
            older_than=query.get("older_than"),
        )
        shown = await views.cases(db, who.service_id, rows)
    base = request.app[keys.SETTINGS].base_url
    params = [(k, v) for k, v in query.items() if k != "older_than"]
    links = {"current": f"{base}/v2/cases" + (f"?{request.query_string}" if request.query_string else "")}
    if rows:  # as Notify does: `next` whenever the page is not empty; an empty page ends the walk
        links["next"] = str(request.url.with_query([*params, ("older_than", str(rows[-1].id))]))
        links["next"] = f"{base}/v2/cases?" + links["next"].split("?", 1)[1]
    return json_response({"cases": shown, "links": links})
