"""Message templates as staff see them: the agency's and the service's own, with a preview form.

A preview renders through the same code as sending (`gateway.outbound.render_for`), so what it
shows (or the error it gives, e.g. a missing placeholder) is what a send would do. Preview
values travel in a POST body, never the URL: they may be a victim's name.
"""

from __future__ import annotations

from aiohttp import web

from gateway import keys
from gateway.domain import Channel
from gateway.errors import ApiError
from gateway.outbound import render_for
from gateway.template_store import TemplateRow
from gateway.templating import Rendered
from gateway.web.access import not_found, parse_id, signed_in
from gateway.web.render import render_page

routes = web.RouteTableDef()

FIELD_PREFIX = "p."


@routes.get("/templates")
async def template_list(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    rows = await request.app[keys.TEMPLATES].list(staff.service_id)
    return render_page(
        request,
        "templates.html",
        title="Templates",
        agency=[t for t in rows if t.service_id is None],
        own=[t for t in rows if t.service_id is not None],
    )


async def _template(request: web.Request) -> TemplateRow:
    staff = signed_in(request)
    row = await request.app[keys.TEMPLATES].get(staff.service_id, parse_id(request.match_info["template_id"]))
    if row is None:
        raise not_found()  # missing, archived, or another service's: all the same to the visitor
    return row


def _placeholders(request: web.Request, template: TemplateRow) -> list[str]:
    renderer = request.app[keys.RENDERER]
    names = set(renderer.placeholders(template.body))
    if template.subject and template.channel is not Channel.SMS:
        names |= renderer.placeholders(template.subject)
    return sorted(names)


def _page(
    request: web.Request,
    template: TemplateRow,
    values: dict[str, str],
    rendered: Rendered | None = None,
    error: str | None = None,
) -> web.Response:
    return render_page(
        request,
        "template.html",
        status=400 if error else 200,
        title=template.name,
        template=template,
        is_sms=template.channel is Channel.SMS,
        fields=[(name, FIELD_PREFIX + name, values.get(name, "")) for name in _placeholders(request, template)],
        rendered=rendered,
        errors=[error] if error else [],
    )


@routes.get("/templates/{template_id}")
async def template_detail(request: web.Request) -> web.StreamResponse:
    template = await _template(request)
    return _page(request, template, {})


@routes.post("/templates/{template_id}")
async def template_preview(request: web.Request) -> web.StreamResponse:
    template = await _template(request)
    form = await request.post()
    values = {
        key[len(FIELD_PREFIX) :]: value
        for key, value in form.items()
        if key.startswith(FIELD_PREFIX) and isinstance(value, str)
    }
    # Blank fields are left out, so the renderer reports them as missing rather than sending blanks.
    personalisation = {name: value for name, value in values.items() if value.strip()}
    try:
        rendered = render_for(request.app[keys.RENDERER], template, personalisation)
    except ApiError as exc:
        return _page(request, template, values, error=exc.message)
    return _page(request, template, values, rendered)
