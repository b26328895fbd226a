"""The victim services unit's pages: registrations, intake, each victim's timeline, edit, unregister,
the outstanding acknowledgments, and what staff record (a letter received, a phone call, a statement).

Every page checks the viewer may see victim data — a victim-services service, a victim advocate,
supervisor or admin (`gateway.victim_access`) — and audits the view in the same transaction
(`open_victim_data`); anyone else gets 404, the answer for a page that does not exist. Forms carry
the CSRF token (the middleware refuses a POST without it). Objects are read by id within the unit
only: another unit's id is a 404 too.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import keys
from gateway.api.victims import registration_view
from gateway.csv_safe import write_csv
from gateway.db import Person, VictimRegistration
from gateway.db.write_lock import write_lock
from gateway.directory.fields import LANGUAGES, FieldErrors
from gateway.victims.acknowledge import acknowledge
from gateway.victims.fanout import dispatch
from gateway.victims.kinds import ALL, GROUPS
from gateway.victims.links import followed
from gateway.victims.registrations import MAX_CASES, upsert_registration
from gateway.victims.statements import record_received
from gateway.victims.unregister import unregister
from gateway.victims.views import (
    CHANNEL_WORDS,
    KIND_WORDS,
    STATE_WORDS,
    notice_person,
    notices_of,
    registrations,
    statements_of,
)
from gateway.web import audit
from gateway.web.access import open_victim_data, parse_id, signed_in
from gateway.web.context import StaffContext
from gateway.web.render import render_page, see_other
from gateway.web.victims_form import LABELS, add_case_row, empty_form, from_view, problems, read_form, to_body

routes = web.RouteTableDef()
LANGUAGE_NAMES = {"en": "English", "es": "Spanish"}
WORDS = {"kinds": KIND_WORDS, "states": STATE_WORDS, "channels": CHANNEL_WORDS}


async def _person(db: AsyncSession, staff: StaffContext, raw: str) -> tuple[Person, VictimRegistration]:
    person_id = parse_id(raw)
    found = (
        await db.execute(
            select(Person, VictimRegistration)
            .join(VictimRegistration, VictimRegistration.person_id == Person.id)
            .where(Person.id == person_id, VictimRegistration.service_id == staff.service_id)
        )
    ).first()
    if found is None:
        raise web.HTTPNotFound()
    return found[0], found[1]


async def _open(
    db: AsyncSession, request: web.Request, staff: StaffContext, what: str
) -> tuple[Person, VictimRegistration, dict[str, Any]]:
    """The victim of the URL, checked and audited as `what` (404 for anyone else): person, registration,
    and the registration as the API shows it."""
    open_victim_data(db, request, staff, what, request.match_info["person_id"])
    person, reg = await _person(db, staff, request.match_info["person_id"])
    view = await registration_view(db, request.app[keys.VAULT], staff.service_id, person.external_id or "")
    return person, reg, view


@routes.get("/victims")
async def list_page(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    async with request.app[keys.SESSIONS]() as db:
        open_victim_data(db, request, staff, "victim_registrations", str(staff.service_id))
        rows = await registrations(db, staff.service_id)
        await db.commit()
    return render_page(request, "victims.html", title="Victims", rows=rows, words=WORDS)


@routes.get("/victims/outstanding")
async def outstanding_page(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    async with request.app[keys.SESSIONS]() as db:
        open_victim_data(db, request, staff, "victim_outstanding", str(staff.service_id))
        notices = await notices_of(db, staff.service_id, outstanding=True)
        people = {
            n.id: await notice_person(db, staff.service_id, n.id) for n in notices
        }  # the page links each notice to its victim
        await db.commit()
    return render_page(
        request,
        "victims_outstanding.html",
        title="Outstanding acknowledgments",
        notices=notices,
        people=people,
        words=WORDS,
    )


async def _form_page(
    request: web.Request,
    db: AsyncSession,
    staff: StaffContext,
    form: dict[str, Any],
    *,
    action: str,
    title: str,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    services = await followed(db, staff.service_id)
    shown = errors or {}
    return render_page(
        request,
        "victim_form.html",
        status=status,
        title=title,
        action=action,
        form=form,
        problems=shown,
        errors=list(shown.values()),
        labels=LABELS,
        languages=[(code, LANGUAGE_NAMES.get(code, code)) for code in LANGUAGES],
        channel_options=["sms", "email", "voice", "letter"],
        event_options=[ALL, *GROUPS],
        services=services,
        max_cases=MAX_CASES,
        words=WORDS,
    )


@routes.get("/victims/export.csv")
async def export(request: web.Request) -> web.StreamResponse:
    """The unit's registrations as CSV (names, ids, cases, channels, state; no contact values): victim
    roles only, and the export itself is audited as a view."""
    staff = signed_in(request)
    async with request.app[keys.SESSIONS]() as db:
        open_victim_data(db, request, staff, "victim_export", str(staff.service_id))
        rows = await registrations(db, staff.service_id)
        await db.commit()
    body = write_csv(
        ("name", "agency id", "status", "address confidential", "channels", "cases followed", "waiting"),
        (
            (r.name, r.external_id or "", r.status, "yes" if r.confidential else "no", " ".join(r.channels),
             "; ".join(r.cases), r.outstanding)
            for r in rows
        ),
    )  # fmt: skip
    return web.Response(
        text=body,
        content_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="victims.csv"', "Cache-Control": "no-store"},
    )


@routes.get("/victims/new")
async def new_page(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    async with request.app[keys.SESSIONS]() as db:
        open_victim_data(db, request, staff, "victim_intake", str(staff.service_id))
        page = await _form_page(request, db, staff, empty_form(), action="/victims/new", title="Register a victim")
        await db.commit()
    return page


async def _save(
    request: web.Request, staff: StaffContext, form: dict[str, Any], action: str, title: str
) -> web.StreamResponse:
    app = request.app
    if form.pop("add_case", False):  # "Add another case": the same form back with one more row, nothing saved
        async with app[keys.SESSIONS]() as db:
            open_victim_data(db, request, staff, "victim_registration_form", form["external_id"] or "new")
            added = add_case_row(form)
            page = await _form_page(
                request,
                db,
                staff,
                form,
                action=action,
                title=title,
                errors=None if added else {"cases": f"A registration follows at most {MAX_CASES} cases."},
            )
            await db.commit()
        return page
    external_id = form["external_id"] or f"VSU-{uuid.uuid4().hex[:10].upper()}"
    async with write_lock(app[keys.ENGINE]), app[keys.SESSIONS]() as db:
        open_victim_data(db, request, staff, "victim_registration_form", external_id)
        try:
            _, person, changed = await upsert_registration(
                db,
                app[keys.VAULT],
                staff.service_id,
                external_id,
                to_body(form),
                staff.actor,
                region=app[keys.SETTINGS].default_region,
            )
        except FieldErrors as exc:
            await db.rollback()
            async with app[keys.SESSIONS]() as fresh:
                open_victim_data(fresh, request, staff, "victim_registration_form", external_id)
                page = await _form_page(
                    request, fresh, staff, form, action=action, title=title, errors=problems(exc.errors), status=400
                )
                await fresh.commit()
            return page
        audit.by_staff(db, request, staff, "victim.register", target=str(person.id), detail={"fields": changed})
        await db.commit()
    raise see_other(f"/victims/{person.id}")


@routes.post("/victims/new")
async def new_submit(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    return await _save(request, staff, read_form(await request.post()), "/victims/new", "Register a victim")


@routes.get("/victims/{person_id}")
async def victim_page(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    async with request.app[keys.SESSIONS]() as db:
        person, reg, view = await _open(db, request, staff, "victim")
        notices = await notices_of(db, staff.service_id, registration_id=reg.id)
        statements = await statements_of(db, staff.service_id, reg.id)
        await db.commit()
    return render_page(
        request,
        "victim.html",
        title=person.display_name,
        person=person,
        reg=reg,
        view=view,
        notices=notices,
        statements=statements,
        words=WORDS,
    )


@routes.get("/victims/{person_id}/edit")
async def edit_page(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    async with request.app[keys.SESSIONS]() as db:
        person, _, view = await _open(db, request, staff, "victim_edit")
        page = await _form_page(
            request,
            db,
            staff,
            from_view(view),
            action=f"/victims/{person.id}/edit",
            title=f"Edit {person.display_name}",
        )
        await db.commit()
    return page


@routes.post("/victims/{person_id}/edit")
async def edit_submit(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    async with request.app[keys.SESSIONS]() as db:
        person, _ = await _person(db, staff, request.match_info["person_id"])
    form = read_form(await request.post())
    form["external_id"] = person.external_id or ""  # the agency's id never changes here
    return await _save(request, staff, form, f"/victims/{person.id}/edit", f"Edit {person.display_name}")


@routes.get("/victims/{person_id}/unregister")
async def unregister_page(request: web.Request) -> web.StreamResponse:
    """The confirmation before unregistering: whom, what they will stop hearing about, and that they are told."""
    staff = signed_in(request)
    async with request.app[keys.SESSIONS]() as db:
        person, reg, view = await _open(db, request, staff, "victim_unregister")
        await db.commit()
    if reg.status != "active":
        raise see_other(f"/victims/{person.id}")
    return render_page(
        request,
        "victim_unregister_confirm.html",
        title=f"Unregister {person.display_name}?",
        person=person,
        cases=view["cases"],
        action=f"/victims/{person.id}/unregister",
        back=f"/victims/{person.id}",
    )


@routes.post("/victims/{person_id}/unregister")
async def unregister_submit(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    app = request.app
    ctx = app[keys.JOB_CONTEXT]
    async with write_lock(app[keys.ENGINE]), app[keys.SESSIONS]() as db:
        open_victim_data(db, request, staff, "victim_unregister", request.match_info["person_id"])
        person, reg = await _person(db, staff, request.match_info["person_id"])
        changed, out = await unregister(db, ctx, reg, person, staff.actor)
        audit.by_staff(
            db, request, staff, "victim.unregister", target=str(person.id), outcome="ok" if changed else "already"
        )
        await db.commit()
    if out is not None:
        await dispatch(ctx, out)
    raise see_other(f"/victims/{person.id}")


@routes.post("/victims/notices/{notice_id}/acknowledge")
async def staff_acknowledge(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    app = request.app
    posted = await request.post()
    via = str(posted.get("via", ""))
    if via not in ("staff-letter", "staff-phone"):
        raise web.HTTPBadRequest()
    notice_id = parse_id(request.match_info["notice_id"])
    async with write_lock(app[keys.ENGINE]), app[keys.SESSIONS]() as db:
        open_victim_data(db, request, staff, "victim_notice_acknowledge", str(notice_id))
        person_id = await notice_person(db, staff.service_id, notice_id)
        if person_id is None:
            raise web.HTTPNotFound()
        done = await acknowledge(
            db, notice_id, via=via, by=staff.actor, now=app[keys.CLOCK].now(), service_id=staff.service_id
        )
        audit.by_staff(
            db, request, staff, "victim.acknowledge", target=str(notice_id), outcome="ok" if done else "already"
        )
        await db.commit()
    raise see_other(f"/victims/{person_id}")


@routes.post("/victims/statements/{statement_id}/received")
async def statement_received(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    app = request.app
    try:
        statement_id = int(request.match_info["statement_id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    person_id = request.query.get("person", "")
    async with write_lock(app[keys.ENGINE]), app[keys.SESSIONS]() as db:
        open_victim_data(db, request, staff, "victim_statement", str(statement_id))
        person, _ = await _person(db, staff, person_id)
        done = await record_received(db, staff.service_id, statement_id, staff.actor, app[keys.CLOCK].now())
        audit.by_staff(
            db,
            request,
            staff,
            "victim.statement_received",
            target=str(statement_id),
            outcome="ok" if done else "already",
        )
        await db.commit()
    raise see_other(f"/victims/{person.id}")
