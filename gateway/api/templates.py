"""`/v2/template(s)`: list, get (current or a version) and preview templates."""

from __future__ import annotations

import uuid

from aiohttp import web

from gateway import keys
from gateway.api import present
from gateway.api.auth import caller
from gateway.api.errors import json_response
from gateway.api.schemas import PreviewRequest, parse_body
from gateway.domain import Channel
from gateway.errors import ApiError, NotFound, ValidationFailed
from gateway.outbound import render_for
from gateway.template_store import TemplateRow, template_fields

routes = web.RouteTableDef()
MAX_VERSION = 2**31 - 1


def _template_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["template_id"])
    except ValueError:
        raise ApiError(400, "ValidationError", "template_id is not a valid UUID") from None


async def _current(request: web.Request) -> TemplateRow:
    found = await request.app[keys.TEMPLATES].get(caller(request).service_id, _template_id(request))
    if found is None:
        raise NotFound("No result found")
    return found


@routes.get("/v2/templates")
async def list_templates(request: web.Request) -> web.Response:
    kind = request.query.get("type")
    channel = None
    if kind:
        try:
            channel = Channel(kind)
        except ValueError:
            raise ValidationFailed(f"type {kind} is not one of [sms, email, letter]") from None
    rows = await request.app[keys.TEMPLATES].list(caller(request).service_id, channel)
    base, renderer = request.app[keys.SETTINGS].base_url, request.app[keys.RENDERER]
    return json_response({"templates": [present.template(base, t, template_fields(renderer, t)) for t in rows]})


@routes.get("/v2/template/{template_id}")
async def get_template(request: web.Request) -> web.Response:
    return _template_json(request, await _current(request))


def _template_json(request: web.Request, row: TemplateRow) -> web.Response:
    fields = template_fields(request.app[keys.RENDERER], row)
    return json_response(present.template(request.app[keys.SETTINGS].base_url, row, fields))


@routes.get("/v2/template/{template_id}/version/{version}")
async def get_template_version(request: web.Request) -> web.Response:
    raw = request.match_info["version"]
    if not raw.isdigit() or int(raw) < 1:
        raise ValidationFailed(f"version {raw} is not a positive integer")
    version = int(raw)
    # Beyond the INTEGER column's range no version can exist (and the database would refuse the query).
    found = None
    if version <= MAX_VERSION:
        found = await request.app[keys.TEMPLATES].version(caller(request).service_id, _template_id(request), version)
    if found is None:
        raise NotFound("No result found")
    return _template_json(request, found)


@routes.post("/v2/template/{template_id}/preview")
async def preview_template(request: web.Request) -> web.Response:
    template = await _current(request)
    body = parse_body(PreviewRequest, await request.read())
    rendered = render_for(request.app[keys.RENDERER], template, body.personalisation)
    return json_response(
        {
            "id": str(template.id),
            "type": template.channel.value,
            "version": template.version,
            "body": rendered.body,
            "subject": rendered.subject,
            "html": rendered.html,
            "postage": template.postage,
            "fragment_count": rendered.fragments if template.channel is Channel.SMS else None,
            "encoding": rendered.encoding,
            "personalisation": template_fields(request.app[keys.RENDERER], template),
        }
    )
