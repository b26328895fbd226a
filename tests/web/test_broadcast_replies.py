"""Replies to a broadcast reach each recipient's own conversation, as any reply does: for a directory
audience, and for an uploaded list whose numbers are known people's (linked when written)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import keys
from gateway.crypto import Vault
from gateway.db import Conversation, InboundMessage, Notification
from gateway.jobs.queue import LocalQueue
from gateway.settings import Settings
from tests.broadcasts.directory import add_client
from tests.factories import ServiceUnderTest
from tests.web.staff import csrf_from
from tests.web.test_broadcasts_pages import draft, post_form, signed_in


async def _delivered(
    sessions: async_sessionmaker[AsyncSession], bid: uuid.UUID, count: int
) -> dict[uuid.UUID, uuid.UUID]:
    for _ in range(100):
        async with sessions() as db:
            rows = (
                await db.execute(
                    select(Notification.person_id, Notification.id, Notification.status).where(
                        Notification.broadcast_id == bid
                    )
                )
            ).all()
        if sum(1 for *_, s in rows if s == "delivered") == count:
            return {pid: nid for pid, nid, _ in rows}
        await asyncio.sleep(0.05)
    raise AssertionError(rows)


async def test_each_reply_reaches_its_recipients_conversation(
    aiohttp_client: Any,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    service: ServiceUnderTest,
    staff_factory: Any,
) -> None:
    officer = await staff_factory(service.id)
    ana = await add_client(sessions, vault, service.id, "Ana Alvarez", office="Main")
    ben = await add_client(sessions, vault, service.id, "Ben Brown", office="Main")
    cy = await add_client(sessions, vault, service.id, "Cy Chen", office="Elsewhere")
    client = await signed_in(aiohttp_client, settings, officer)
    by_office = await draft(client, audience="office", office="Main", content="free_text", message="Closed today.")
    assert (await post_form(client, f"/broadcasts/{by_office}/send", f"/broadcasts/{by_office}")).status == 303
    sent = await _delivered(sessions, by_office, 2)
    listed = await draft(
        client,
        audience="upload",
        content="free_text",
        message="Hi ((name))",
        file=("l.csv", f"phone number,name\n{cy.phone},Cy\n"),
    )
    assert (await post_form(client, f"/broadcasts/{listed}/send", f"/broadcasts/{listed}")).status == 303
    sent |= await _delivered(sessions, listed, 1)
    assert set(sent) == {ana.person_id, ben.person_id, cy.person_id}  # the uploaded number was linked to Cy
    for person in (ana, ben, cy):
        token = await csrf_from(client, "/sandbox")
        answer = await client.post(
            "/sandbox/reply", data={"number": person.phone, "body": f"Thanks from {person.name}", "csrf_token": token}
        )
        assert answer.status == 200
    queue = client.app[keys.QUEUE]
    assert isinstance(queue, LocalQueue)
    await queue.join()
    async with sessions() as db:
        for person in (ana, ben, cy):
            message = await db.scalar(select(InboundMessage).where(InboundMessage.person_id == person.person_id))
            assert message is not None and vault.open(message.body_enc) == f"Thanks from {person.name}"
            conversation = await db.get(Conversation, message.conversation_id)
            assert conversation is not None and conversation.person_id == person.person_id
