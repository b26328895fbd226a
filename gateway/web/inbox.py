"""The inbox: conversations of the staff member's service, and claiming and linking them.

* `GET /inbox?tab=mine|unclaimed|all&q=...` — the list, newest first, with unread counts.
* `GET /inbox/list?...` — the same list alone (no layout), which the live script swaps in when an
  event says something changed; message bodies never travel through the live hub.
* `POST /conversations/{id}/claim` — assign an unclaimed conversation to oneself.
* `POST /conversations/{id}/link` — say which person of the service an unknown sender is: their
  number becomes one of that person's contact points (so later messages are matched), and the
  conversation joins the person's own one if they already have it.

Linking decides who gets the person's texts and who staff's replies go to, so it follows the victim
rule (`gateway.victim_access`): the "This sender is" list offers only people the member of staff may
see, and a link to a victim needs a role allowed victim data (anyone else gets 404, as for any
person they may not see). Every link needs a confirmation naming the person (`confirm_person` = their
id): a POST without it answers with a page that asks (200; 400 for a victim, whose link must never
be made by a form that skipped the question). Every link is written to the case record of
each of the person's open cases (kind `contact`) and to the audit log.
"""

from __future__ import annotations

import uuid

import structlog
from aiohttp import web
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import keys
from gateway.conversations.reads import forget_reads
from gateway.db import Case, CaseParticipant, ContactPoint, Conversation, InboundMessage, Person
from gateway.db.write_lock import write_lock
from gateway.domain import CaseStatus, Channel, ContactKind, RecordKind
from gateway.record import append_in_session
from gateway.victim_access import is_victim
from gateway.web import audit
from gateway.web.access import audit_view, can_see_victim_data, not_found, parse_id, signed_in
from gateway.web.context import StaffContext
from gateway.web.conversation_data import TABS, get_conversation, is_victim_conversation, list_conversations
from gateway.web.render import render_page, see_other

log = structlog.get_logger()
routes = web.RouteTableDef()

CONTACT_KIND = {Channel.SMS.value: ContactKind.PHONE.value, Channel.EMAIL.value: ContactKind.EMAIL.value}
CHANNEL_WORDS = {Channel.SMS.value: "text message", Channel.EMAIL.value: "email"}


async def _rows(request: web.Request) -> tuple[str, str, list[object]]:
    staff = signed_in(request)
    tab = request.query.get("tab", "all")
    tab = tab if tab in TABS else "all"
    query = request.query.get("q", "")[:200]
    app = request.app
    async with app[keys.SESSIONS]() as db:
        rows = await list_conversations(
            db, app[keys.VAULT], staff, tab=tab, query=query, region=app[keys.SETTINGS].default_region
        )
        victims = [row for row in rows if row.victim]
        if victims:  # only roles allowed victim data get this far with victim rows in the list
            audit_view(db, request, staff, "victim_conversations", ",".join(str(r.id) for r in victims[:50]))
            await db.commit()
    return tab, query, list(rows)


@routes.get("/inbox")
async def inbox(request: web.Request) -> web.StreamResponse:
    tab, query, rows = await _rows(request)
    return render_page(request, "inbox.html", title="Inbox", tab=tab, tabs=TABS, query=query, rows=rows)


@routes.get("/inbox/list")
async def inbox_list(request: web.Request) -> web.StreamResponse:
    tab, query, rows = await _rows(request)
    return render_page(request, "_inbox_list.html", title="Inbox", tab=tab, query=query, rows=rows)


async def _own_conversation(request: web.Request) -> tuple[uuid.UUID, Conversation]:
    staff = signed_in(request)
    conversation_id = parse_id(request.match_info["conversation_id"])
    async with request.app[keys.SESSIONS]() as db:
        conversation = await get_conversation(db, staff, conversation_id)
        if conversation is None or (await is_victim_conversation(db, staff, conversation) and not _victim_ok(request)):
            raise not_found()
    return conversation_id, conversation


def _victim_ok(request: web.Request) -> bool:
    staff = signed_in(request)
    return can_see_victim_data(staff, staff.service)


@routes.post("/conversations/{conversation_id}/claim")
async def claim(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    conversation_id, _ = await _own_conversation(request)
    engine = request.app[keys.ENGINE]
    async with write_lock(engine), request.app[keys.SESSIONS]() as db:
        claimed = await db.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id, Conversation.state == "unclaimed")
            .values(assigned_staff_id=staff.user_id, state="claimed")
        )
        audit.by_staff(
            db,
            request,
            staff,
            "conversation.claim",
            target=str(conversation_id),
            outcome="ok" if claimed.rowcount else "already_claimed",  # type: ignore[attr-defined]
        )
        await db.commit()
    log.info("conversation.claimed", conversation_id=str(conversation_id), claimed=bool(claimed.rowcount))  # type: ignore[attr-defined]
    raise see_other(f"/conversations/{conversation_id}")


