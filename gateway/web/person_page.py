"""The person page, and starting a conversation with them.

* `GET /people/{id}` — name, language, time zone, cases, contact points with their consent state
  (opted out by keyword or not; consent the agency recorded, per channel) and retired numbers kept
  and marked; a "Start a conversation" button; for supervisors and admins a link to merge a
  duplicate into this person. Every view is audited.
* `POST /people/{id}/change-number` — a new mobile number replaces one of theirs
  (`gateway.directory.contacts.change_contact_point`): the old one is kept, marked retired (replies
  from it still reach them), and a "number changed" line goes on each of their case records. A
  number that is not a mobile, or that another person of the service has, is refused and named.
* `POST /people/{id}/conversation` — open the person's conversation (`person:<id>`, the key the
  handler chain files their messages under), creating it if they have none yet, assigned to their
  case handler (else to whoever started it), and go to it.

A person of another service answers 404, and so does a victim for a role that may not see them.
"""

from __future__ import annotations

import uuid

import structlog
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gateway import keys
from gateway.db import Case, CaseParticipant, ContactPoint, Conversation, Person
from gateway.db.write_lock import write_lock
from gateway.directory.contacts import change_contact_point, find_people_by_contact, normalise_contact
from gateway.domain import ContactKind, Role
from gateway.recipients import InvalidRecipient
from gateway.web import audit
from gateway.web.access import not_found, parse_id, signed_in
from gateway.web.person_data import contact_rows, conversation_of, person_cases, visible_person
from gateway.web.render import render_page, see_other

log = structlog.get_logger()
routes = web.RouteTableDef()

PERSON_NOTICES = {
    "added": "The client has been added.",
    "changed": "The number has been changed. The old one is kept, marked retired, and replies from it still arrive.",
    "merged": "The duplicate has been merged into this person: its messages, contact points and cases are here now.",
}


def person_url(person_id: uuid.UUID, done: str | None = None) -> str:
    return f"/people/{person_id}" + (f"?person_done={done}" if done else "")


@routes.get("/people/{person_id}")
async def person_page(request: web.Request) -> web.StreamResponse:
    return await render_person(request, parse_id(request.match_info["person_id"]))


async def render_person(
    request: web.Request, person_id: uuid.UUID, *, errors: list[str] | None = None, form: dict[str, str] | None = None
) -> web.Response:
    """The page; a form that failed (a number change) comes back here with its `errors` and a 400."""
    staff = signed_in(request)
    async with request.app[keys.SESSIONS]() as db:
        person = await visible_person(db, request, staff, person_id)
        contacts = await contact_rows(db, request.app[keys.VAULT], person)
        cases = await person_cases(db, person)
        conversation = await conversation_of(db, person)
        merged_into = await db.get(Person, person.merged_into_id) if person.merged_into_id else None
        await db.commit()
    return render_page(
        request,
        "person.html",
        status=400 if errors else 200,
        title=person.display_name,
        person=person,
        contacts=contacts,
        cases=cases,
        conversation=conversation,
        merged_into=merged_into,
        consent=sorted((person.consent or {}).items()),
        can_merge=staff.has_role(Role.SUPERVISOR, Role.ADMIN) and person.merged_into_id is None,
        person_notice=PERSON_NOTICES.get(request.query.get("person_done", "")),
        change_enabled=True,
        form=form or {},
        errors=errors or [],
    )


@routes.post("/people/{person_id}/conversation")
async def start_conversation(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    person_id = parse_id(request.match_info["person_id"])
    sessions, engine = request.app[keys.SESSIONS], request.app[keys.ENGINE]
    key = f"person:{person_id}"
    for _ in range(2):  # a racing first message can insert the same key: then it is simply opened
        async with write_lock(engine), sessions() as db:
            person = await visible_person(db, request, staff, person_id, view=False)
            conversation = await conversation_of(db, person)
            created = conversation is None
            if conversation is None:
                case = await db.scalar(
                    select(Case)
                    .join(CaseParticipant, CaseParticipant.case_id == Case.id)
                    .where(Case.service_id == staff.service_id, CaseParticipant.person_id == person.id)
                    .order_by(Case.status.desc(), Case.created_at.desc())
                    .limit(1)
                )
                handler = case.assigned_staff_id if case is not None and case.assigned_staff_id else staff.user_id
                conversation = Conversation(
                    service_id=staff.service_id,
                    key=key,
                    person_id=person.id,
                    case_id=case.id if case is not None else None,
                    assigned_staff_id=handler,
                    state="claimed",
                )
                db.add(conversation)
            try:
                await db.flush()
            except IntegrityError:
                await db.rollback()
                continue
            audit.by_staff(
                db,
                request,
                staff,
                "conversation.start" if created else "conversation.open",
                target=str(conversation.id),
                detail={"person_id": str(person.id)},
            )
            await db.commit()
            log.info("conversation.started", conversation_id=str(conversation.id), created=created)
            raise see_other(f"/conversations/{conversation.id}")
    raise web.HTTPConflict()


@routes.post("/people/{person_id}/change-number")
async def change_number(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    person_id = parse_id(request.match_info["person_id"])
    posted = await request.post()
    form = {name: str(posted.get(name, "")).strip() for name in ("contact_id", "new_phone")}
    app = request.app
    vault = app[keys.VAULT]
    try:
        new_phone = normalise_contact(ContactKind.PHONE, form["new_phone"], app[keys.SETTINGS].default_region)
    except InvalidRecipient as problem:
        return await render_person(request, person_id, errors=[f"New mobile number: {problem}"], form=form)
    async with app[keys.SESSIONS]() as db:
        person = await visible_person(db, request, staff, person_id, view=False)
        old = await db.scalar(
            select(ContactPoint).where(
                ContactPoint.id == parse_id(form["contact_id"]),
                ContactPoint.person_id == person.id,
                ContactPoint.service_id == staff.service_id,
                ContactPoint.kind == ContactKind.PHONE.value,
                ContactPoint.retired_at.is_(None),
            )
        )
        if old is None or person.merged_into_id is not None:
            raise not_found()
        others = [
            p
            for p in await find_people_by_contact(db, vault, staff.service_id, ContactKind.PHONE, new_phone)
            if p.id != person.id
        ]
    if others:  # never silently give one person's number to another
        return await render_person(
            request, person_id, errors=["That number belongs to someone else in this service."], form=form
        )
    async with app[keys.SESSIONS]() as db:
        person = await visible_person(db, request, staff, person_id, view=False)
        old = await db.get(ContactPoint, old.id)
        assert old is not None
        new = await change_contact_point(db, vault, person, old, new_phone, staff.actor)
        audit.by_staff(
            db,
            request,
            staff,
            "contact.change",
            target=str(person.id),
            detail={"retired": str(old.id), "added": str(new.id)},
        )
        await db.commit()
    log.info("person.number_changed", person_id=str(person.id), retired=str(old.id), added=str(new.id))
    raise see_other(person_url(person.id, "changed"))
