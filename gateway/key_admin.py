"""API keys for administrators: list a service's keys and revoke one (CLI and the admin keys page).

Creating a key is `gateway.admin.create_api_key`. A key is never deleted (notifications keep the
id of the key that sent them); revoking stamps `revoked_at` and is audited. Every process sees a
revocation within the API key cache's lifetime (`gateway.api.auth.CACHE_SECONDS`, 5 s), the
process that revoked it at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.admin import AdminError
from gateway.db import ApiKey, AuditEntry
from gateway.db.base import utcnow


@dataclass(frozen=True)
class KeySummary:
    """What a person may see of a key: never its secret."""

    id: uuid.UUID
    name: str
    key_type: str
    created_by: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


async def list_keys(session: AsyncSession, service_id: uuid.UUID) -> list[KeySummary]:
    """The service's keys, live ones first, then by name."""
    rows = (await session.scalars(select(ApiKey).where(ApiKey.service_id == service_id))).all()
    summaries = [
        KeySummary(r.id, r.name, r.key_type, r.created_by, r.created_at, r.last_used_at, r.revoked_at) for r in rows
    ]
    return sorted(summaries, key=lambda k: (k.revoked_at is not None, k.name))


async def find_key(session: AsyncSession, service_id: uuid.UUID, key: str) -> ApiKey:
    """A key of this service by id or by name; AdminError naming what was not found."""
    try:
        clause = ApiKey.id == uuid.UUID(key)
    except ValueError:
        clause = ApiKey.name == key
    found = await session.scalar(select(ApiKey).where(ApiKey.service_id == service_id, clause))
    if found is None:
        raise AdminError(f"service {service_id} has no API key {key!r}")
    return found


async def revoke_key(
    session: AsyncSession, service_id: uuid.UUID, key: str, *, actor: str, source_ip: str | None = None
) -> ApiKey:
    """Revoke one of the service's keys (by id or name), audited; a key revoked already is an AdminError."""
    row = await find_key(session, service_id, key)
    now = utcnow()
    # Conditional, so two admins revoking at once write one audit row each but one revoked_at.
    done = await session.execute(
        update(ApiKey).where(ApiKey.id == row.id, ApiKey.revoked_at.is_(None)).values(revoked_at=now)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise AdminError(f"API key {row.name!r} is already revoked")
    session.add(
        AuditEntry(
            service_id=service_id,
            actor=actor,
            action="api_key.revoke",
            target=row.name,
            source_ip=source_ip,
            detail={"key_id": str(row.id), "key_type": row.key_type},
        )
    )
    await session.refresh(row)
    return row