@routes.post("/conversations/{conversation_id}/link")
async def link(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    conversation_id, conversation = await _own_conversation(request)
    form = await request.post()
    raw = form.get("person_id")
    person_id = parse_id(raw) if isinstance(raw, str) else None
    if person_id is None or conversation.person_id is not None or conversation.last_inbound_id is None:
        raise web.HTTPBadRequest()
    engine, key = request.app[keys.ENGINE], f"person:{person_id}"
    async with write_lock(engine), request.app[keys.SESSIONS]() as db:
        person = await db.scalar(select(Person).where(Person.id == person_id, Person.service_id == staff.service_id))
        last = await db.get(InboundMessage, conversation.last_inbound_id)
        if person is None or last is None:
            raise not_found()
        victim = await is_victim(db, staff.service_id, person_id)
        if victim and not _victim_ok(request):
            log.warning("conversation.link_refused", conversation_id=str(conversation_id), reason="victim access")
            raise not_found()  # the same as a person who does not exist: an officer must not learn who is a victim
        if form.get("confirm_person") != str(person_id):  # every link is confirmed, naming the person
            cases = await _open_case_refs(db, staff, person_id)
            return render_page(
                request,
                "link_confirm.html",
                status=400 if victim else 200,
                victim=victim,
                title="Confirm the link",
                conversation=conversation,
                person=person,
                case_refs=cases,
                channel=CHANNEL_WORDS.get(last.channel, "messages"),
                errors=[f"Confirm that this sender is {person.display_name} before linking them."] if victim else [],
            )
        target = await db.scalar(
            select(Conversation).where(Conversation.service_id == staff.service_id, Conversation.key == key)
        )
        if not await _has_contact(db, staff.service_id, person_id, last):
            db.add(
                ContactPoint(
                    service_id=staff.service_id,
                    person_id=person_id,
                    kind=CONTACT_KIND.get(last.channel, ContactKind.PHONE.value),
                    value_enc=last.sender_enc,
                    value_index=last.sender_index,
                    label="linked from inbox",
                )
            )
        if target is None:  # the sender's conversation becomes the person's
            await db.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id)
                .values(person_id=person_id, key=key, channel=None, sender_index=None)
            )
            target_id = conversation_id
        else:  # the person already has one: the sender's messages join it
            await db.execute(
                update(InboundMessage)
                .where(InboundMessage.conversation_id == conversation_id)
                .values(conversation_id=target.id, person_id=person_id)
            )
            await db.execute(
                update(Conversation)
                .where(Conversation.id == target.id)
                .values(unread_count=Conversation.unread_count + conversation.unread_count)
            )
            await forget_reads(db, conversation_id)
            await db.delete(await db.get(Conversation, conversation_id))
            target_id = target.id
        detail = {"person_id": str(person_id), "from_conversation": str(conversation_id), "victim": victim}
        cases = await _record_link(db, staff, person, CHANNEL_WORDS.get(last.channel, "messages"), target_id, detail)
        audit.by_staff(
            db, request, staff, "conversation.link", target=str(target_id), detail={**detail, "cases": cases}
        )
        await db.commit()
    log.info("conversation.linked", conversation_id=str(target_id), person_id=str(person_id), cases=len(cases))
    raise see_other(f"/conversations/{target_id}")


async def _open_cases(db: AsyncSession, staff: StaffContext, person_id: uuid.UUID) -> list[Case]:
    return list(
        (
            await db.scalars(
                select(Case)
                .join(CaseParticipant, CaseParticipant.case_id == Case.id)
                .where(
                    Case.service_id == staff.service_id,
                    CaseParticipant.person_id == person_id,
                    Case.status == CaseStatus.OPEN.value,
                )
                .order_by(Case.id)
            )
        )
        .unique()
        .all()
    )


async def _open_case_refs(db: AsyncSession, staff: StaffContext, person_id: uuid.UUID) -> list[str]:
    return sorted({case.external_ref for case in await _open_cases(db, staff, person_id)})


async def _record_link(
    db: AsyncSession,
    staff: StaffContext,
    person: Person,
    channel: str,
    conversation_id: uuid.UUID,
    detail: dict[str, object],
) -> list[str]:
    """A `contact` entry in the record of each of the person's open cases, in the link's transaction."""
    cases = await _open_cases(db, staff, person.id)
    ids = [case.id for case in cases]
    if ids and (await db.connection()).dialect.name != "sqlite":  # SQLite: the write lock serialises
        await db.execute(select(Case.id).where(Case.id.in_(ids)).order_by(Case.id).with_for_update())
    for case_id in ids:
        await append_in_session(
            db,
            case_id,
            RecordKind.CONTACT,
            staff.actor,
            f"Staff linked an unknown sender's {channel}s to {person.display_name}: their messages join "
            "this person's conversation and replies go to that sender",
            {**detail, "conversation_id": str(conversation_id)},
        )
    return [str(case_id) for case_id in ids]


async def _has_contact(db: AsyncSession, service_id: uuid.UUID, person_id: uuid.UUID, last: InboundMessage) -> bool:
    found = await db.scalar(
        select(ContactPoint.id).where(
            ContactPoint.service_id == service_id,
            ContactPoint.person_id == person_id,
            ContactPoint.value_index == last.sender_index,
        )
    )
    return found is not None
