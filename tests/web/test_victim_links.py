"""Who may redirect a victim's texts: linking an unknown sender to a victim, transferring a victim's case,
and where a victim's messages are filed (SQLite and PostgreSQL).

An officer in a victim-services unit must not see victims in the "This sender is" list, nor link a
number to one; an advocate may, after confirming the person by name; every link is in the case
record and the audit log.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.api.intake import insert_notifications
from gateway.crypto import Vault
from gateway.db import Case, ContactPoint, Conversation, InboundMessage, Notification, RecordEntry
from gateway.domain import Channel, KeyType, RecordKind
from gateway.outbound import prepare_notification
from gateway.template_store import TemplateStore
from gateway.templating import Renderer
from gateway.web.compose_form import FREE_TEXT
from tests.factories import ServiceUnderTest, make_service
from tests.web.cases import make_case, set_service_kind
from tests.web.chat import add_conversation, add_person, set_sms_sender
from tests.web.conftest import StaffFactory
from tests.web.staff import audit_rows, csrf_from, sign_in

STRANGER = "+12025550166"
VICTIM_PHONE = "+12025550167"
Client = TestClient  # type: ignore[type-arg]
MakeClient = Callable[..., Awaitable[Client]]


async def victim_unit(sessions: async_sessionmaker[AsyncSession], vault: Vault) -> ServiceUnderTest:
    unit = await make_service(sessions, vault)
    await set_service_kind(sessions, unit.id, "victim_services")
    return unit


async def as_role(make_client: MakeClient, staff_factory: StaffFactory, service_id: Any, role: str) -> Client:
    client = await make_client()
    await sign_in(client, await staff_factory(service_id, roles=(role,), name=f"A {role}"))
    return client


async def case_of(sessions: async_sessionmaker[AsyncSession], ref: str) -> uuid.UUID:
    async with sessions() as db:
        case_id = await db.scalar(select(Case.id).where(Case.external_ref == ref))
    assert case_id is not None
    return case_id


async def record(sessions: async_sessionmaker[AsyncSession], case_id: uuid.UUID) -> list[RecordEntry]:
    async with sessions() as db:
        return list((await db.scalars(select(RecordEntry).where(RecordEntry.case_id == case_id))).all())


async def contacts(sessions: async_sessionmaker[AsyncSession], person_id: uuid.UUID) -> list[ContactPoint]:
    async with sessions() as db:
        return list((await db.scalars(select(ContactPoint).where(ContactPoint.person_id == person_id))).all())


async def test_an_officer_cannot_link_a_stranger_to_a_victim(
    make_client: MakeClient, staff_factory: StaffFactory, sessions: async_sessionmaker[AsyncSession], vault: Vault
) -> None:
    unit = await victim_unit(sessions, vault)
    vera = await add_person(sessions, vault, unit.id, "Vera Victim", VICTIM_PHONE, case_ref="V-9", role="victim")
    await add_person(sessions, vault, unit.id, "Casey Client", case_ref="C-9")
    stranger = await add_conversation(sessions, vault, unit.id, STRANGER, "It's me, new number")
    officer = await as_role(make_client, staff_factory, unit.id, "officer")

    page = await (await officer.get(f"/conversations/{stranger.id}")).text()
    assert "Casey Client" in page and "Vera Victim" not in page and str(vera) not in page

    token = await csrf_from(officer, f"/conversations/{stranger.id}")
    for extra in ({}, {"confirm_person": str(vera)}):
        refused = await officer.post(
            f"/conversations/{stranger.id}/link",
            data={"csrf_token": token, "person_id": str(vera), **extra},
            allow_redirects=False,
        )
        assert refused.status == 404  # the same as a person who does not exist: no hint that Vera is a victim
        assert "Vera Victim" not in await refused.text()
    async with sessions() as db:
        row = await db.get(Conversation, stranger.id)
        assert row is not None and row.person_id is None and row.key.startswith("sender:")
    assert [c.value_index for c in await contacts(sessions, vera)] == [vault.blind_index(VICTIM_PHONE)]
    assert await record(sessions, await case_of(sessions, "V-9")) == []
    assert await audit_rows(sessions, unit.id, action="conversation.link") == []


async def test_an_advocate_links_to_a_victim_only_after_confirming_the_person(
    make_client: MakeClient, staff_factory: StaffFactory, sessions: async_sessionmaker[AsyncSession], vault: Vault
) -> None:
    unit = await victim_unit(sessions, vault)
    vera = await add_person(sessions, vault, unit.id, "Vera Victim", VICTIM_PHONE, case_ref="V-10", role="victim")
    stranger = await add_conversation(sessions, vault, unit.id, STRANGER, "It's Vera, new phone")
    advocate = await as_role(make_client, staff_factory, unit.id, "victim_advocate")

    page = await (await advocate.get(f"/conversations/{stranger.id}")).text()
    assert f'<option value="{vera}">Vera Victim (victim: asks you to confirm)</option>' in page

    token = await csrf_from(advocate, f"/conversations/{stranger.id}")
    plain = await advocate.post(
        f"/conversations/{stranger.id}/link",
        data={"csrf_token": token, "person_id": str(vera)},
        allow_redirects=False,
    )
    assert plain.status == 400
    asked = await plain.text()
    assert "Confirm that this sender is Vera Victim before linking them." in asked
    assert 'data-testid="link-confirm"' in asked and "a victim on case V-10" in asked
    assert f'name="confirm_person" value="{vera}"' in asked
    async with sessions() as db:
        row = await db.get(Conversation, stranger.id)
        assert row is not None and row.person_id is None
    assert len(await contacts(sessions, vera)) == 1
    case_id = await case_of(sessions, "V-10")
    assert await record(sessions, case_id) == []

    wrong = await advocate.post(
        f"/conversations/{stranger.id}/link",
        data={"csrf_token": token, "person_id": str(vera), "confirm_person": str(uuid.uuid4())},
        allow_redirects=False,
    )
    assert wrong.status == 400  # a confirmation names the person being linked, or it is none

    linked = await advocate.post(
        f"/conversations/{stranger.id}/link",
        data={"csrf_token": token, "person_id": str(vera), "confirm_person": str(vera)},
        allow_redirects=False,
    )
    assert linked.status == 303
    async with sessions() as db:
        row = await db.get(Conversation, stranger.id)
        assert row is not None and row.person_id == vera
    assert vault.blind_index(STRANGER) in {c.value_index for c in await contacts(sessions, vera)}
    [entry] = await record(sessions, case_id)
    assert entry.kind == RecordKind.CONTACT and "Vera Victim" in entry.summary and STRANGER not in str(entry.data)
    assert entry.data["person_id"] == str(vera) and entry.data["victim"] is True
    [audit] = await audit_rows(sessions, unit.id, action="conversation.link")
    assert audit.target == str(stranger.id) and audit.detail["victim"] is True
    assert audit.detail["cases"] == [str(case_id)]


async def test_every_link_is_in_the_case_record(
    make_client: MakeClient,
    staff_factory: StaffFactory,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    """Not only victims: a link to a client asks too (naming them) and is recorded the same way."""
    casey = await add_person(sessions, vault, service.id, "Casey Client", case_ref=f"C-{uuid.uuid4().hex[:6]}")
    stranger = await add_conversation(sessions, vault, service.id, STRANGER, "New number")
    officer = await as_role(make_client, staff_factory, service.id, "officer")
    token = await csrf_from(officer, f"/conversations/{stranger.id}")
    asked = await officer.post(
        f"/conversations/{stranger.id}/link", data={"csrf_token": token, "person_id": str(casey)}
    )
    text = await asked.text()
    assert asked.status == 200 and "Casey Client" in text and ", a victim" not in text
    linked = await officer.post(
        f"/conversations/{stranger.id}/link",
        data={"csrf_token": token, "person_id": str(casey), "confirm_person": str(casey)},
        allow_redirects=False,
    )
    assert linked.status == 303
    async with sessions() as db:
        case_id = await db.scalar(select(Case.id).where(Case.service_id == service.id))
    assert case_id is not None
    [entry] = await record(sessions, case_id)
    assert (entry.kind, entry.data["victim"]) == (RecordKind.CONTACT, False)
    assert len(await audit_rows(sessions, service.id, action="conversation.link")) == 1


async def test_a_case_with_a_victim_goes_only_to_staff_allowed_victim_data(
    make_client: MakeClient, staff_factory: StaffFactory, sessions: async_sessionmaker[AsyncSession], vault: Vault
) -> None:
    unit = await victim_unit(sessions, vault)
    holder = await staff_factory(unit.id, roles=("victim_advocate",), name="Ava Advocate")
    officer = await staff_factory(unit.id, roles=("officer",), name="Oscar Officer")
    colleague = await staff_factory(unit.id, roles=("victim_advocate",), name="Val Advocate")
    case = await make_case(
        sessions, vault, unit.id, name="Vera Victim", role="victim", assigned=holder.id, conversation=True
    )
    client = await make_client()
    await sign_in(client, holder)

    page = await (await client.get(f"/cases/{case.ref}")).text()
    assert f'<option value="{colleague.id}">Val Advocate</option>' in page and "Oscar Officer" not in page
    token = await csrf_from(client, f"/cases/{case.ref}")
    refused = await client.post(f"/cases/{case.ref}/transfer", data={"staff_id": str(officer.id), "csrf_token": token})
    assert refused.status == 400
    assert "can be transferred only to a victim advocate, supervisor or admin" in await refused.text()
    async with sessions() as db:
        row = await db.get(Case, case.case_id)
        assert row is not None and row.assigned_staff_id == holder.id
        moved = await db.scalar(select(Conversation).where(Conversation.person_id == case.person_id))
        assert moved is not None and moved.assigned_staff_id == holder.id
    assert [e.kind for e in await record(sessions, case.case_id)] == []

    move = {"staff_id": str(colleague.id), "reason": "leave cover", "confirm": str(colleague.id)}
    done = await client.post(f"/cases/{case.ref}/transfer", data=move | {"csrf_token": token})
    assert done.status == 200 and "The case has been transferred." in await done.text()


async def test_a_reply_goes_to_the_address_the_token_was_sent_to_not_the_from(
    make_client: MakeClient,
    staff_factory: StaffFactory,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    """An email whose From was forged must not make staff write to the forged address."""
    await set_sms_sender(sessions, service.id, email_from="Office <office@agency.example.org>")
    person_id = await add_person(sessions, vault, service.id, "Mal Client", case_ref=f"C-{uuid.uuid4().hex[:6]}")
    template = await TemplateStore(sessions).get(service.id, FREE_TEXT[Channel.EMAIL])
    prepared = prepare_notification(
        vault=vault,
        renderer=Renderer(),
        template=template,
        channel=Channel.EMAIL,
        recipient="mal@example.net",
        personalisation={"subject": "Visit", "message": "Tuesday"},
        service_id=service.id,
        key_type=KeyType.LIVE,
        person_id=person_id,
    )
    async with sessions() as db:
        await insert_notifications(await db.connection(), [prepared.row])
        await db.commit()
    conversation = await add_conversation(
        sessions, vault, service.id, "victim@example.org", "STOP", person_id=person_id
    )
    async with sessions() as db:
        await db.execute(
            update(InboundMessage)
            .where(InboundMessage.id == conversation.inbound_id)
            .values(
                channel="email",
                sender_index=vault.blind_index("victim@example.org"),
                reply_to_notification_id=prepared.row["id"],
            )
        )
        await db.commit()
    client = await as_role(make_client, staff_factory, service.id, "officer")
    token = await csrf_from(client, f"/conversations/{conversation.id}")
    sent = await client.post(
        f"/conversations/{conversation.id}/send",
        data={"csrf_token": token, "message": "Your visit is confirmed"},
        allow_redirects=False,
    )
    assert sent.status == 303
    async with sessions() as db:
        rows = (await db.scalars(select(Notification).where(Notification.created_by_staff_id.is_not(None)))).all()
    [reply] = [n for n in rows if n.service_id == service.id]
    assert vault.open(reply.recipient_enc) == "mal@example.net"
