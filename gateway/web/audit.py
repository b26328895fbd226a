"""Audit log rows for the staff web interface: sign-ins, sign-outs, admin actions and views.

Actors are named by id (`staff:<uuid>`), never by name or email; an attempt with an unknown
email address is recorded as `anonymous`, with a keyed hash of the address (so repeated tries
against one address can be counted) and never the address itself.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import AuditEntry

ANONYMOUS = "anonymous"


def staff_actor(user_id: uuid.UUID) -> str:
    return f"staff:{user_id}"


def source_ip(request: web.Request) -> str | None:
    """The peer address (a proxy in front should be trusted only once configured to be)."""
    return request.remote


def record(
    db: AsyncSession,
    *,
    action: str,
    actor: str,
    service_id: uuid.UUID | None,
    source_ip: str | None,
    outcome: str = "ok",
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add one audit row to `db`; it is written with the caller's commit, with what it records."""
    db.add(
        AuditEntry(
            service_id=service_id,
            actor=actor,
            action=action,
            target=target,
            source_ip=source_ip,
            outcome=outcome,
            detail=detail,
        )
    )
