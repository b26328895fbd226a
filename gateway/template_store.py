"""Templates as the API sees them: read from the database, cached briefly, scoped to a service.

Agency templates (service_id NULL) are available to every service; a service's own templates
only to it. Anything else answers "not found", so ids never leak across services.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.db import Template, TemplateVersion
from gateway.domain import Channel
from gateway.templating.fields import fields_json

CACHE_SECONDS = 10.0


@dataclass(frozen=True)
class TemplateRow:
    """One version of a template: what rendering and the API need."""

    id: uuid.UUID
    service_id: uuid.UUID | None
    name: str
    slug: str
    channel: Channel
    language: str
    version: int
    subject: str | None
    body: str
    postage: str | None
    content_hash: str
    created_at: datetime
    updated_at: datetime
    fields: dict[str, Any] | None = None  # declared fields (gateway.templating.fields), file order


def _row(t: Template) -> TemplateRow:
    return TemplateRow(
        t.id,
        t.service_id,
        t.name,
        t.slug,
        Channel(t.channel),
        t.language,
        t.version,
        t.subject,
        t.body,
        t.postage,
        t.content_hash,
        t.created_at,
        t.updated_at,
        t.fields,
    )


class _Placeholders(Protocol):
    def placeholders(self, source: str) -> frozenset[str]: ...


def template_placeholders(renderer: _Placeholders, row: TemplateRow) -> frozenset[str]:
    """The placeholders a template version needs values for (body, and subject outside SMS)."""
    names = renderer.placeholders(row.body)
    if row.subject and row.channel is not Channel.SMS:
        names |= renderer.placeholders(row.subject)
    return names


def template_fields(renderer: _Placeholders, row: TemplateRow) -> dict[str, dict[str, Any]]:
    """What to send, in plain words: one entry per placeholder of this version (label, hint, example,
    required), as the API's `personalisation` extension and the composer show it."""
    return fields_json(row.fields, template_placeholders(renderer, row))


class TemplateStore:
    """Current templates by id, cached; older versions read on demand."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._cache: dict[uuid.UUID, tuple[float, TemplateRow | None]] = {}

    def forget(self) -> None:
        self._cache.clear()

    async def get(self, service_id: uuid.UUID, template_id: uuid.UUID) -> TemplateRow | None:
        now = time.monotonic()
        cached = self._cache.get(template_id)
        if cached is None or now - cached[0] > CACHE_SECONDS:
            async with self._sessions() as session:
                found = await session.get(Template, template_id)
            row = None if found is None or found.archived else _row(found)
            cached = (now, row)
            self._cache[template_id] = cached
        row = cached[1]
        if row is None or (row.service_id is not None and row.service_id != service_id):
            return None
        return row

    async def version(self, service_id: uuid.UUID, template_id: uuid.UUID, version: int) -> TemplateRow | None:
        current = await self.get(service_id, template_id)
        if current is None:
            return None
        if version == current.version:
            return current
        async with self._sessions() as session:
            old = await session.get(TemplateVersion, (template_id, version))
        if old is None:
            return None
        return TemplateRow(
            current.id,
            current.service_id,
            old.name,
            current.slug,
            current.channel,
            current.language,
            old.version,
            old.subject,
            old.body,
            current.postage,
            old.content_hash,
            current.created_at,
            old.created_at,
            current.fields,  # descriptions are not versioned; `fields_json` keeps those this version uses
        )

    async def list(self, service_id: uuid.UUID, channel: Channel | None = None) -> list[TemplateRow]:
        query = select(Template).where(
            Template.archived.is_(False),
            or_(Template.service_id.is_(None), Template.service_id == service_id),
        )
        if channel is not None:
            query = query.where(Template.channel == channel.value)
        async with self._sessions() as session:
            rows = (await session.scalars(query.order_by(Template.channel, Template.slug, Template.language))).all()
        return [_row(t) for t in rows]
