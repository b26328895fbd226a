"""What the broadcast pages show: the list, a draft's preview, a sending broadcast's progress.

Every query is scoped to the signed-in staff member's service; another service's broadcast is not
found. Reading a broadcast never writes (the preview resolves and screens the audience each time, so
what a sender or an approver sees is the list as it is now).
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from sqlalchemy import select

from gateway import keys
from gateway.broadcasts.audience import officers
from gateway.broadcasts.lifecycle import B, Deps, content_of, resolve
from gateway.broadcasts.preview import preview
from gateway.broadcasts.progress import counts
from gateway.broadcasts.upload import HeaderError
from gateway.db import Broadcast, Service, StaffUser
from gateway.errors import ApiError
from gateway.web.access import not_found
from gateway.web.context import StaffContext

LIVE_STATUSES = (B.SCHEDULED.value, B.SENDING.value, B.PAUSED.value)


async def visible_broadcast(request: web.Request, staff: StaffContext, broadcast_id: uuid.UUID) -> Broadcast:
    async with request.app[keys.SESSIONS]() as db:
        broadcast = await db.get(Broadcast, broadcast_id)
    if broadcast is None or broadcast.service_id != staff.service_id:
        raise not_found()
    return broadcast


async def list_rows(request: web.Request, staff: StaffContext) -> list[dict[str, Any]]:
    async with request.app[keys.SESSIONS]() as db:
        rows = await db.execute(
            select(Broadcast, StaffUser.name)
            .outerjoin(StaffUser, StaffUser.id == Broadcast.created_by_staff_id)
            .where(Broadcast.service_id == staff.service_id)
            .order_by(Broadcast.created_at.desc())
            .limit(200)
        )
        return [{"b": b, "by": name or "the API", "status": b.status.replace("_", " ")} for b, name in rows.all()]


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"about {max(1, round(seconds))} seconds"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} minutes"
    return f"about {seconds / 3600:.1f} hours"


async def page_context(request: web.Request, staff: StaffContext, broadcast: Broadcast) -> dict[str, Any]:
    """The broadcast page: its details, and either the preview (not sent yet) or the progress."""
    deps = Deps.of(request.app)
    context: dict[str, Any] = {
        "b": broadcast,
        "status_text": broadcast.status.replace("_", " "),
        "preview": None,
        "problem": None,
        "row_errors": [],
        "bad_rows": [],
        "duration": "",
        "message": deps.vault.open(broadcast.message_enc) if broadcast.message_enc else None,
    }
    async with deps.sessions() as db:
        service = await db.get(Service, staff.service_id)
        assert service is not None
        names = dict(await officers(db, staff.service_id))
        context["created_by"] = names.get(broadcast.created_by_staff_id or uuid.UUID(int=0), "the API")
        context["approved_by"] = names.get(broadcast.approved_by_staff_id or uuid.UUID(int=0))
        context["live"] = broadcast.status in LIVE_STATUSES
        context["counts"] = await counts(db, broadcast.id)
        context["threshold"] = service.broadcast_approval_threshold
        if broadcast.status in (B.DRAFT.value, B.AWAITING_APPROVAL.value, B.APPROVED.value):
            try:
                content = await content_of(deps, service, broadcast)
                resolved = await resolve(deps, db, service, broadcast, content)
            except (HeaderError, ApiError) as exc:
                context["problem"] = exc.message if isinstance(exc, ApiError) else str(exc)
                return context
            result = await preview(
                db,
                deps.settings,
                deps.vault,
                deps.renderer,
                service,
                content,
                resolved.recipients,
                resolved.left_out,
                deps.clock.now(),
            )
            context.update(
                preview=result,
                duration=duration(result.seconds),
                bad_rows=[o for o in resolved.left_out if o.reason == "the row has errors"],
                row_errors=await _row_errors(deps, broadcast, content),
                is_author=broadcast.created_by_staff_id == staff.user_id,
            )
    return context


async def _row_errors(deps: Deps, broadcast: Broadcast, content: Any) -> list[Any]:
    """The uploaded list's problems by row and column (the first 100)."""
    from gateway.broadcasts.lifecycle import check_upload

    checked = check_upload(deps, broadcast, content)
    return [] if checked is None else checked.errors[:100]
