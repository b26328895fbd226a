"""A staff member cannot send to a retired person (DELETE /v2/people/{id}): the composer says why
and stores nothing; the same rule (`gateway.sendtime.policy.unsendable`) the delivery job applies."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.db import Notification
from gateway.directory.people import retire_person, upsert_person
from tests.factories import ServiceUnderTest
from tests.web.chat import add_conversation, set_sms_sender
from tests.web.conftest import StaffFactory
from tests.web.staff import csrf_from
from tests.web.test_conversations import MakeClient, signed_in_client

PHONE = "+12025550191"


async def test_send_to_a_retired_person_is_refused_with_the_reason(
    make_client: MakeClient,
    staff_factory: StaffFactory,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    await set_sms_sender(sessions, service.id)
    async with sessions() as db:
        body = {"first_name": "Casey", "last_name": "Client", "phone_numbers": [PHONE]}
        person, _ = await upsert_person(db, vault, service.id, "P-retired", body, "test")
        await db.commit()
    conversation = await add_conversation(sessions, vault, service.id, PHONE, "hello", person_id=person.id)
    client, _ = await signed_in_client(make_client, staff_factory, service.id)
    token = await csrf_from(client, "/inbox")
    sent = await client.post(f"/conversations/{conversation.id}/send", data={"csrf_token": token, "message": "Hi"})
    assert sent.status < 400
    async with sessions() as db:
        await retire_person(db, service.id, "P-retired", "test")
        await db.commit()
    refused = await client.post(f"/conversations/{conversation.id}/send", data={"csrf_token": token, "message": "Hi"})
    assert refused.status == 400
    assert "Casey Client has been retired" in await refused.text()
    async with sessions() as db:
        assert len((await db.scalars(select(Notification).where(Notification.service_id == service.id))).all()) == 1
