"""Bring the `templates` table in line with the template files (the files are the source of truth).

Agency templates (files under `templates/`) are stored with `service_id` NULL, which makes
them available to every service. A file whose content changed gets the next version and
a `TemplateVersion` row, so a notification can always show the words it was sent with.
A file that disappeared archives its row; nothing is ever deleted, because notifications
point at template versions.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.base import utcnow
from gateway.db.models import Template, TemplateVersion
from gateway.templating.catalog import TemplateFile, TemplateFileError


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What a sync did: new templates, templates given a new version, untouched ones, newly archived."""

    added: int
    changed: int
    unchanged: int
    archived: int = 0


def _version_row(template_id: uuid.UUID, version: int, file: TemplateFile) -> TemplateVersion:
    return TemplateVersion(
        template_id=template_id,
        version=version,
        name=file.name,
        subject=file.subject,
        body=file.body,
        content_hash=file.content_hash,
    )


def _check_compatible(row: Template, file: TemplateFile) -> None:
    if row.service_id is not None:
        raise TemplateFileError(file.path, f"id {file.id} already belongs to a service's own template")
    if row.channel != file.channel.value:
        # Notify never changes a template's type; senders rely on it. A new channel needs a new id.
        raise TemplateFileError(
            file.path, f"id {file.id} is a {row.channel} template; a template's channel cannot change"
        )


async def sync_templates(session: AsyncSession, catalog: Sequence[TemplateFile]) -> SyncReport:
    """Upsert every file in `catalog` as an agency template and archive the ones whose file is gone.

    Running it twice with the same catalog changes nothing the second time. Flushes but
    does not commit: the caller owns the transaction.
    """
    ids = [file.id for file in catalog]
    result = await session.scalars(select(Template).where(or_(Template.service_id.is_(None), Template.id.in_(ids))))
    existing = {row.id: row for row in result}
    now = utcnow()
    added = changed = unchanged = archived = 0

    for file in catalog:
        row = existing.get(file.id)
        if row is None:
            session.add(
                Template(
                    id=file.id,
                    service_id=None,
                    name=file.name,
                    slug=file.slug,
                    channel=file.channel.value,
                    language=file.language,
                    version=1,
                    subject=file.subject,
                    body=file.body,
                    postage=file.postage,
                    content_hash=file.content_hash,
                    fields=file.fields_json,
                    source_path=file.source_path,
                    archived=False,
                    created_at=now,
                    updated_at=now,
                )
            )
            session.add(_version_row(file.id, 1, file))
            added += 1
            continue

        _check_compatible(row, file)
        content_changed = row.content_hash != file.content_hash
        if content_changed:
            row.version += 1
            row.name, row.subject, row.body = file.name, file.subject, file.body
            row.postage, row.content_hash = file.postage, file.content_hash
            session.add(_version_row(row.id, row.version, file))
            changed += 1
        else:
            unchanged += 1
        place = (file.slug, file.language, file.source_path, False)
        moved = (row.slug, row.language, row.source_path, row.archived) != place
        if moved:
            # A renamed or restored file keeps its id and history; only where it lives changes.
            row.slug, row.language, row.source_path, row.archived = place
        if row.fields != file.fields_json:
            # Field descriptions are words for people, not what a recipient sees: no new version.
            row.fields = file.fields_json
            moved = True
        if content_changed or moved:
            row.updated_at = now

    present = set(ids)
    for row in existing.values():
        if row.service_id is None and row.id not in present and not row.archived:
            row.archived = True
            row.updated_at = now
            archived += 1

    await session.flush()
    return SyncReport(added=added, changed=changed, unchanged=unchanged, archived=archived)
