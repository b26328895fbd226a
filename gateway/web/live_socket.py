"""`GET /live`: the websocket that pushes live events to a signed-in staff browser.

The web middleware has already required a full sign-in (anyone else gets a redirect, never a
socket). Here the `Origin` header must be this site's own (GATEWAY_PUBLIC_URL's origin, or the
request's own scheme and host when no public URL is set), so another site's page cannot open a
socket with the staff member's cookie (cross-site websocket hijacking): refused with 403.

The socket subscribes to `app[keys.LIVE]` for the staff member's service only and forwards each
event as JSON. Events carry ids, statuses and counts, never message bodies or contact details:
the page fetches what it is allowed to see (`/inbox/list`, `/conversations/{id}/messages`).
Conversation events for victim conversations are dropped for roles that may not see them.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
import weakref
from urllib.parse import urlsplit

import structlog
from aiohttp import WSCloseCode, WSMsgType, web
from sqlalchemy import select

from gateway import keys
from gateway.db import CaseParticipant, Conversation
from gateway.domain import ServiceKind
from gateway.live import Event
from gateway.victim_access import victim_people
from gateway.web.access import can_see_victim_data, signed_in
from gateway.web.context import StaffContext

log = structlog.get_logger()
routes = web.RouteTableDef()

FORWARDED = frozenset({"inbound_message", "status", "broadcast"})  # broadcast: progress counts (ids, numbers)
HEARTBEAT_SECONDS = 30.0


def allowed_origin(request: web.Request) -> str:
    """The one origin a socket may be opened from."""
    public_url = request.app[keys.SETTINGS].public_url
    if public_url:
        parts = urlsplit(public_url)
        return f"{parts.scheme}://{parts.netloc}".lower()
    return f"{request.scheme}://{request.host}".lower()


def origin_ok(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    return origin is not None and origin.rstrip("/").lower() == allowed_origin(request)


async def _hidden_from(request: web.Request, staff: StaffContext, event: Event) -> bool:
    """True when the event is about a victim conversation this staff member may not see."""
    if staff.service.kind != ServiceKind.VICTIM_SERVICES or can_see_victim_data(staff, staff.service):
        return False
    raw = event.get("conversation_id")
    if event.get("type") != "inbound_message" or not isinstance(raw, str):
        return False
    async with request.app[keys.SESSIONS]() as db:
        person_id = await db.scalar(
            select(Conversation.person_id).where(
                Conversation.id == uuid.UUID(raw), Conversation.service_id == staff.service_id
            )
        )
        if person_id is None:
            return False
        victim = await db.scalar(victim_people(staff.service_id).where(CaseParticipant.person_id == person_id))
    return victim is not None


async def _pump(request: web.Request, ws: web.WebSocketResponse, staff: StaffContext) -> None:
    async with request.app[keys.LIVE].subscribe(staff.service_id) as events:
        async for event in events:
            if event.get("type") not in FORWARDED or await _hidden_from(request, staff, event):
                continue
            await ws.send_json({k: v for k, v in event.items() if isinstance(v, str | int | None)})


@routes.get("/live")
async def live(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    if not origin_ok(request):
        log.warning("live.origin_refused", staff_id=str(staff.user_id))
        raise web.HTTPForbidden()
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS)
    await ws.prepare(request)
    request.app[keys.LIVE_SOCKETS].add(ws)
    pump = asyncio.create_task(_pump(request, ws, staff))
    try:
        async for message in ws:  # the browser sends nothing we need; this waits for it to close
            if message.type is WSMsgType.ERROR:
                break
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionResetError):
            await pump
    return ws


async def _close_sockets(app: web.Application) -> None:
    """On shutdown, say goodbye to every open socket so the server stops at once (browsers reconnect)."""
    sockets = app[keys.LIVE_SOCKETS]
    for ws in [*sockets]:
        with contextlib.suppress(Exception):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


def setup(app: web.Application) -> None:
    app[keys.LIVE_SOCKETS] = weakref.WeakSet[web.WebSocketResponse]()
    app.on_shutdown.append(_close_sockets)
