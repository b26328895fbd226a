"""Adding, changing, moving and cancelling an appointment by hand, from the case page.

* `GET|POST /cases/{ref}/appointments/new` — "Add appointment" for the case's client.
* `GET|POST /appointments/{id}/edit` — change it; a new date or time is a move, confirmed on a second
  page that says the client will be told the new time.
* Cancelling (with a confirmation page) and attended / missed: `gateway.web.appointment_actions`.

Times are typed on the appointment's clock: the client's time zone, else the service's (an existing
appointment keeps its own); the page says which. Every field is checked by the same rules as the
API (`gateway.appointments`), every problem shown beside its field, nothing written until all are
right. Forms carry the CSRF token (checked by the web middleware). Anything of another service, or a
victim's appointment for staff who may not see victims, answers 404.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import keys
from gateway.appointments import FINISHED
from gateway.appointments.fields import KINDS, LOCATION_KINDS, AppointmentInput, resolve_start, validate_appointment
from gateway.appointments.lookups import load_lookups
from gateway.appointments.store import Stored
from gateway.appointments.words import KIND_WORDS, LOCATION_WORDS, when
from gateway.appointments.writes import save_appointment
from gateway.db import Case
from gateway.directory.fields import FieldErrors
from gateway.localtime import to_local
from gateway.web import audit
from gateway.web.access import not_found, signed_in
from gateway.web.appointment_data import deliver, hidden_victims, load_appointment
from gateway.web.case_data import case_handlers
from gateway.web.case_page import case_url, load_case
from gateway.web.context import StaffContext
from gateway.web.render import render_page, see_other

routes = web.RouteTableDef()
FORM = ("kind", "title", "date", "time", "duration_minutes", "location_kind", "location", "staff", "bring", "notes")
LABELS = {
    "kind": "Kind of appointment",
    "title": "Title (optional)",
    "date": "Date",
    "time": "Time",
    "duration_minutes": "Length in minutes",
    "location_kind": "Where",
    "location": "Address or link",
    "staff": "Member of staff",
    "bring": "What to bring (optional, said in the reminders)",
    "notes": "Notes for staff (optional, never sent)",
}
# The API's field names -> this form's, so each problem sits beside its input.
FORM_FIELD = {"starts_at": "time", "time_zone": "time"}


def _kinds() -> list[tuple[str, str]]:
    return [(k, KIND_WORDS[k]) for k in KINDS]


def _page(
    request: web.Request,
    *,
    title: str,
    action: str,
    back: str,
    form: dict[str, str],
    zone: str,
    staff_choices: list[tuple[str, str]],
    problems: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    problems = problems or {}
    general = [message for name, message in problems.items() if name not in FORM]
    return render_page(
        request,
        "appointment_form.html",
        status=status,
        title=title,
        action=action,
        back=back,
        form=form,
        zone=zone,
        labels=LABELS,
        kinds=_kinds(),
        location_kinds=[(k, LOCATION_WORDS[k]) for k in LOCATION_KINDS],
        staff_choices=staff_choices,
        problems={k: v for k, v in problems.items() if k in FORM},
        errors=[*general, *(f"{LABELS[k].split(' (')[0]}: {v}" for k, v in problems.items() if k in FORM)],
    )


async def _staff_choices(db: AsyncSession, staff: StaffContext) -> list[tuple[str, str]]:
    return [(u.email.lower(), u.name) for u in await case_handlers(db, staff.service_id)]


def _read(posted: MultiDictProxy[Any]) -> dict[str, str]:
    return {name: str(posted.get(name, "")).strip() for name in FORM}


def _check(form: dict[str, str], reference: str, zone: str) -> tuple[AppointmentInput | None, dict[str, str]]:
    problems: dict[str, str] = {}
    for name in ("date", "time"):
        if not form[name]:
            problems[name] = "is required"
    raw = {k: v for k, v in form.items() if k not in ("date", "time") and v}
    raw |= {"case_reference": reference, "time_zone": zone, "starts_at": f"{form['date']}T{form['time']}"}
    try:
        new = validate_appointment(raw)
    except FieldErrors as exc:
        for name, message in exc.errors.items():
            problems.setdefault(FORM_FIELD.get(name, name), message)
        return None, problems
    return (new if not problems else None), problems


@routes.get("/cases/{ref}/appointments/new")
async def new_form(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    async with request.app[keys.SESSIONS]() as db:
        case = await load_case(db, staff, request.match_info["ref"])
        zone, officer = await _defaults(db, staff, case)
        choices = await _staff_choices(db, staff)
    form = dict.fromkeys(FORM, "") | {"kind": "office_visit", "duration_minutes": "60", "location_kind": "address"}
    form["staff"] = officer
    return _add_page(request, case, form, zone, choices)


def _add_page(
    request: web.Request,
    case: Case,
    form: dict[str, str],
    zone: str,
    choices: list[tuple[str, str]],
    problems: dict[str, str] | None = None,
) -> web.Response:
    return _page(
        request,
        title=f"Add an appointment to case {case.external_ref}",
        action=f"{case_url(case.external_ref)}/appointments/new",
        back=case_url(case.external_ref),
        form=form,
        zone=zone,
        staff_choices=choices,
        problems=problems,
        status=400 if problems else 200,
    )


async def _defaults(db: AsyncSession, staff: StaffContext, case: Case) -> tuple[str, str]:
    """(the clock times are typed on, the case officer's email) for a new appointment; 404 when the
    case's client is someone this member of staff may not see."""
    names = await load_lookups(db, staff.service_id, references=[case.external_ref])
    info = names.cases[case.external_ref]
    if info.client_id is not None and info.client_id in await hidden_victims(db, staff):
        raise not_found()
    zone = names.person_zone(info.client_id) if info.client_id else names.service_zone
    return zone, names.staff_emails.get(info.officer_id, "") if info.officer_id else ""


@routes.post("/cases/{ref}/appointments/new")
async def add_appointment(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    form = _read(await request.post())
    app = request.app
    async with app[keys.SESSIONS]() as db:
        case = await load_case(db, staff, request.match_info["ref"])
        zone, _ = await _defaults(db, staff, case)
        new, problems = _check(form, case.external_ref, zone)
        written = None
        if new is not None:
            try:
                written = await save_appointment(
                    db, app[keys.VAULT], staff.service_id, None, new, actor=staff.actor, now=app[keys.CLOCK].now()
                )
            except FieldErrors as exc:
                problems = {FORM_FIELD.get(k, k): v for k, v in exc.errors.items()}
        if written is None:
            return _add_page(request, case, form, zone, await _staff_choices(db, staff), problems)
        audit.by_staff(db, request, staff, "appointment.add", target=str(written.appointment.id))
        await db.commit()
    await deliver(request, written)
    raise see_other(case_url(case.external_ref, "appointment_added"))


def _form_of(stored: Stored) -> dict[str, str]:
    v = stored.values
    local = to_local(v["starts_at"], v["time_zone"])
    form = {name: "" if v.get(name) is None else str(v[name]) for name in FORM if name in v}
    return form | {"date": local.strftime("%Y-%m-%d"), "time": local.strftime("%H:%M"), "staff": ""}


@routes.get("/appointments/{id}/edit")
async def edit_form(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    async with request.app[keys.SESSIONS]() as db:
        stored, case = await load_appointment(db, request, staff)
        names = await load_lookups(db, staff.service_id, references=[case.external_ref])
        choices = await _staff_choices(db, staff)
        await db.commit()  # audit rows of victim views, if any
    form = _form_of(stored) | {
        "staff": names.staff_emails.get(stored.values["staff_id"], "") if stored.values["staff_id"] else ""
    }
    return _edit_page(request, stored, case, form, choices)


def _edit_page(
    request: web.Request,
    stored: Stored,
    case: Case,
    form: dict[str, str],
    choices: list[tuple[str, str]],
    problems: dict[str, str] | None = None,
) -> web.Response:
    return _page(
        request,
        title=f"Change the appointment on {when(stored.values['starts_at'], stored.values['time_zone'])}",
        action=f"/appointments/{stored.id}/edit",
        back=case_url(case.external_ref),
        form=form,
        zone=stored.values["time_zone"],
        staff_choices=choices,
        problems=problems,
        status=400 if problems else 200,
    )


@routes.post("/appointments/{id}/edit")
async def edit_appointment(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    posted = await request.post()
    form = _read(posted)
    app = request.app
    async with app[keys.SESSIONS]() as db:
        stored, case = await load_appointment(db, request, staff)
        choices = await _staff_choices(db, staff)
        if stored.values["status"] in FINISHED:
            return _edit_page(
                request,
                stored,
                case,
                form,
                choices,
                {"status": "A finished or cancelled appointment cannot be changed."},
            )
        new, problems = _check(form, case.external_ref, stored.values["time_zone"])
        if new is None:
            return _edit_page(request, stored, case, form, choices, problems)
        try:
            start = resolve_start(new.starts_at, stored.values["time_zone"])
        except FieldErrors as exc:
            return _edit_page(request, stored, case, form, choices, {"time": exc.errors["starts_at"]})
        if start != stored.values["starts_at"] and posted.get("confirm") != "move":
            return render_page(
                request,
                "appointment_move_confirm.html",
                title="Move this appointment?",
                action=f"/appointments/{stored.id}/edit",
                back=case_url(case.external_ref),
                form=form,
                was=when(stored.values["starts_at"], stored.values["time_zone"]),
                will_be=when(start, stored.values["time_zone"]),
            )
        try:
            written = await save_appointment(
                db, app[keys.VAULT], staff.service_id, stored, new, actor=staff.actor, now=app[keys.CLOCK].now()
            )
        except FieldErrors as exc:
            return _edit_page(
                request, stored, case, form, choices, {FORM_FIELD.get(k, k): v for k, v in exc.errors.items()}
            )
        if written.changed:
            audit.by_staff(
                db, request, staff, "appointment.change", target=str(stored.id), detail={"fields": written.changed}
            )
        await db.commit()
    await deliver(request, written)
    done = "appointment_moved" if "starts_at" in written.changed else "appointment_changed"
    if not written.changed:
        done = "appointment_unchanged"
    raise see_other(case_url(case.external_ref, done))
