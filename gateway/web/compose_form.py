"""What the composer on a conversation page offers: free text, or a template and its fields in plain words.

The template picker lists the templates of the reply's channel (the agency's and the service's
own), grouped and labelled by language, the person's language first. Choosing one reloads the
page with `?template=<id>`, so the picker works without script. The chosen template is never
shown as its Jinja source: each placeholder is a labelled field with the template's hint and an
example (`gateway.templating.fields`), prefilled from the person and case
(`gateway.web.compose_prefill`), and the page shows the rendered message with its length. With
script, `composer.js` asks `POST /conversations/{id}/preview` for the preview as the officer types.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from gateway import keys
from gateway.db import Person
from gateway.domain import Channel
from gateway.errors import ApiError
from gateway.outbound import SMS_CHARACTER_LIMIT
from gateway.template_store import TemplateRow, template_fields
from gateway.templating import sms_length
from gateway.web.access import signed_in
from gateway.web.compose_prefill import prefill

if TYPE_CHECKING:
    from gateway.web.conversation import ReplyTarget

FREE_TEXT = {
    Channel.SMS: uuid.UUID("91b96cb2-3bb9-4806-8eb8-cd401aba9c55"),
    Channel.EMAIL: uuid.UUID("a0d573e8-4e5c-43ae-a9ab-8a657559e03a"),
}
FIELD_PREFIX = "p."
LANGUAGE_NAMES = {"en": "English", "es": "Spanish"}


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


@dataclass(frozen=True, slots=True)
class Preview:
    """The message as it would be sent, with its SMS length and any warning to show before Send."""

    subject: str | None
    body: str
    characters: int
    fragments: int
    encoding: str | None
    warnings: tuple[str, ...]
    complete: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "body": self.body,
            "characters": self.characters,
            "fragments": self.fragments,
            "encoding": self.encoding,
            "warnings": list(self.warnings),
            "complete": self.complete,
        }


def length_warnings(channel: Channel, characters: int, fragments: int) -> tuple[str, ...]:
    """What to warn about before Send: over the 918-character limit, or more than one text message."""
    if channel is not Channel.SMS:
        return ()
    if characters > SMS_CHARACTER_LIMIT:
        return (
            f"Too long to send: text messages can be at most {SMS_CHARACTER_LIMIT} characters "
            f"and this one is {characters}. Shorten it.",
        )
    if fragments > 1:
        return (f"This will be sent as {fragments} text messages (and billed as {fragments}).",)
    return ()


def render_preview(request: web.Request, template: TemplateRow, values: Mapping[str, str]) -> Preview:
    """Render with what is filled in; an empty field shows as its label in brackets."""
    fields = template_fields(request.app[keys.RENDERER], template)
    complete = all(values.get(name, "").strip() for name in fields)
    shown = {name: values.get(name, "").strip() or f"[{spec['label']}]" for name, spec in fields.items()}
    try:
        rendered = request.app[keys.RENDERER].render(template, shown)
    except ApiError as exc:
        return Preview(None, "", 0, 0, None, (exc.message,), False)
    length = sms_length(rendered.body) if template.channel is Channel.SMS else None
    characters = length.characters if length else len(rendered.body)
    fragments = length.fragments if length else 0
    return Preview(
        rendered.subject,
        rendered.body,
        characters,
        fragments,
        length.encoding if length else None,
        length_warnings(template.channel, characters, fragments),
        complete,
    )


async def chosen_template(request: web.Request, channel: Channel, raw: str | None) -> TemplateRow | None:
    """The template `raw` names if it is one of this service's for `channel`; None for free text."""
    if not raw:
        return None
    try:
        template_id = uuid.UUID(raw)
    except ValueError:
        return None
    if template_id in FREE_TEXT.values():
        return None
    row = await request.app[keys.TEMPLATES].get(signed_in(request).service_id, template_id)
    return row if row is not None and row.channel is channel else None


def _groups(rows: list[TemplateRow], language: str) -> list[tuple[str, list[TemplateRow]]]:
    by_language: dict[str, list[TemplateRow]] = {}
    for row in rows:
        by_language.setdefault(row.language, []).append(row)
    order = sorted(by_language, key=lambda code: (code != language, language_name(code)))
    return [(code, sorted(by_language[code], key=lambda t: t.name)) for code in order]


async def composer_context(
    request: web.Request,
    target: ReplyTarget | None,
    raw_template: str | None,
    values: dict[str, str] | None = None,
    *,
    person: Person | None = None,
    case_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The composer's part of the conversation page context (`values`: what the officer typed)."""
    if target is None:
        return {"templates": [], "template_groups": [], "template": None, "fields": [], "is_sms": False}
    staff = signed_in(request)
    language = person.language if person is not None else "en"
    rows = [
        t
        for t in await request.app[keys.TEMPLATES].list(staff.service_id, target.channel)
        if t.id not in FREE_TEXT.values()
    ]
    template = await chosen_template(request, target.channel, raw_template)
    fields: list[dict[str, Any]] = []
    preview = None
    other_language = None
    if template is not None:
        if values is None:
            async with request.app[keys.SESSIONS]() as db:
                values = await prefill(
                    db, staff, person, case_id, request.app[keys.SETTINGS].default_region, request.app[keys.CLOCK].now()
                )
        for index, (name, spec) in enumerate(template_fields(request.app[keys.RENDERER], template).items(), 1):
            fields.append({"id": f"field-{index}", "input": FIELD_PREFIX + name, "value": values.get(name, ""), **spec})
        preview = render_preview(request, template, values)
        if template.language != language:
            other_language = next(
                (t for t in rows if t.slug == template.slug and t.language == language and t.service_id is None), None
            )
    return {
        "templates": rows,
        "template_groups": _groups(rows, language),
        "person_language": language,
        "language_name": language_name,
        "template": template,
        "fields": fields,
        "preview": preview,
        "other_language": other_language,
        "sms_limit": SMS_CHARACTER_LIMIT,
        "is_sms": target.channel is Channel.SMS,
    }
