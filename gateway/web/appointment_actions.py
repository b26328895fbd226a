"""Cancelling an appointment and recording its outcome from the staff pages.

* `GET|POST /appointments/{id}/cancel` — a confirmation page naming it, then the cancellation.
* `POST /appointments/{id}/outcome` — `outcome=attended|missed` (from "My appointments" or the case
  page), only once it has started by the gateway's clock and never for a cancelled one (409 with
  the reason otherwise); back to the page it came from (`next`).

The same rules and writes as the API (`gateway.appointments.writes.set_status`); audited.
"""

from __future__ import annotations

from aiohttp import web

from gateway import keys
from gateway.appointments import FINISHED, AppointmentStatus
from gateway.appointments.words import KIND_WORDS, when
from gateway.appointments.writes import set_status
from gateway.directory.fields import FieldErrors
from gateway.web import audit
from gateway.web.access import signed_in
from gateway.web.appointment_data import deliver, load_appointment
from gateway.web.case_page import case_url
from gateway.web.render import render_page, safe_next, see_other

routes = web.RouteTableDef()


@routes.get("/appointments/{id}/cancel")
async def cancel_form(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    async with request.app[keys.SESSIONS]() as db:
        stored, case = await load_appointment(db, request, staff)
        await db.commit()
    if stored.values["status"] in FINISHED:
        raise see_other(case_url(case.external_ref))
    return render_page(
        request,
        "appointment_cancel_confirm.html",
        title="Cancel this appointment?",
        action=f"/appointments/{stored.id}/cancel",
        back=case_url(case.external_ref),
        kind=KIND_WORDS.get(stored.values["kind"], "Appointment"),
        at=when(stored.values["starts_at"], stored.values["time_zone"]),
    )


@routes.post("/appointments/{id}/cancel")
async def cancel_appointment(request: web.Request) -> web.StreamResponse:
    return await _set(request, AppointmentStatus.CANCELLED, "appointment_cancelled")


@routes.post("/appointments/{id}/outcome")
async def mark_outcome(request: web.Request) -> web.StreamResponse:
    posted = await request.post()
    outcome = posted.get("outcome")
    if outcome not in (AppointmentStatus.ATTENDED.value, AppointmentStatus.MISSED.value):
        raise web.HTTPBadRequest(text="Choose attended or missed.")
    return await _set(request, AppointmentStatus(str(outcome)), f"appointment_{outcome}")


async def _set(request: web.Request, status: AppointmentStatus, done: str) -> web.StreamResponse:
    staff = signed_in(request)
    posted = await request.post()
    app = request.app
    async with app[keys.SESSIONS]() as db:
        stored, case = await load_appointment(db, request, staff)
        try:
            written = await set_status(
                db, app[keys.VAULT], stored, status, actor=staff.actor, now=app[keys.CLOCK].now()
            )
        except FieldErrors as exc:
            raise web.HTTPConflict(text=next(iter(exc.errors.values()))) from None
        if written.changed:
            audit.by_staff(db, request, staff, f"appointment.{status.value}", target=str(stored.id))
        await db.commit()
    await deliver(request, written)
    back = safe_next(str(posted.get("next", "")), case_url(case.external_ref))
    separator = "&" if "?" in back else "?"
    raise see_other(
        f"{back}{separator}appointment_done={done}"
        if back.startswith("/appointments")
        else case_url(case.external_ref, done)
    )
