"""The signed acknowledgment link in a victim notice email: `/victims/ack/{token}`.

No sign-in and no CSRF token: the signed token (`gateway.victims.acknowledge`, purpose
`victim-ack:`) names one notice and is the whole authority, as the one-click unsubscribe link is.
`GET` shows a page with one button and changes nothing (mail scanners and link previews follow
links; a scanner must not tell the unit a victim read a notice they never saw). `POST` acknowledges
the notice (`email-link`) with an audit row; repeating it changes nothing. A token that is not ours
is a 404. The page names no offender, case or victim: only the unit.
"""

from __future__ import annotations

import structlog
from aiohttp import web

from gateway import keys
from gateway.db import Service, VictimNotice
from gateway.db.write_lock import write_lock
from gateway.victims.acknowledge import PATH, acknowledge, notice_of_token
from gateway.web import audit
from gateway.web.render import render_page

log = structlog.get_logger()
routes = web.RouteTableDef()
NOT_VALID = "This link is not valid. Nothing was recorded. Please call your victim services office."


async def _unit(request: web.Request) -> tuple[VictimNotice, str] | None:
    notice_id = notice_of_token(request.app[keys.VAULT], request.match_info["token"])
    if notice_id is None:
        return None
    async with request.app[keys.SESSIONS]() as db:
        notice = await db.get(VictimNotice, notice_id)
        service = await db.get(Service, notice.service_id) if notice else None
    return (notice, service.name) if notice is not None and service is not None else None


def _language(notice: VictimNotice | None) -> str:
    return notice.language if notice is not None and notice.language in ("en", "es") else "en"


@routes.get(PATH + "{token}")
async def confirm_page(request: web.Request) -> web.StreamResponse:
    found = await _unit(request)
    if found is None:
        return render_page(request, "victim_ack.html", status=404, title="Link not valid", problem=NOT_VALID)
    notice, unit = found
    return render_page(
        request,
        "victim_ack.html",
        title="Confirm",
        unit=unit,
        done=False,
        language=_language(notice),
        already=notice.state == "acknowledged",
    )


@routes.post(PATH + "{token}")
async def confirm(request: web.Request) -> web.StreamResponse:
    found = await _unit(request)
    if found is None:
        return render_page(request, "victim_ack.html", status=404, title="Link not valid", problem=NOT_VALID)
    notice, unit = found
    app = request.app
    async with write_lock(app[keys.ENGINE]), app[keys.SESSIONS]() as db:
        done = await acknowledge(db, notice.id, via="email-link", by="victim", now=app[keys.CLOCK].now())
        audit.record(
            db,
            action="victim.acknowledge",
            actor="recipient:email-link",
            service_id=notice.service_id,
            source_ip=audit.source_ip(request),
            outcome="ok" if done else "already",
            target=str(notice.id),
        )
        await db.commit()
    log.info("victims.ack_link", notice_id=str(notice.id), changed=done)
    return render_page(request, "victim_ack.html", title="Thank you", unit=unit, done=True, language=_language(notice))
