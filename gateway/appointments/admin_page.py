"""`/admin/reminders`: the service's reminder plan for each kind of appointment, editable by admins.

Each kind shows its plan ("7d, 1d, 0d@08:00": days, hours or minutes before, or a time on a day
before), whether it is the research default or the service's own, and where the default comes from.
Saving checks the steps (`gateway.appointments.plans.check_steps`: a bad one is refused with the
reason and nothing is stored), is CSRF-checked by the web middleware and audited
(`reminder_plan.update`, `reminder_plan.reset`). A change applies to appointments planned from then
on; reminders already planned keep their times until their appointment is next written.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from gateway import keys
from gateway.appointments import AppointmentKind
from gateway.appointments.plans import (
    SOURCES,
    BadPlan,
    default_steps,
    parse_steps_text,
    plans_for,
    reset_plan,
    save_plan,
    steps_text,
)
from gateway.domain import Role
from gateway.web import audit
from gateway.web.access import not_found, require_role, signed_in
from gateway.web.context import StaffContext
from gateway.web.render import render_page, see_other

routes = web.RouteTableDef()
KIND_LABELS = {
    AppointmentKind.OFFICE_VISIT: "Office visit",
    AppointmentKind.DRUG_TEST: "Drug test",
    AppointmentKind.GROUP_SESSION: "Group session",
    AppointmentKind.COURT_HEARING: "Court hearing",
    AppointmentKind.JOB_INTERVIEW: "Job interview",
    AppointmentKind.WORKSHOP: "Workshop",
    AppointmentKind.OTHER: "Other",
}


@dataclass(frozen=True)
class PlanRow:
    kind: str
    label: str
    steps: str  # as typed; "" when reminders are off
    default_steps: str
    state: str  # "default", "own", "off"
    source: str


def _admin(request: web.Request) -> StaffContext:
    staff = signed_in(request)
    require_role(staff, Role.ADMIN)
    return staff


async def _rows(request: web.Request, staff: StaffContext) -> list[PlanRow]:
    async with request.app[keys.SESSIONS]() as db:
        plans = await plans_for(db, [(staff.service_id, k.value) for k in AppointmentKind])
    rows = []
    for kind in AppointmentKind:
        plan = plans[(staff.service_id, kind.value)]
        state = "off" if plan.steps is None else "default" if plan.default else "own"
        rows.append(
            PlanRow(
                kind.value,
                KIND_LABELS[kind],
                steps_text(plan.steps) if plan.steps else "",
                steps_text(default_steps(kind.value)),
                state,
                SOURCES[kind],
            )
        )
    return rows


@routes.get("/admin/reminders")
async def plans_page(request: web.Request) -> web.StreamResponse:
    staff = _admin(request)
    plans = await _rows(request, staff)
    return render_page(request, "admin_reminders.html", title="Reminders", plans=plans, typed={})


@routes.post("/admin/reminders/{kind}")
async def plan_save(request: web.Request) -> web.StreamResponse:
    staff = _admin(request)
    kind = request.match_info["kind"]
    if kind not in {k.value for k in AppointmentKind}:
        raise not_found()
    data = await request.post()
    reset = data.get("action") == "reset"
    text = str(data.get("steps", "") or "")
    enabled = data.get("enabled") == "yes"
    async with request.app[keys.SESSIONS]() as db:
        try:
            if reset:
                await reset_plan(db, staff.service_id, kind)
                detail: dict[str, str] = {"kind": kind}
            else:
                steps = await save_plan(
                    db, staff.service_id, kind, parse_steps_text(text), enabled=enabled, staff_id=staff.user_id
                )
                detail = {"kind": kind, "steps": steps_text(steps), "enabled": str(enabled)}
        except BadPlan as exc:
            label = KIND_LABELS[AppointmentKind(kind)]
            return render_page(
                request,
                "admin_reminders.html",
                status=400,
                title="Reminders",
                plans=await _rows(request, staff),
                errors=[f"{label}: {exc}"],
                typed={kind: text},
            )
        audit.record(
            db,
            action="reminder_plan.reset" if reset else "reminder_plan.update",
            actor=staff.actor,
            service_id=staff.service_id,
            source_ip=audit.source_ip(request),
            target=kind,
            detail=detail,
        )
        await db.commit()
    raise see_other("/admin/reminders?done=plan_saved")
