"""The inbox and conversation pages over HTTP (SQLite and PostgreSQL): scoping, claim and link,
opted-out and scheduled sends, and who may open the live websocket."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import keys
from gateway.crypto import Vault
from gateway.db import ContactPoint, Conversation, Notification, OptOut, Service
from gateway.web.conversation_data import aware
from tests.factories import ServiceUnderTest, make_service
from tests.web.cases import set_service
from tests.web.chat import add_conversation, add_person, set_sms_sender
from tests.web.conftest import StaffFactory
from tests.web.staff import audit_rows, csrf_from, sign_in

PHONE = "+12025550187"
Client = TestClient  # type: ignore[type-arg]
MakeClient = Callable[..., Awaitable[Client]]


async def signed_in_client(make_client: MakeClient, staff_factory: StaffFactory, service_id: Any) -> tuple[Client, Any]:
    staff = await staff_factory(service_id)
    client = await make_client()
    await sign_in(client, staff)
    return client, staff


async def test_another_services_conversation_is_not_found(
    make_client: MakeClient,
    staff_factory: StaffFactory,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    conversation = await add_conversation(sessions, vault, service.id, PHONE, "Running late today")
    other = await make_service(sessions, vault)
    mine, _ = await signed_in_client(make_client, staff_factory, service.id)
    theirs, _ = await signed_in_client(make_client, staff_factory, other.id)

    page = await mine.get(f"/conversations/{conversation.id}")
    assert page.status == 200
    text = await page.text()
    assert "Running late today" in text and "Unknown sender ending 0187" in text and PHONE not in text

    for path in (f"/conversations/{conversation.id}", f"/conversations/{conversation.id}/messages"):
        assert (await theirs.get(path)).status == 404, path
    token = await csrf_from(theirs, "/inbox")
    for action in ("claim", "send", "link"):
        response = await theirs.post(
            f"/conversations/{conversation.id}/{action}", data={"csrf_token": token, "message": "hi"}
        )
        assert response.status == 404, action
    assert str(conversation.id) not in await (await theirs.get("/inbox")).text()
    listed = await (await mine.get("/inbox?tab=unclaimed")).text()
    assert str(conversation.id) in listed and PHONE not in listed


async def test_claim_and_link_an_unknown_sender(
    make_client: MakeClient,
    staff_factory: StaffFactory,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    conversation = await add_conversation(sessions, vault, service.id, PHONE, "Who is this?")
    person_id = await add_person(sessions, vault, service.id, "Casey Client", case_ref="CR-1042")
    client, staff = await signed_in_client(make_client, staff_factory, service.id)
    assert str(conversation.id) not in await (await client.get("/inbox?tab=mine")).text()

    refused = await client.post(f"/conversations/{conversation.id}/claim", data={}, allow_redirects=False)
    assert refused.status == 403  # no CSRF token: nothing happens
    token = await csrf_from(client, f"/conversations/{conversation.id}")
    claimed = await client.post(
        f"/conversations/{conversation.id}/claim", data={"csrf_token": token}, allow_redirects=False
    )
    assert claimed.status == 303
    asked = await client.post(
        f"/conversations/{conversation.id}/link", data={"csrf_token": token, "person_id": str(person_id)}
    )
    assert asked.status == 200 and "Yes, this sender is" in await asked.text()  # a confirmation naming them
    async with sessions() as db:
        row = await db.get(Conversation, conversation.id)
        assert row is not None and row.person_id is None, "nothing linked before the confirmation"
    linked = await client.post(
        f"/conversations/{conversation.id}/link",
        data={"csrf_token": token, "person_id": str(person_id), "confirm_person": str(person_id)},
        allow_redirects=False,
    )
    assert linked.status == 303
    async with sessions() as db:
        row = await db.get(Conversation, conversation.id)
        assert row is not None
        assert (row.state, row.assigned_staff_id, row.person_id) == ("claimed", staff.id, person_id)
        contact = await db.scalar(select(ContactPoint).where(ContactPoint.person_id == person_id))
        assert contact is not None and contact.value_index == vault.blind_index(PHONE)
    mine = await (await client.get("/inbox?tab=mine")).text()
    assert "Casey Client" in mine and str(conversation.id) in mine
    for query in ("casey", "(202) 555-0187", "CR-1042"):
        found = await (await client.get("/inbox", params={"q": query})).text()
        assert str(conversation.id) in found, query
    assert str(conversation.id) not in await (await client.get("/inbox", params={"q": "nobody"})).text()


async def test_send_to_an_opted_out_number_is_refused(
    make_client: MakeClient,
    staff_factory: StaffFactory,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    await set_sms_sender(sessions, service.id)
    conversation = await add_conversation(sessions, vault, service.id, PHONE, "STOP")
    async with sessions() as db:
        db.add(OptOut(service_id=service.id, channel="sms", address_index=vault.blind_index(PHONE), source="keyword"))
        await db.commit()
    client, _ = await signed_in_client(make_client, staff_factory, service.id)
    page = await (await client.get(f"/conversations/{conversation.id}")).text()
    # the composer is on the page for a live opt-in, but hidden, and the notice shown
    assert "Opted out" in page and '<div data-when-opted-in hidden data-testid="composer-on">' in page
    assert '<p class="notice notice--warning" data-when-opted-out data-testid="composer-off">' in page
    token = await csrf_from(client, "/inbox")
    response = await client.post(
        f"/conversations/{conversation.id}/send", data={"csrf_token": token, "message": "Please call me"}
    )
    assert response.status == 400
    assert "opted out" in await response.text()
    async with sessions() as db:
        assert (await db.scalars(select(Notification).where(Notification.service_id == service.id))).all() == []


async def test_scheduled_send_waits_for_its_time(
    make_client: MakeClient,
    staff_factory: StaffFactory,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    await set_sms_sender(sessions, service.id)
    person_id = await add_person(sessions, vault, service.id, "Sam Scheduled", PHONE)
    conversation = await add_conversation(sessions, vault, service.id, PHONE, "When is it?", person_id=person_id)
    client, staff = await signed_in_client(make_client, staff_factory, service.id)
    when = (datetime.now(UTC) + timedelta(days=2)).replace(second=0, microsecond=0)
    token = await csrf_from(client, f"/conversations/{conversation.id}")
    response = await client.post(
        f"/conversations/{conversation.id}/send",
        data={"csrf_token": token, "message": "Monday 10:00", "send_at": when.strftime("%Y-%m-%dT%H:%M")},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    await asyncio.sleep(0.2)  # the in-process delivery job runs, sees it is not due, and leaves it
    async with sessions() as db:
        [row] = (await db.scalars(select(Notification).where(Notification.service_id == service.id))).all()
    assert row.status == "created"
    assert row.scheduled_for is not None and aware(row.scheduled_for) == when
    assert row.next_attempt_at is not None and aware(row.next_attempt_at) == when
    assert (row.created_by_staff_id, row.person_id) == (staff.id, person_id)
    assert vault.open(row.body_enc) == "Monday 10:00"
    page = await (await client.get(f"/conversations/{conversation.id}")).text()
    assert "Monday 10:00" in page and "Queued" in page


async def test_times_are_shown_and_read_on_the_services_wall_clock(
    make_client: MakeClient,
    staff_factory: StaffFactory,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    await set_service(sessions, service.id, timezone="America/Chicago")
    await set_sms_sender(sessions, service.id)
    person_id = await add_person(sessions, vault, service.id, "Casey Central", PHONE)
    conversation = await add_conversation(sessions, vault, service.id, PHONE, "Is 9 ok?", person_id=person_id)
    client, _ = await signed_in_client(make_client, staff_factory, service.id)
    page = await (await client.get(f"/conversations/{conversation.id}")).text()
    assert "Send later (optional, America/Chicago time)" in page
    assert " CST</time>" in page or " CDT</time>" in page  # the inbound message's time, on Chicago's clock
    assert " UTC</time>" not in page

    async def send(send_at: str) -> aiohttp.ClientResponse:
        token = await csrf_from(client, f"/conversations/{conversation.id}")
        return await client.post(
            f"/conversations/{conversation.id}/send",
            data={"csrf_token": token, "message": "See you at 9", "send_at": send_at},
            allow_redirects=False,
        )

    # US clocks go from 02:00 to 03:00 on the second Sunday of March
    year = datetime.now(UTC).year + 1
    gap = next(day for day in (datetime(year, 3, d) for d in range(8, 15)) if day.weekday() == 6)
    skipped = await send(f"{gap:%Y-%m-%d}T02:30")
    assert skipped.status == 400
    assert f"{gap:%Y-%m-%d} 02:30 does not exist in America/Chicago" in await skipped.text()
    day = datetime.now(UTC).date() + timedelta(days=10)
    assert (await send(f"{day:%Y-%m-%d}T09:00")).status == 303
    async with sessions() as db:
        [row] = (await db.scalars(select(Notification).where(Notification.service_id == service.id))).all()
    nine_in_chicago = datetime(day.year, day.month, day.day, 9, 0, tzinfo=ZoneInfo("America/Chicago"))
    assert row.scheduled_for is not None and aware(row.scheduled_for) == nine_in_chicago
    assert aware(row.scheduled_for).hour in (14, 15)  # 09:00 CDT or CST, in UTC


async def test_websocket_needs_a_session_and_this_sites_origin(
    make_client: MakeClient,
    staff_factory: StaffFactory,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    anonymous = await make_client()
    origin = f"http://{anonymous.host}:{anonymous.port}"
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await anonymous.ws_connect("/live", headers={"Origin": origin})

    client, _ = await signed_in_client(make_client, staff_factory, service.id)
    origin = f"http://{client.host}:{client.port}"
    for bad in ({"Origin": "https://evil.example"}, {}):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect("/live", headers=bad)
        assert refused.value.status == 403

    other = await make_service(sessions, vault)
    async with client.ws_connect("/live", headers={"Origin": origin}) as ws:
        hub = client.app[keys.LIVE]  # type: ignore[index]
        await asyncio.sleep(0.05)  # let the socket subscribe
        await hub.publish(other.id, {"type": "status", "notification_id": "theirs", "status": "delivered"})
        await hub.publish(service.id, {"type": "status", "notification_id": "mine", "status": "delivered"})
        event = await ws.receive_json(timeout=2)
    assert event == {"type": "status", "notification_id": "mine", "status": "delivered"}


async def test_victim_conversation_only_for_allowed_roles_and_audited(
    make_client: MakeClient,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    unit = await make_service(sessions, vault)
    async with sessions() as db:
        row = await db.get(Service, unit.id)
        assert row is not None
        row.kind = "victim_services"
        await db.commit()
    person_id = await add_person(sessions, vault, unit.id, "Vera Victim", PHONE, case_ref="V-9", role="victim")
    conversation = await add_conversation(sessions, vault, unit.id, PHONE, "Is he out?", person_id=person_id)
    officer = await make_client()
    await sign_in(officer, await staff_factory(unit.id, roles=("officer",)))
    advocate = await make_client()
    advocate_staff = await staff_factory(unit.id, roles=("victim_advocate",))
    await sign_in(advocate, advocate_staff)

    assert (await officer.get(f"/conversations/{conversation.id}")).status == 404
    assert "Vera Victim" not in await (await officer.get("/inbox")).text()
    assert "Vera Victim" in await (await advocate.get("/inbox")).text()
    assert (await advocate.get(f"/conversations/{conversation.id}")).status == 200
    rows = await audit_rows(sessions, unit.id, action="view.victim_conversation")
    assert [r.target for r in rows] == [str(conversation.id)]
    assert rows[0].actor == f"staff:{advocate_staff.id}"
