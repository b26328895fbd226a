"""The people and caseload pages over HTTP on SQLite and PostgreSQL.

The caseload (search, filters, unread counts, supervisors' view), reassigning one case or a whole
caseload (record entries and audit rows), the person page (contact points, consent, retired
numbers), starting a conversation, merging a duplicate, and the rules on every one of them: the
service boundary (404), roles (403), victims (404 unless allowed) and CSRF (403).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.db import (
    Case,
    CaseParticipant,
    ConsentEvent,
    ContactPoint,
    Conversation,
    InboundMessage,
    OpenQuestion,
    OptOut,
    Person,
    RecordEntry,
)
from gateway.record import verify_chain
from tests.factories import ServiceUnderTest, make_service
from tests.web.cases import add_participant, make_case, set_service_kind, unique_phone
from tests.web.chat import add_conversation
from tests.web.conftest import StaffFactory
from tests.web.staff import audit_rows, csrf_from, sign_in

Client = Any


async def _record(sessions: async_sessionmaker[AsyncSession], case_id: uuid.UUID) -> list[RecordEntry]:
    async with sessions() as db:
        query = select(RecordEntry).where(RecordEntry.case_id == case_id).order_by(RecordEntry.seq)
        return list((await db.scalars(query)).all())


async def _tag(sessions: async_sessionmaker[AsyncSession], case_id: uuid.UUID, **values: object) -> None:
    async with sessions() as db:
        await db.execute(update(Case).where(Case.id == case_id).values(**values))
        await db.commit()


# --- caseload ----------------------------------------------------------------------------------


async def test_caseload_lists_my_clients_with_unread_and_open_items_and_searches(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    officer = await staff_factory(service.id)
    colleague = await staff_factory(service.id, name="Carl Colleague")
    mine = await make_case(sessions, vault, service.id, name="Jordan Rivera", assigned=officer.id)
    other = await make_case(sessions, vault, service.id, name="Morgan Lee", assigned=officer.id)
    theirs = await make_case(sessions, vault, service.id, name="Sam Theirs", assigned=colleague.id)
    await _tag(sessions, other.case_id, program="Reentry", tags=["high-risk"], status="open")
    await add_conversation(sessions, vault, service.id, mine.phone, "Running late", person_id=mine.person_id)
    async with sessions() as db:
        db.add(OpenQuestion(service_id=service.id, person_id=mine.person_id, kind="appointment", state="open"))
        await db.commit()
    await sign_in(client, officer)

    page = await client.get("/caseload")
    text = await page.text()
    assert page.status == 200 and "<h1>My caseload</h1>" in text
    assert "Jordan Rivera" in text and "Morgan Lee" in text and "Sam Theirs" not in text
    assert mine.ref in text and mine.phone not in text  # numbers are not listed
    row = text[text.index(f'data-person-id="{mine.person_id}"') :]
    row = row[: row.index("</tr>")]
    assert '>1<span class="visually-hidden"> unread' in row and '<td data-testid="open-items">1</td>' in row
    assert text.index("Jordan Rivera") < text.index("Morgan Lee")  # unread first

    # search by name, by reference in any case, by phone number (any format), and filters
    found = await (await client.get("/caseload", params={"q": "morgan"})).text()
    assert "Morgan Lee" in found and "Jordan Rivera" not in found
    found = await (await client.get("/caseload", params={"q": mine.ref.lower()})).text()
    assert "Jordan Rivera" in found and "Morgan Lee" not in found
    national = f"({mine.phone[2:5]}) {mine.phone[5:8]}-{mine.phone[8:]}"
    found = await (await client.get("/caseload", params={"q": national})).text()
    assert "Jordan Rivera" in found and "Morgan Lee" not in found
    found = await (await client.get("/caseload", params={"program": "Reentry"})).text()
    assert "Morgan Lee" in found and "Jordan Rivera" not in found
    found = await (await client.get("/caseload", params={"tag": "high-risk"})).text()
    assert "Morgan Lee" in found and "Jordan Rivera" not in found
    await _tag(sessions, mine.case_id, status="closed")
    assert "Jordan Rivera" not in await (await client.get("/caseload")).text()
    assert "Jordan Rivera" in await (await client.get("/caseload", params={"status": "closed"})).text()

    # an officer may not look at a colleague's caseload, nor reassign
    assert (await client.get("/caseload", params={"officer": str(colleague.id)})).status == 403
    assert (await client.get("/caseload/reassign", params={"officer": str(officer.id)})).status == 403
    token = await csrf_from(client, "/caseload")
    refused = await client.post(
        "/caseload/reassign",
        data={
            "officer": str(officer.id),
            "staff_id": str(colleague.id),
            "reason": "x",
            "confirm": "yes",
            "csrf_token": token,
        },
    )
    assert refused.status == 403
    assert theirs.ref not in await (await client.get("/caseload")).text()


async def test_supervisor_sees_an_officers_caseload_but_not_another_services(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    boss = await staff_factory(service.id, roles=("supervisor",), name="Sue Supervisor")
    officer = await staff_factory(service.id, name="Olive Officer")
    case = await make_case(sessions, vault, service.id, name="Jordan Rivera", assigned=officer.id)
    elsewhere = await make_service(sessions, vault)
    stranger = await staff_factory(elsewhere.id, name="Sid Stranger")
    await sign_in(client, boss)
    page = await client.get("/caseload", params={"officer": str(officer.id)})
    text = await page.text()
    assert page.status == 200 and "Caseload of Olive Officer" in text and case.ref in text
    assert "Sid Stranger" not in text
    assert (await client.get("/caseload", params={"officer": str(stranger.id)})).status == 404
    assert (await client.get("/caseload", params={"officer": "not-an-id"})).status == 404
    assert (await client.get("/caseload/reassign", params={"officer": str(stranger.id)})).status == 404


async def test_reassign_one_case_asks_to_confirm_then_writes_record_and_audit(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    boss = await staff_factory(service.id, roles=("supervisor",), name="Sue Supervisor")
    officer = await staff_factory(service.id, name="Olive Officer")
    colleague = await staff_factory(service.id, name="Carl Colleague")
    case = await make_case(sessions, vault, service.id, assigned=officer.id, conversation=True)
    kept = await make_case(sessions, vault, service.id, name="Morgan Lee", assigned=officer.id)
    await sign_in(client, boss)
    path = f"/caseload/reassign?officer={officer.id}&case={case.case_id}"
    token = await csrf_from(client, path)
    form = {"officer": str(officer.id), "case": str(case.case_id), "staff_id": str(colleague.id), "csrf_token": token}

    no_reason = await client.post("/caseload/reassign", data=form)
    assert no_reason.status == 400 and "Say why the cases are being reassigned" in await no_reason.text()
    no_csrf = await client.post("/caseload/reassign", data={**form, "reason": "Moving office", "csrf_token": ""})
    assert no_csrf.status == 403
    check = await client.post("/caseload/reassign", data={**form, "reason": "Moving office"})
    text = await check.text()
    assert check.status == 200 and "Check and confirm" in text
    assert "from <strong>Olive Officer</strong> to <strong>Carl Colleague</strong>" in text and case.ref in text
    assert await _record(sessions, case.case_id) == []  # nothing happens before the confirmation

    done = await client.post("/caseload/reassign", data={**form, "reason": "Moving office", "confirm": "yes"})
    assert done.status == 200 and "The cases have been reassigned" in await done.text()
    entries = await _record(sessions, case.case_id)
    assert [e.kind for e in entries] == ["assignment"]
    assert entries[0].summary == "Case assigned to Carl Colleague (was Olive Officer). Reason: Moving office"
    assert entries[0].data["reason"] == "Moving office" and entries[0].data["from_staff_id"] == str(officer.id)
    assert await _record(sessions, kept.case_id) == []
    async with sessions() as db:
        assert (await db.get(Case, case.case_id)).assigned_staff_id == colleague.id  # type: ignore[union-attr]
        assert (await db.get(Case, kept.case_id)).assigned_staff_id == officer.id  # type: ignore[union-attr]
        conversation = await db.scalar(select(Conversation).where(Conversation.person_id == case.person_id))
        assert conversation is not None and conversation.assigned_staff_id == colleague.id
        assert (await verify_chain(db, case.case_id)).ok
    rows = await audit_rows(sessions, service.id, action="case.reassign")
    assert [(r.actor, r.target) for r in rows] == [(f"staff:{boss.id}", str(case.case_id))]
    assert rows[0].detail["to_staff_id"] == str(colleague.id) and rows[0].detail["whole_caseload"] is False


async def test_reassign_a_whole_caseload_when_an_officer_leaves(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    admin = await staff_factory(service.id, roles=("admin",), name="Ada Admin")
    leaving = await staff_factory(service.id, name="Olive Officer")
    colleague = await staff_factory(service.id, name="Carl Colleague")
    outsider = await staff_factory((await make_service(sessions, vault)).id, name="Out Sider")
    cases = [await make_case(sessions, vault, service.id, name=f"Client {n}", assigned=leaving.id) for n in range(3)]
    closed = await make_case(sessions, vault, service.id, name="Closed Client", assigned=leaving.id)
    await _tag(sessions, closed.case_id, status="closed")
    await sign_in(client, admin)
    page = await client.get(f"/caseload/reassign?officer={leaving.id}")
    assert "All 3 open cases of Olive Officer" in await page.text()
    token = await csrf_from(client, f"/caseload/reassign?officer={leaving.id}")
    form = {"officer": str(leaving.id), "reason": "Olive is leaving", "csrf_token": token, "confirm": "yes"}

    wrong = await client.post("/caseload/reassign", data={**form, "staff_id": str(outsider.id)})
    assert wrong.status == 400 and "Choose an active member of staff" in await wrong.text()
    done = await client.post("/caseload/reassign", data={**form, "staff_id": str(colleague.id)})
    assert done.status == 200
    for case in cases:
        entries = await _record(sessions, case.case_id)
        assert [(e.kind, e.data["to_staff_id"]) for e in entries] == [("assignment", str(colleague.id))]
    assert await _record(sessions, closed.case_id) == []  # closed cases stay where they were
    assert len(await audit_rows(sessions, service.id, action="case.reassign")) == 3
    empty = await (await client.get("/caseload", params={"officer": str(leaving.id)})).text()
    assert "Olive Officer has no open cases" in empty

    # the same request again moves nothing and writes nothing
    again = await client.post("/caseload/reassign", data={**form, "staff_id": str(colleague.id)})
    assert again.status == 400 and "has no open cases to reassign" in await again.text()
    assert len(await audit_rows(sessions, service.id, action="case.reassign")) == 3


async def test_a_caseload_with_a_victim_goes_only_to_staff_allowed_victim_data(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    await set_service_kind(sessions, service.id, "victim_services")
    boss = await staff_factory(service.id, roles=("supervisor",), name="Sue Supervisor")
    leaving = await staff_factory(service.id, roles=("victim_advocate",), name="Ava Advocate")
    officer = await staff_factory(service.id, name="Olive Officer")
    advocate = await staff_factory(service.id, roles=("victim_advocate",), name="Val Advocate")
    plain = await make_case(sessions, vault, service.id, name="Client One", assigned=leaving.id)
    victim = await make_case(sessions, vault, service.id, name="Vic Tim", role="victim", assigned=leaving.id)
    await sign_in(client, boss)
    token = await csrf_from(client, f"/caseload/reassign?officer={leaving.id}")
    form = {"officer": str(leaving.id), "reason": "Ava is leaving", "csrf_token": token, "confirm": "yes"}

    refused = await client.post("/caseload/reassign", data={**form, "staff_id": str(officer.id)})
    assert refused.status == 400 and "A victim takes part in case" in await refused.text()
    assert await _record(sessions, plain.case_id) == [] and await _record(sessions, victim.case_id) == []
    assert await audit_rows(sessions, service.id, action="case.reassign") == []  # all or nothing

    done = await client.post("/caseload/reassign", data={**form, "staff_id": str(advocate.id)})
    assert done.status == 200
    for case in (plain, victim):
        assert [e.data["to_staff_id"] for e in await _record(sessions, case.case_id)] == [str(advocate.id)]


# --- person page ------------------------------------------------------------------------------


async def test_person_page_shows_contacts_with_consent_and_is_audited(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    officer = await staff_factory(service.id)
    case = await make_case(sessions, vault, service.id, assigned=officer.id)
    old = unique_phone()
    async with sessions() as db:
        person = await db.get(Person, case.person_id)
        assert person is not None
        person.consent = {"sms": {"granted": True, "source": "intake-form", "at": "2026-11-01T10:00:00+00:00"}}
        person.language, person.timezone = "es", "America/Chicago"
        db.add(
            OptOut(service_id=service.id, channel="sms", address_index=vault.blind_index(case.phone), source="keyword")
        )
        db.add(
            ContactPoint(
                service_id=service.id,
                person_id=case.person_id,
                kind="phone",
                value_enc=vault.seal(old),
                value_index=vault.blind_index(old),
                retired_reason="changed",
                retired_at=person.created_at,
            )
        )
        await db.commit()
    await sign_in(client, officer)
    page = await client.get(f"/people/{case.person_id}")
    text = await page.text()
    assert page.status == 200 and "<h1>Jordan Rivera</h1>" in text
    assert "America/Chicago" in text and "<dd>es</dd>" in text and case.ref in text
    assert case.phone in text and "Opted out</strong> (keyword)" in text
    assert "Text messages: given (intake-form, 2026-11-01)" in text
    retired = text[text.index('data-retired="true"') :]
    assert old in retired[: retired.index("</tr>")] and "Retired</span> number changed" in retired
    rows = await audit_rows(sessions, service.id, action="view.person")
    assert [(r.actor, r.target) for r in rows] == [(f"staff:{officer.id}", str(case.person_id))]


async def test_person_page_answers_404_across_services_and_for_victims(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    officer = await staff_factory(service.id)
    case = await make_case(sessions, vault, service.id, assigned=officer.id)
    victim_id = await add_participant(sessions, vault, case, service.id, "Vic Tim", "victim")
    other = await make_service(sessions, vault)
    theirs = await make_case(sessions, vault, other.id, name="Their Client")
    await sign_in(client, officer)
    token = await csrf_from(client, "/caseload")
    for path in (
        f"/people/{theirs.person_id}",
        f"/people/{victim_id}",
        "/people/not-a-uuid",
        f"/people/{uuid.uuid4()}",
    ):
        assert (await client.get(path)).status == 404, path
    for path in (f"/people/{theirs.person_id}/conversation", f"/people/{victim_id}/conversation"):
        assert (await client.post(path, data={"csrf_token": token})).status == 404, path
    # an offender-facing service never lists a victim, even to its admins
    admin = await staff_factory(service.id, roles=("admin",))
    await client.post("/logout", data={"csrf_token": token})
    await sign_in(client, admin)
    assert (await client.get(f"/people/{victim_id}")).status == 404
    assert "Vic Tim" not in await (await client.get("/caseload", params={"officer": str(officer.id)})).text()


async def test_victim_person_is_seen_only_by_victim_roles_in_a_victim_service(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    await set_service_kind(sessions, service.id, "victim_services")
    advocate = await staff_factory(service.id, roles=("victim_advocate",))
    case = await make_case(sessions, vault, service.id, name="Vic Tim", role="victim", assigned=advocate.id)
    await sign_in(client, advocate)
    page = await client.get(f"/people/{case.person_id}")
    assert page.status == 200 and "Vic Tim" in await page.text()
    assert "Vic Tim" in await (await client.get("/caseload")).text()
    assert [r.target for r in await audit_rows(sessions, service.id, action="view.victim_person")] == [
        str(case.person_id)
    ]


async def test_start_a_conversation_opens_or_creates_the_persons_one(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    officer = await staff_factory(service.id)
    colleague = await staff_factory(service.id, name="Carl Colleague")
    case = await make_case(sessions, vault, service.id, assigned=colleague.id)
    await sign_in(client, officer)
    token = await csrf_from(client, f"/people/{case.person_id}")
    assert (await client.post(f"/people/{case.person_id}/conversation")).status == 403  # no CSRF token
    first = await client.post(
        f"/people/{case.person_id}/conversation", data={"csrf_token": token}, allow_redirects=False
    )
    assert first.status == 303
    again = await client.post(
        f"/people/{case.person_id}/conversation", data={"csrf_token": token}, allow_redirects=False
    )
    assert again.headers["Location"] == first.headers["Location"]
    async with sessions() as db:
        rows = (await db.scalars(select(Conversation).where(Conversation.service_id == service.id))).all()
        assert len(rows) == 1 and rows[0].key == f"person:{case.person_id}"
        assert rows[0].assigned_staff_id == colleague.id and rows[0].case_id == case.case_id
    assert first.headers["Location"] == f"/conversations/{rows[0].id}"
    page = await client.get(first.headers["Location"])
    assert page.status == 200 and "Jordan Rivera" in await page.text()
    actions = [r.action for r in await audit_rows(sessions, service.id) if r.action.startswith("conversation.")]
    assert actions == ["conversation.start", "conversation.open"]


# --- merge -------------------------------------------------------------------------------------


async def test_merge_moves_everything_writes_markers_and_retires_the_duplicate(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    boss = await staff_factory(service.id, roles=("supervisor",))
    officer = await staff_factory(service.id)
    keep = await make_case(sessions, vault, service.id, name="Jordan Rivera", assigned=officer.id, conversation=True)
    dup = await make_case(sessions, vault, service.id, name="Jordan Rivera", assigned=officer.id)
    await add_conversation(sessions, vault, service.id, dup.phone, "From the duplicate", person_id=dup.person_id)
    async with sessions() as db:
        db.add(OpenQuestion(service_id=service.id, person_id=dup.person_id, kind="appointment"))
        db.add(
            ConsentEvent(
                service_id=service.id,
                channel="sms",
                address_index=vault.blind_index(dup.phone),
                action="opt_in",
                source="keyword",
                person_id=dup.person_id,
            )
        )
        # the same number on both: moved and retired as a merged copy
        db.add(
            ContactPoint(
                service_id=service.id,
                person_id=dup.person_id,
                kind="phone",
                value_enc=vault.seal(keep.phone),
                value_index=vault.blind_index(keep.phone),
            )
        )
        # the duplicate is also on the survivor's case: that participation is dropped, not doubled
        db.add(CaseParticipant(case_id=keep.case_id, person_id=dup.person_id, role="client"))
        dup_person = await db.get(Person, dup.person_id)
        assert dup_person is not None
        dup_person.consent = {"email": {"granted": True, "source": "written", "at": "2026-10-01T00:00:00+00:00"}}
        await db.commit()

    # an officer may not merge
    await sign_in(client, officer)
    token = await csrf_from(client, "/caseload")
    assert (await client.get(f"/people/{keep.person_id}/merge")).status == 403
    refused = await client.post(
        f"/people/{keep.person_id}/merge",
        data={"duplicate_id": str(dup.person_id), "confirm": "yes", "csrf_token": token},
    )
    assert refused.status == 403
    await client.post("/logout", data={"csrf_token": token})

    await sign_in(client, boss)
    pick = await (await client.get(f"/people/{keep.person_id}/merge")).text()
    assert f'value="{dup.person_id}"' in pick  # the same name is offered as a likely duplicate
    found = await (await client.get(f"/people/{keep.person_id}/merge", params={"q": dup.phone})).text()
    assert f'value="{dup.person_id}"' in found
    token = await csrf_from(client, f"/people/{keep.person_id}/merge")
    form = {"duplicate_id": str(dup.person_id), "csrf_token": token}
    assert (await client.post(f"/people/{keep.person_id}/merge", data={**form, "csrf_token": ""})).status == 403
    check = await client.post(f"/people/{keep.person_id}/merge", data=form)
    assert check.status == 200 and "Check and confirm the merge" in await check.text()
    async with sessions() as db:
        assert (await db.get(Person, dup.person_id)).merged_into_id is None  # type: ignore[union-attr]

    done = await client.post(f"/people/{keep.person_id}/merge", data={**form, "confirm": "yes"})
    assert done.status == 200 and "The duplicate has been merged" in await done.text()
    async with sessions() as db:
        gone = await db.get(Person, dup.person_id)
        assert gone is not None and gone.merged_into_id == keep.person_id and gone.retired_at is not None
        survivor = await db.get(Person, keep.person_id)
        assert survivor is not None and survivor.consent["email"]["source"] == "written"
        points = (await db.scalars(select(ContactPoint).where(ContactPoint.person_id == keep.person_id))).all()
        assert len(points) == 3
        assert [p.retired_reason for p in points if p.retired_at is not None] == ["merged"]
        assert not (await db.scalars(select(ContactPoint).where(ContactPoint.person_id == dup.person_id))).all()
        participants = (
            await db.execute(select(CaseParticipant.case_id, CaseParticipant.person_id, CaseParticipant.role))
        ).all()
        assert sorted((c, r) for c, p, r in participants if p == keep.person_id) == sorted(
            [(keep.case_id, "client"), (dup.case_id, "client")]
        )
        assert not [p for _, p, _ in participants if p == dup.person_id]
        conversations = (await db.scalars(select(Conversation).where(Conversation.service_id == service.id))).all()
        assert [c.key for c in conversations] == [f"person:{keep.person_id}"]
        assert conversations[0].unread_count == 1
        inbound = (await db.scalars(select(InboundMessage).where(InboundMessage.service_id == service.id))).all()
        assert [(m.person_id, m.conversation_id) for m in inbound] == [(keep.person_id, conversations[0].id)]
        assert (await db.scalar(select(OpenQuestion.person_id).where(OpenQuestion.service_id == service.id))) == (
            keep.person_id
        )
        assert (await db.scalar(select(ConsentEvent.person_id).where(ConsentEvent.service_id == service.id))) == (
            keep.person_id
        )
        for case_id in (keep.case_id, dup.case_id):
            assert (await verify_chain(db, case_id)).ok
    for case in (keep, dup):
        entries = await _record(sessions, case.case_id)
        assert [e.kind for e in entries] == ["merge"]
        assert entries[0].data["duplicate_id"] == str(dup.person_id)
        assert entries[0].data["survivor_id"] == str(keep.person_id)
    rows = await audit_rows(sessions, service.id, action="person.merge")
    assert [(r.actor, r.target, r.detail["duplicate_id"]) for r in rows] == [
        (f"staff:{boss.id}", str(keep.person_id), str(dup.person_id))
    ]
    merged_page = await (await client.get(f"/people/{dup.person_id}")).text()
    assert "This record was merged into" in merged_page

    # merging again, or merging across services, is refused
    again = await client.post(f"/people/{keep.person_id}/merge", data={**form, "confirm": "yes"})
    assert again.status == 400 and "already been merged" in await again.text()
    theirs = await make_case(sessions, vault, (await make_service(sessions, vault)).id, name="Jordan Rivera")
    across = await client.post(
        f"/people/{keep.person_id}/merge", data={**form, "duplicate_id": str(theirs.person_id), "confirm": "yes"}
    )
    assert across.status == 404
    same = await client.post(
        f"/people/{keep.person_id}/merge", data={**form, "duplicate_id": str(keep.person_id), "confirm": "yes"}
    )
    assert same.status == 400


# --- add client, change a number --------------------------------------------------------------


def _client_form(token: str, **values: str) -> dict[str, str]:
    return {
        "first_name": "Casey",
        "last_name": "Client",
        "preferred_name": "",
        "phone": "",
        "email": "",
        "language": "es",
        "case_reference": f"CR-{uuid.uuid4().hex[:6]}",
        "external_id": "",
        "assign_to_me": "yes",
        "csrf_token": token,
    } | values


async def test_add_client_normalises_the_number_and_assigns_the_case(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    officer = await staff_factory(service.id)
    await sign_in(client, officer)
    token = await csrf_from(client, "/people/new")
    assert (await client.post("/people/new", data={**_client_form(token), "csrf_token": ""})).status == 403

    # every problem at once, each named, and nothing written
    bad = await client.post(
        "/people/new", data=_client_form(token, last_name="", phone="+1 800 555 0100", case_reference="", language="xx")
    )
    text = await bad.text()
    assert bad.status == 400
    for problem in ("Last name is required", "Mobile number: Not a mobile number", "Case reference is required"):
        assert problem in text, problem
    assert 'aria-invalid="true"' in text and 'value="Casey"' in text
    async with sessions() as db:
        assert not (await db.scalars(select(Person).where(Person.service_id == service.id))).all()

    form = _client_form(token, phone="(202) 555-0188", email="Casey@Example.org")
    added = await client.post("/people/new", data=form, allow_redirects=False)
    assert added.status == 303, await added.text()
    person_id = uuid.UUID(added.headers["Location"].split("/")[2].split("?")[0])
    page = await (await client.get(added.headers["Location"])).text()
    assert "The client has been added." in page and "+12025550188" in page and form["case_reference"] in page
    async with sessions() as db:
        person = await db.get(Person, person_id)
        assert person is not None and person.display_name == "Casey Client" and person.language == "es"
        assert person.external_id is None
        points = (await db.scalars(select(ContactPoint).where(ContactPoint.person_id == person_id))).all()
        assert sorted(vault.open(p.value_enc) for p in points) == ["+12025550188", "Casey@example.org"]
        case = await db.scalar(select(Case).where(Case.external_ref == form["case_reference"]))
        assert case is not None and case.assigned_staff_id == officer.id and case.service_id == service.id
        role = await db.scalar(select(CaseParticipant.role).where(CaseParticipant.person_id == person_id))
        assert role == "client"
    assert "Casey Client" in await (await client.get("/caseload")).text()
    assert [r.target for r in await audit_rows(sessions, service.id, action="person.add")] == [str(person_id)]

    # the same case reference again is refused, not attached to
    again = await client.post(
        "/people/new", data=_client_form(token, phone="+12025550199", case_reference=form["case_reference"])
    )
    assert again.status == 400 and "is already a case of this service" in await again.text()


async def test_add_client_offers_the_person_who_has_the_number_instead_of_a_duplicate(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    officer = await staff_factory(service.id)
    existing = await make_case(sessions, vault, service.id, name="Jordan Rivera", assigned=officer.id)
    await sign_in(client, officer)
    token = await csrf_from(client, "/people/new")
    national = f"{existing.phone[2:5]}-{existing.phone[5:8]}-{existing.phone[8:]}"
    form = _client_form(token, first_name="Jordan", last_name="Rivera", phone=national)

    offered = await client.post("/people/new", data=form)
    text = await offered.text()
    assert offered.status == 409
    assert f'belongs to <a href="/people/{existing.person_id}">Jordan Rivera</a>' in text
    assert "Add anyway, as a different person" in text
    async with sessions() as db:
        people = (await db.scalars(select(Person).where(Person.service_id == service.id))).all()
        assert [p.id for p in people] == [existing.person_id]  # nobody added, nothing attached
        assert not await db.scalar(select(Case).where(Case.external_ref == form["case_reference"]))

    anyway = await client.post("/people/new", data={**form, "add_anyway": "yes"}, allow_redirects=False)
    assert anyway.status == 303
    async with sessions() as db:
        assert len((await db.scalars(select(Person).where(Person.service_id == service.id))).all()) == 2
    rows = await audit_rows(sessions, service.id, action="person.add")
    assert rows[0].detail["shares_contact_with"] == [str(existing.person_id)]


async def test_add_client_does_not_name_a_victim_who_has_the_number(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    officer = await staff_factory(service.id)
    case = await make_case(sessions, vault, service.id, assigned=officer.id)
    victim_id = await add_participant(sessions, vault, case, service.id, "Vic Tim", "victim")
    async with sessions() as db:
        phone = await db.scalar(select(ContactPoint.value_enc).where(ContactPoint.person_id == victim_id))
    assert phone is not None
    await sign_in(client, officer)
    token = await csrf_from(client, "/people/new")
    form = _client_form(token, phone=vault.open(phone), add_anyway="yes")
    refused = await client.post("/people/new", data=form)
    text = await refused.text()
    assert refused.status == 409 and "someone in this service whom you cannot see" in text
    assert "Vic Tim" not in text and str(victim_id) not in text


async def test_changing_a_number_keeps_the_old_one_retired_and_records_it(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    officer = await staff_factory(service.id)
    case = await make_case(sessions, vault, service.id, assigned=officer.id)
    neighbour = await make_case(sessions, vault, service.id, name="Nia Neighbour", assigned=officer.id)
    async with sessions() as db:
        old_id = await db.scalar(select(ContactPoint.id).where(ContactPoint.person_id == case.person_id))
    await sign_in(client, officer)
    token = await csrf_from(client, f"/people/{case.person_id}")
    path = f"/people/{case.person_id}/change-number"

    landline = await client.post(
        path, data={"contact_id": str(old_id), "new_phone": "+1 800 555 0100", "csrf_token": token}
    )
    assert landline.status == 400 and "Not a mobile number" in await landline.text()
    taken = await client.post(path, data={"contact_id": str(old_id), "new_phone": neighbour.phone, "csrf_token": token})
    assert taken.status == 400 and "belongs to someone else" in await taken.text()
    other_service = await make_case(sessions, vault, (await make_service(sessions, vault)).id)
    across = await client.post(
        f"/people/{other_service.person_id}/change-number",
        data={"contact_id": str(old_id), "new_phone": "+12025550177", "csrf_token": token},
    )
    assert across.status == 404
    assert await _record(sessions, case.case_id) == []

    changed = await client.post(
        path, data={"contact_id": str(old_id), "new_phone": "(202) 555-0177", "csrf_token": token}
    )
    text = await changed.text()
    assert changed.status == 200 and "The number has been changed" in text
    retired = text[text.index('data-retired="true"') :]
    assert case.phone in retired[: retired.index("</tr>")] and "number changed" in retired
    async with sessions() as db:
        points = (await db.scalars(select(ContactPoint).where(ContactPoint.person_id == case.person_id))).all()
        state = {vault.open(p.value_enc): (p.retired_at is not None, p.retired_reason) for p in points}
        assert state == {case.phone: (True, "changed"), "+12025550177": (False, None)}
    entries = await _record(sessions, case.case_id)
    assert len(entries) == 1 and "Phone number changed for Jordan Rivera" in entries[0].summary
    assert case.phone not in str(entries[0].data) and "0177" not in entries[0].summary
    assert [r.target for r in await audit_rows(sessions, service.id, action="contact.change")] == [str(case.person_id)]
    # their conversation says so in the thread (last four digits only), and replies go to the new number
    async with sessions() as db:
        db.add(
            InboundMessage(
                service_id=service.id,
                channel="sms",
                provider_id=f"SM{uuid.uuid4().hex}",
                sender_enc=vault.seal(case.phone),
                sender_index=vault.blind_index(case.phone),
                recipient="+15005550006",
                body_enc=vault.seal("old phone"),
                person_id=case.person_id,
                state="processed",
            )
        )
        await db.commit()
        inbound_id = await db.scalar(select(InboundMessage.id).where(InboundMessage.person_id == case.person_id))
        db.add(
            Conversation(
                service_id=service.id,
                key=f"person:{case.person_id}",
                person_id=case.person_id,
                last_inbound_id=inbound_id,
            )
        )
        await db.commit()
    started = await client.post(f"/people/{case.person_id}/conversation", data={"csrf_token": token})
    thread = await started.text()
    assert f"Number changed: the old one ending {case.phone[-4:]} is kept" in thread
    assert "number ending 0177" in thread and case.phone not in thread
    # the caseload still finds them by the old number
    assert "Jordan Rivera" in await (await client.get("/caseload", params={"q": case.phone})).text()
