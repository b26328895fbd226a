"""What a broadcast says: a template (with its sibling in the other channel, if the catalog has one) or
free text, and how one recipient's message is rendered.

Free text may name per-recipient values as `((name))`: each is replaced by the recipient's value
(from the directory or the uploaded columns) before the text goes into the agency's free-text
template; a name with no value for a recipient leaves that recipient out, with the reason.
A template's fields take the recipient's values, and the sender's typed values (the same for all)
for the fields nobody's record can fill.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from gateway.domain import Channel
from gateway.errors import ApiError
from gateway.template_store import TemplateRow, TemplateStore, template_placeholders
from gateway.templating import Renderer

FREE_TEXT = {  # the agency's free-text templates (templates/{sms,email}/*/free_text.txt)
    Channel.SMS: uuid.UUID("91b96cb2-3bb9-4806-8eb8-cd401aba9c55"),
    Channel.EMAIL: uuid.UUID("a0d573e8-4e5c-43ae-a9ab-8a657559e03a"),
}
PLACEHOLDER = re.compile(r"\(\(\s*([A-Za-z_][A-Za-z0-9_ ]*?)\s*\)\)")


class NotRendered(Exception):
    """This recipient's message cannot be made (a value is missing, or it is too long): the reason."""


@dataclass(frozen=True)
class Content:
    """The templates by channel (one or two) and, for free text, the text; `common` values for all."""

    templates: dict[Channel, TemplateRow]
    message: str | None = None
    common: dict[str, str] = field(default_factory=dict)
    subject: str = "A message"

    @property
    def channels(self) -> frozenset[Channel]:
        return frozenset(self.templates)

    @property
    def free_text(self) -> bool:
        return self.message is not None

    def fields(self, renderer: Renderer) -> list[str]:
        """The per-recipient names the content uses: a template's placeholders, or free text's ((names))."""
        if self.message is not None:
            return list(dict.fromkeys(key(m) for m in PLACEHOLDER.findall(self.message)))
        names: dict[str, None] = {}
        for template in self.templates.values():
            names.update(dict.fromkeys(sorted(template_placeholders(renderer, template))))
        return list(names)

    def personalisation(self, channel: Channel, values: Mapping[str, str]) -> dict[str, str]:
        """The template values for one recipient on `channel`; NotRendered when free text names a
        value this recipient does not have."""
        if self.message is None:
            merged = {k: v for k, v in values.items() if v}
            merged.update({k: v for k, v in self.common.items() if v})
            return merged

        def fill(match: re.Match[str]) -> str:
            value = values.get(key(match.group(1)), "")
            if not value:
                raise NotRendered(f"no value for (({match.group(1)}))")
            return value

        text = PLACEHOLDER.sub(fill, self.message)
        out = {"message": text}
        if channel is Channel.EMAIL:
            out["subject"] = self.subject
        return out


def key(name: str) -> str:
    """A column or placeholder name as matched: lower case, spaces as underscores."""
    return "_".join(name.strip().lower().split())


async def load_content(
    store: TemplateStore,
    service_id: uuid.UUID,
    *,
    template_id: uuid.UUID | None,
    message: str | None,
    common: Mapping[str, str] | None = None,
    service_name: str = "",
    channels: frozenset[Channel] | None = None,
) -> Content:
    """The content for a template id (plus its sibling in the other channel) or for free text; ApiError
    (400, "Template not found") when the template is not this service's."""
    subject = f"A message from {service_name}" if service_name else "A message"
    wanted = channels or frozenset({Channel.SMS, Channel.EMAIL})
    if template_id is None:
        found = {c: t for c in wanted if (t := await store.get(service_id, FREE_TEXT[c])) is not None}
        return Content(found, message or "", dict(common or {}), subject)
    template = await store.get(service_id, template_id)
    if template is None or template.id in FREE_TEXT.values():
        raise ApiError(400, "BadRequestError", "Template not found")
    if template.channel not in wanted:
        raise ApiError(400, "BadRequestError", f"{template.channel} templates cannot be sent in bulk")
    templates = {template.channel: template}
    if channels is None:  # the same template in the other channel, when the catalog has it (same slug)
        for other in await store.list(service_id):
            if other.slug == template.slug and other.language == template.language and other.channel in wanted:
                templates.setdefault(other.channel, other)
    return Content(templates, None, dict(common or {}), subject)
