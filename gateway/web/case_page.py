"""The case pages: `/cases` (the service's cases, searchable by reference) and `/cases/{ref}`.

A case page shows the record timeline (newest first, filterable by kind and date), the
participants and the case handler, with forms to transfer the case to another member of staff
(with a reason, which goes on the record, and a confirmation page naming the case, from whom and
to whom) and to add a note. Both are appended to the hash-chained record. A case with a victim on it moves
its victims' conversations along, so it can be transferred only to staff allowed victim data
(`transfer_targets`). Victim participants are named
only to staff allowed victim data (`can_see_victim_data`), and every such view is audited.
A reference of another service answers 404, the same as one that does not exist.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

import structlog
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import keys
from gateway.db import Case, StaffUser
from gateway.directory.reassign import MAX_REASON_CHARS
from gateway.domain import RecordKind, Role
from gateway.record_words import RecordReader
from gateway.web import audit
from gateway.web.access import audit_view, can_see_victim_data, not_found, parse_id, signed_in
from gateway.web.appointment_data import case_appointments
from gateway.web.case_data import (
    TimelineFilter,
    add_note,
    case_handlers,
    client_of,
    find_case,
    has_victims,
    list_cases,
    participants,
    staff_names,
    timeline,
    transfer,
)
from gateway.web.context import StaffContext
from gateway.web.letters_data import POSTAGE_LABELS, case_letters
from gateway.web.render import render_page, see_other

log = structlog.get_logger()
routes = web.RouteTableDef()

MAX_NOTE_CHARS = 4000
NO_REASON = "Say why you are transferring the case: the reason goes on the case record."
KINDS = [kind.value for kind in RecordKind]
KIND_WORDS = {
    "outbound": "Sent",
    "status": "Delivery",
    "inbound": "Reply",
    "handler": "Routing",
    "note": "Note",
    "export": "Export",
    "assignment": "Assignment",
    "details": "Details changed",
    "merge": "Merge",
    "consent": "Consent",
    "contact": "Contact linked",
    "appointment": "Appointment",
}
CASE_NOTICES = {
    "transferred": "The case has been transferred.",
    "noted": "Your note has been added to the record.",
    "appointment_added": "The appointment has been added.",
    "appointment_changed": "The appointment has been changed.",
    "appointment_unchanged": "Nothing was changed: the appointment is as it was.",
    "appointment_moved": "The appointment has been moved to its new time.",
    "appointment_cancelled": "The appointment has been cancelled.",
    "appointment_attended": "The appointment has been marked attended.",
    "appointment_missed": "The appointment has been marked missed.",
}


def case_url(ref: str, done: str | None = None) -> str:
    url = f"/cases/{quote(ref, safe='')}"
    return f"{url}?case_done={done}" if done else url


async def load_case(db: AsyncSession, staff: StaffContext, ref: str) -> Case:
    case = await find_case(db, staff.service_id, ref)
    if case is None:
        raise not_found()
    return case


async def transfer_targets(db: AsyncSession, staff: StaffContext, case: Case) -> list[StaffUser]:
    """Who the case may go to: its service's case handlers; only those allowed victim data when a
    victim takes part (a transfer takes the victim's conversation along)."""
    handlers = [u for u in await case_handlers(db, staff.service_id) if u.id != case.assigned_staff_id]
    if await has_victims(db, case.id):
        handlers = [u for u in handlers if can_see_victim_data(u, staff.service)]
    return handlers


VICTIM_TRANSFER = (
    "A victim takes part in this case, so it can be transferred only to a victim advocate, supervisor or admin."
)


def parse_day(raw: str, label: str, problems: list[str]) -> date | None:
    """A date filter; a value that is not a date adds a problem (shown, with a 400) and filters nothing."""
    raw = raw.strip()
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        problems.append(f"The {label} date must be a date such as 2026-01-31.")
        return None


@routes.get("/cases")
async def case_list(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    search = request.query.get("q", "").strip()[:128]
    async with request.app[keys.SESSIONS]() as db:
        cases = await list_cases(db, staff.service_id, search)
        handlers = {u.id: u.name for u in await case_handlers(db, staff.service_id)}
    return render_page(request, "cases.html", title="Cases", cases=cases, search=search, handlers=handlers)


@routes.get("/cases/{ref}")
async def case_detail(request: web.Request) -> web.StreamResponse:
    return await case_detail_page(request)


async def case_detail_page(request: web.Request, errors: list[str] | None = None) -> web.Response:
    """The case page; a form that failed comes back here with its `errors` (and a 400)."""
    staff = signed_in(request)
    query = request.query
    kind = query.get("kind", "")
    errors = list(errors or [])
    where = TimelineFilter(
        kind if kind in KINDS else None,
        parse_day(query.get("from", ""), "from", errors),
        parse_day(query.get("to", ""), "to", errors),
        staff.service.timezone,
        hide_victims=not can_see_victim_data(staff, staff.service),
    )
    show_victims = not where.hide_victims
    async with request.app[keys.SESSIONS]() as db:
        case = await load_case(db, staff, request.match_info["ref"])
        people = await participants(db, request.app[keys.VAULT], case.id, show_victims=show_victims)
        for person in people:
            if person.role == "victim" and show_victims:
                audit_view(db, request, staff, "victim_participant", str(person.person_id))
        entries = await timeline(db, case, where)
        letters = await case_letters(db, request.app[keys.VAULT], staff, case.id)
        appointments = await case_appointments(db, request, staff, case.id)
        staff_list = await case_handlers(db, staff.service_id)
        targets = await transfer_targets(db, staff, case)
        reader = await RecordReader.load(
            db,
            request.app[keys.VAULT],
            staff.service_id,
            entries,
            client_id=await client_of(db, case.id),
            with_text=False,
        )
        await db.commit()
    names = {f"staff:{u.id}": u.name for u in staff_list}
    handler = next((u for u in staff_list if u.id == case.assigned_staff_id), None)
    return render_page(
        request,
        "case.html",
        status=400 if errors else 200,
        title=f"Case {case.external_ref}",
        case=case,
        case_url=case_url(case.external_ref),
        case_notice=CASE_NOTICES.get(query.get("case_done", "")),
        participants=people,
        entries=[(e, reader.line(e)) for e in entries],
        actor_names=names,
        handler=handler,
        letters=letters,
        appointments=appointments,
        postage_labels=POSTAGE_LABELS,
        transfer_to=targets,
        kinds=KINDS,
        filter_kind=where.kind or "",
        filter_from=where.since.isoformat() if where.since else "",
        filter_to=where.until.isoformat() if where.until else "",
        kind_words=KIND_WORDS,
        errors=errors or [],
    )


@routes.post("/cases/{ref}/transfer")
async def case_transfer(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    form = await request.post()
    raw = form.get("staff_id")
    async with request.app[keys.SESSIONS]() as db:
        case = await load_case(db, staff, request.match_info["ref"])
        # Moving a caseload is the case handler's call, or a supervisor's or admin's.
        if case.assigned_staff_id != staff.user_id and not staff.has_role(Role.SUPERVISOR, Role.ADMIN):
            raise web.HTTPForbidden()
        target_id = parse_id(raw) if isinstance(raw, str) else None
        target = next((u for u in await transfer_targets(db, staff, case) if u.id == target_id), None)
        handler = next((u for u in await case_handlers(db, staff.service_id) if u.id == target_id), None)
        names = await staff_names(db, staff.service_id)
    if target is None:
        problem = "Choose a member of staff of this service to transfer the case to."
        if handler is not None and handler.id != case.assigned_staff_id:
            problem = VICTIM_TRANSFER
            log.warning("case.transfer_refused", case_id=str(case.id), reason="victim access")
        return await case_detail_page(request, errors=[problem])
    raw_reason = form.get("reason")
    reason = raw_reason.strip() if isinstance(raw_reason, str) else ""
    if not reason:
        return await case_detail_page(request, errors=[NO_REASON])
    if len(reason) > MAX_REASON_CHARS:
        return await case_detail_page(request, errors=[f"The reason can be at most {MAX_REASON_CHARS} characters."])
    if form.get("confirm") != str(target.id):  # a confirmation naming the case, from whom, to whom and why
        current = names.get(case.assigned_staff_id) if case.assigned_staff_id else None
        return render_page(
            request,
            "case_transfer_confirm.html",
            title=f"Transfer case {case.external_ref}?",
            case=case,
            case_url=case_url(case.external_ref),
            from_name=current or "nobody",
            target=target,
            reason=reason,
        )
    seq, moved = await transfer(request.app[keys.SESSIONS], case, target, staff.actor, names, reason=reason)
    async with request.app[keys.SESSIONS]() as db:
        audit.by_staff(
            db,
            request,
            staff,
            "case.transfer",
            target=str(case.id),
            detail={"to_staff_id": str(target.id), "seq": seq, "conversations": moved, "reason_given": True},
        )
        await db.commit()
    log.info("case.transferred", case_id=str(case.id), to_staff_id=str(target.id), conversations=moved)
    raise see_other(case_url(case.external_ref, "transferred"))


@routes.post("/cases/{ref}/notes")
async def case_note(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    form = await request.post()
    raw = form.get("note")
    text = raw.strip() if isinstance(raw, str) else ""
    async with request.app[keys.SESSIONS]() as db:
        case = await load_case(db, staff, request.match_info["ref"])
    if not text:
        return await case_detail_page(request, errors=["Write the note before adding it."])
    if len(text) > MAX_NOTE_CHARS:
        return await case_detail_page(request, errors=[f"A note can be at most {MAX_NOTE_CHARS} characters."])
    seq = await add_note(request.app[keys.SESSIONS], case.id, staff.actor, text)
    log.info("case.note_added", case_id=str(case.id), seq=seq)
    raise see_other(case_url(case.external_ref, "noted"))
