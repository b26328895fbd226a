"""The caseload page and reassigning cases from it.

* `GET /caseload?q=&status=&program=&tag=` — the signed-in officer's clients (`caseload_data`), each
  with last contact, unread count and open items, a link to their page and a "Start a
  conversation" button. Supervisors and admins pick whose caseload with `officer=<staff id>`.
* `GET /caseload/reassign?officer=<id>[&case=<id>]` — supervisors and admins: choose who takes one
  client's case (`case`) or the officer's whole open caseload (an officer leaving), and why.
* `POST /caseload/reassign` — first answers a confirmation naming the cases, from whom, to whom and
  the reason; with `confirm=yes` it reassigns them (`gateway.directory.reassign`): an entry on
  each case record and one audit row per case.

A staff id or case of another service answers 404; an officer asking for someone else's caseload
or to reassign answers 403.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

import structlog
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import keys
from gateway.db import Case, StaffUser
from gateway.directory.reassign import MAX_REASON_CHARS, ReassignError, reassign_cases
from gateway.domain import Role
from gateway.web import audit
from gateway.web.access import can_see_victim_data, not_found, parse_id, require_role, signed_in
from gateway.web.case_data import case_handlers, staff_names
from gateway.web.caseload_data import STATUSES, CaseloadFilter, caseload, choices
from gateway.web.context import StaffContext
from gateway.web.render import render_page, see_other

log = structlog.get_logger()
routes = web.RouteTableDef()

SUPERVISING = (Role.SUPERVISOR, Role.ADMIN)
NOTICES = {"reassigned": "The cases have been reassigned and the transfer written on each case record."}


async def _staff_member(db: AsyncSession, staff: StaffContext, raw: str | None) -> StaffUser:
    """A member of staff of this service by id (404 otherwise); the signed-in one when none is named."""
    staff_id = parse_id(raw) if raw else staff.user_id
    if staff_id != staff.user_id:
        require_role(staff, *SUPERVISING)  # only supervisors look at other people's caseloads
    found = await db.scalar(select(StaffUser).where(StaffUser.id == staff_id, StaffUser.service_id == staff.service_id))
    if found is None:
        raise not_found()
    return found


@routes.get("/caseload")
async def caseload_page(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    query = request.query
    status = query.get("status", "open")
    app = request.app
    async with app[keys.SESSIONS]() as db:
        officer = await _staff_member(db, staff, query.get("officer"))
        where = CaseloadFilter(
            officer_id=officer.id,
            status=status if status in STATUSES else "open",
            program=query.get("program", "").strip()[:128],
            tag=query.get("tag", "").strip()[:64],
            search=query.get("q", "").strip()[:128],
        )
        show_victims = can_see_victim_data(staff, staff.service)
        rows = await caseload(
            db,
            app[keys.VAULT],
            staff.service_id,
            where,
            region=app[keys.SETTINGS].default_region,
            show_victims=show_victims,
        )
        programs, tags = await choices(db, staff.service_id)
        supervising = staff.has_role(*SUPERVISING)
        officers = list((await staff_names(db, staff.service_id)).items()) if supervising else []
        victims = [r for r in rows if r.role == "victim"]
        if victims:  # only roles allowed victim data get victim rows
            audit.by_staff(
                db, request, staff, "view.victim_caseload", target=",".join(str(r.person_id) for r in victims[:50])
            )
            await db.commit()
    mine = officer.id == staff.user_id
    return render_page(
        request,
        "caseload.html",
        title="My caseload" if mine else f"Caseload of {officer.name}",
        officer=officer,
        mine=mine,
        rows=rows,
        where=where,
        statuses=STATUSES,
        programs=programs,
        tags=tags,
        supervising=supervising,
        officers=sorted(officers, key=lambda item: item[1].lower()),
        caseload_notice=NOTICES.get(query.get("caseload_done", "")),
    )


async def _reassign_scope(
    db: AsyncSession, staff: StaffContext, officer_raw: str | None, case_raw: str | None
) -> tuple[StaffUser, list[Case]]:
    """The officer whose cases move and which: one case (it must be theirs) or all their open cases."""
    require_role(staff, *SUPERVISING)
    if not officer_raw:
        raise web.HTTPBadRequest(text="Say whose caseload.")
    officer = await _staff_member(db, staff, officer_raw)
    query = select(Case).where(Case.service_id == staff.service_id, Case.assigned_staff_id == officer.id)
    # one named case, or the whole open caseload
    query = query.where(Case.id == parse_id(case_raw)) if case_raw else query.where(Case.status == "open")
    cases = list((await db.scalars(query.order_by(Case.external_ref))).all())
    if case_raw and not cases:
        raise not_found()
    return officer, cases


async def _reassign_page(
    request: web.Request,
    staff: StaffContext,
    form: dict[str, str],
    *,
    confirm: bool = False,
    errors: list[str] | None = None,
) -> web.Response:
    async with request.app[keys.SESSIONS]() as db:
        officer, cases = await _reassign_scope(db, staff, form.get("officer"), form.get("case"))
        targets = [u for u in await case_handlers(db, staff.service_id) if u.id != officer.id]
    target = next((u for u in targets if str(u.id) == form.get("staff_id")), None)
    return render_page(
        request,
        "caseload_reassign.html",
        status=400 if errors else 200,
        title="Check and confirm the reassignment" if confirm else "Reassign cases",
        officer=officer,
        cases=cases,
        one=bool(form.get("case")),
        targets=targets,
        target=target,
        form=form,
        confirm=confirm,
        max_reason=MAX_REASON_CHARS,
        errors=errors or [],
    )


@routes.get("/caseload/reassign")
async def reassign_form(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    form = {
        "officer": request.query.get("officer", ""),
        "case": request.query.get("case", ""),
        "staff_id": "",
        "reason": "",
    }
    return await _reassign_page(request, staff, form)


@routes.post("/caseload/reassign")
async def reassign(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    posted = await request.post()
    form = {name: str(posted.get(name, "")).strip() for name in ("officer", "case", "staff_id", "reason", "confirm")}
    async with request.app[keys.SESSIONS]() as db:
        officer, cases = await _reassign_scope(db, staff, form["officer"], form["case"])
        targets = {u.id: u for u in await case_handlers(db, staff.service_id) if u.id != officer.id}
        names = await staff_names(db, staff.service_id)
    target_id = _uuid(form["staff_id"])
    target = targets.get(target_id) if target_id else None
    errors = []
    if target is None:
        errors.append("Choose an active member of staff of this service to take the cases.")
    if not form["reason"]:
        errors.append("Say why the cases are being reassigned: the reason goes on each case record.")
    elif len(form["reason"]) > MAX_REASON_CHARS:
        errors.append(f"The reason can be at most {MAX_REASON_CHARS} characters.")
    if not cases:
        errors.append(f"{officer.name} has no open cases to reassign.")
    if errors:
        return await _reassign_page(request, staff, form, errors=errors)
    assert target is not None
    if form["confirm"] != "yes":
        return await _reassign_page(request, staff, form, confirm=True)
    try:
        moved = await reassign_cases(
            request.app[keys.SESSIONS],
            staff.service_id,
            [c.id for c in cases],
            target,
            staff.actor,
            reason=form["reason"],
            names=names,
        )
    except ReassignError as problem:
        return await _reassign_page(request, staff, form, errors=[str(problem)])
    async with request.app[keys.SESSIONS]() as db:
        for item in moved:
            audit.by_staff(
                db,
                request,
                staff,
                "case.reassign",
                target=str(item.case_id),
                detail={
                    "from_staff_id": str(item.from_staff_id) if item.from_staff_id else None,
                    "to_staff_id": str(target.id),
                    "seq": item.seq,
                    "conversations": item.conversations,
                    "whole_caseload": not form["case"],
                },
            )
        await db.commit()
    log.info("caseload.reassigned", to_staff_id=str(target.id), cases=len(moved), whole=not form["case"])
    raise see_other("/caseload?" + urlencode({"officer": str(officer.id), "caseload_done": "reassigned"}))


def _uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None
