"""What the composer on a conversation page offers: free text, or a template and its fields.

The template picker lists the templates of the reply's channel (the agency's and the service's
own). Choosing one reloads the page with `?template=<id>`, which shows one labelled field per
placeholder, so the picker works without script.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gateway import keys
from gateway.domain import Channel
from gateway.template_store import TemplateRow
from gateway.web.access import signed_in

if TYPE_CHECKING:
    from gateway.web.conversation import ReplyTarget

FREE_TEXT = {
    Channel.SMS: uuid.UUID("91b96cb2-3bb9-4806-8eb8-cd401aba9c55"),
    Channel.EMAIL: uuid.UUID("a0d573e8-4e5c-43ae-a9ab-8a657559e03a"),
}
FIELD_PREFIX = "p."


def placeholders(request: web.Request, template: TemplateRow) -> list[str]:
    renderer = request.app[keys.RENDERER]
    names = set(renderer.placeholders(template.body))
    if template.subject and template.channel is not Channel.SMS:
        names |= renderer.placeholders(template.subject)
    return sorted(names)


async def chosen_template(request: web.Request, channel: Channel, raw: str | None) -> TemplateRow | None:
    """The template `raw` names if it is one of this service's for `channel`; None for free text."""
    if not raw:
        return None
    try:
        template_id = uuid.UUID(raw)
    except ValueError:
        return None
    if template_id == FREE_TEXT[channel]:
        return None
    row = await request.app[keys.TEMPLATES].get(signed_in(request).service_id, template_id)
    return row if row is not None and row.channel is channel else None


async def composer_context(
    request: web.Request, target: ReplyTarget | None, raw_template: str | None, values: dict[str, str] | None = None
) -> dict[str, Any]:
    """The composer's part of the conversation page context."""
    if target is None:
        return {"templates": [], "template": None, "fields": [], "is_sms": False}
    staff = signed_in(request)
    rows = await request.app[keys.TEMPLATES].list(staff.service_id, target.channel)
    template = await chosen_template(request, target.channel, raw_template)
    values = values or {}
    fields = []
    if template is not None:
        fields = [(name, FIELD_PREFIX + name, values.get(name, "")) for name in placeholders(request, template)]
    return {
        "templates": [t for t in rows if t.id != FREE_TEXT[target.channel]],
        "template": template,
        "fields": fields,
        "is_sms": target.channel is Channel.SMS,
    }
