"""`GET /appointments`: "My appointments" — the signed-in member of staff's appointments today and in the
next seven days, each with its state (scheduled, confirmed, reschedule requested, attended, missed,
cancelled) and, once it has started, buttons to mark it attended or missed.

"Today" is the service's day, by the gateway's clock (`app[keys.CLOCK]`); each appointment's time is
shown on its own clock. Supervisors and admins may pick another member of staff of the service
(`?officer=<id>`); anyone else asking for another's appointments gets 403. Victims' appointments
follow `gateway.web.appointment_data` (hidden, or shown and audited).
"""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from gateway import keys
from gateway.appointments.queries import Window, for_staff
from gateway.localtime import day_start, to_local
from gateway.web.access import signed_in
from gateway.web.appointment_data import rows_for
from gateway.web.case_data import staff_names
from gateway.web.caseload import SUPERVISING, _staff_member
from gateway.web.render import render_page

routes = web.RouteTableDef()
DAYS_AHEAD = 7
NOTICES = {
    "appointment_attended": "Marked attended.",
    "appointment_missed": "Marked missed.",
    "appointment_cancelled": "The appointment has been cancelled.",
}


@routes.get("/appointments")
async def my_appointments(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    now = request.app[keys.CLOCK].now()
    zone = staff.service.timezone
    today = to_local(now, zone).date()
    start, tomorrow = day_start(today, zone), day_start(today + timedelta(days=1), zone)
    end = day_start(today + timedelta(days=DAYS_AHEAD + 1), zone)
    async with request.app[keys.SESSIONS]() as db:
        officer = await _staff_member(db, staff, request.query.get("officer") or None)
        found = await for_staff(db, staff.service_id, officer.id, Window(start, end))
        rows = await rows_for(db, request, staff, found, now)
        supervising = staff.has_role(*SUPERVISING)
        officers = sorted((await staff_names(db, staff.service_id)).items(), key=lambda item: item[1].lower())
        await db.commit()  # audit rows of victim views, if any
    mine = officer.id == staff.user_id
    return render_page(
        request,
        "appointments.html",
        title="My appointments" if mine else f"Appointments of {officer.name}",
        today=[r for r in rows if r.starts_at < tomorrow],
        week=[r for r in rows if r.starts_at >= tomorrow],
        today_label=f"{today:%A} {today.day} {today:%B}",
        days_ahead=DAYS_AHEAD,
        supervising=supervising,
        officers=officers if supervising else [],
        officer=officer,
        mine=mine,
        back=request.path_qs.split("&appointment_done", 1)[0].split("?appointment_done", 1)[0],
        appointment_notice=NOTICES.get(request.query.get("appointment_done", "")),
    )
