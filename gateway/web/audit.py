"""Audit log rows for the staff web interface: sign-ins, sign-outs, admin actions and views.

Actors are named by id (`staff:<uuid>`), never by name or email; an attempt with an unknown
email address is recorded as `anonymous`, with a keyed hash of the address (so repeated tries
against one address can be counted) and never the address itself.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import AuditEntry

if TYPE_CHECKING:
    from gateway.web.context import StaffContext

ANONYMOUS = "anonymous"


def staff_actor(user_id: uuid.UUID) -> str:
    return f"staff:{user_id}"


def source_ip(request: web.Request) -> str | None:
    """The peer address (a proxy in front should be trusted only once configured to be)."""
    return request.remote


def by_staff(
    db: AsyncSession,
    request: web.Request,
    staff: StaffContext,
    action: str,
    *,
    outcome: str = "ok",
    target: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """`record` for what a signed-in staff member did in this request: actor, service and address."""
    record(
        db,
        action=action,
        actor=staff.actor,
        service_id=staff.service_id,
        source_ip=source_ip(request),
        outcome=outcome,
        target=target,
        detail=detail,
    )


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
