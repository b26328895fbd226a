"""The sandbox phone over HTTP on SQLite and PostgreSQL: a reply takes the real inbound path."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import keys
from gateway.db import Conversation, InboundMessage, OptOut, RecordEntry
from gateway.jobs.queue import LocalQueue
from tests.factories import ServiceUnderTest
from tests.web.cases import make_case
from tests.web.conftest import StaffFactory
from tests.web.staff import csrf_from, sign_in

Client = Any


async def _settle(client: Client) -> None:
    queue = client.app[keys.QUEUE]
    assert isinstance(queue, LocalQueue)
    await queue.join()


async def test_reply_goes_through_the_inbound_pipeline_into_the_conversation(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Any,
) -> None:
    officer = await staff_factory(service.id)
    case = await make_case(sessions, vault, service.id, assigned=officer.id)
    await sign_in(client, officer)
    page = await client.get("/sandbox", params={"person": str(case.person_id)})
    text = await page.text()
    assert page.status == 200 and "SANDBOX" in text and "Jordan Rivera" in text
    token = await csrf_from(client, "/sandbox")
    response = await client.post(
        "/sandbox/reply", data={"person_id": str(case.person_id), "body": "Running late, sorry", "csrf_token": token}
    )
    assert response.status == 200
    await _settle(client)
    async with sessions() as db:
        message = await db.scalar(select(InboundMessage).where(InboundMessage.service_id == service.id))
        assert message is not None
        assert message.provider_id.startswith("sandbox-") and message.channel == "sms"
        assert message.state == "processed" and message.person_id == case.person_id and message.case_id == case.case_id
        assert vault.open(message.sender_enc) == case.phone
        conversation = await db.get(Conversation, message.conversation_id)
        assert conversation is not None and conversation.person_id == case.person_id
        kinds = (await db.scalars(select(RecordEntry.kind).where(RecordEntry.case_id == case.case_id))).all()
        assert "inbound" in kinds
    thread = await (await client.get("/sandbox", params={"person": str(case.person_id)})).text()
    assert "Running late, sorry" in thread and "Reply from this phone" in thread


async def test_stop_from_the_sandbox_phone_opts_the_number_out(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Any,
) -> None:
    officer = await staff_factory(service.id)
    case = await make_case(sessions, vault, service.id, assigned=officer.id)
    await sign_in(client, officer)
    token = await csrf_from(client, "/sandbox")
    opened = await client.post("/sandbox", data={"number": case.phone, "csrf_token": token})
    assert opened.status == 200 and case.phone in await opened.text()
    response = await client.post("/sandbox/reply", data={"number": case.phone, "body": "STOP", "csrf_token": token})
    assert response.status == 200
    await _settle(client)
    async with sessions() as db:
        opt_out = await db.scalar(
            select(OptOut).where(OptOut.service_id == service.id, OptOut.address_index == vault.blind_index(case.phone))
        )
        assert opt_out is not None and opt_out.opted_out


async def test_reply_needs_a_body_and_a_number(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    officer = await staff_factory(service.id)
    await sign_in(client, officer)
    token = await csrf_from(client, "/sandbox")
    assert (
        await client.post("/sandbox/reply", data={"number": "+12025550143", "body": " ", "csrf_token": token})
    ).status == 400
    assert (
        await client.post("/sandbox/reply", data={"number": "not a phone", "body": "hi", "csrf_token": token})
    ).status == 400
    async with sessions() as db:
        assert (await db.scalar(select(InboundMessage.id).where(InboundMessage.service_id == service.id))) is None


async def test_sandbox_is_off_when_twilio_is_configured(
    make_client: Any, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    client = await make_client(twilio_account_sid="AC" + "1" * 32, twilio_auth_token="t" * 32)
    officer = await staff_factory(service.id)
    await sign_in(client, officer)
    page = await client.get("/sandbox")
    text = await page.text()
    assert page.status == 200 and 'data-testid="sandbox-off"' in text and "Send reply" not in text
    token = await csrf_from(client, "/sandbox")
    refused = await client.post("/sandbox/reply", data={"number": "+12025550143", "body": "hi", "csrf_token": token})
    assert refused.status == 403
    async with sessions() as db:
        assert (await db.scalar(select(InboundMessage.id).where(InboundMessage.service_id == service.id))) is None
