"""Notify parity for the inbound side: received texts through the official client, the inbound callback."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiohttp import web
from notifications_python_client.notifications import NotificationsAPIClient
from sqlalchemy import update

from gateway import keys
from gateway.db import InboundMessage
from gateway.domain import Channel
from gateway.inbound.callbacks import backoff, send_inbound_callback
from gateway.inbound.store import Arrival, store_inbound
from tests.factories import make_service
from tests.inbound.conftest import Gateway, GatewayFactory, ServerFactory, add_person, bearer

PHONE = "+12025550143"


async def _store_many(gw: Gateway, count: int) -> list[uuid.UUID]:
    """Received texts, one a millisecond apart in `received_at`, stored as the webhook stores them."""
    engine, ids = gw.client.app[keys.ENGINE], []
    for i in range(count):
        arrival = Arrival(gw.service.id, Channel.SMS, f"SMbulk{uuid.uuid4().hex}", PHONE, gw.number, f"text {i}")
        inbound_id, _ = await store_inbound(engine, gw.vault, arrival)
        ids.append(inbound_id)
    async with gw.sessions() as session:  # listed only: not left for another test's sweeper
        await session.execute(update(InboundMessage).where(InboundMessage.id.in_(ids)).values(state="processed"))
        await session.commit()
    return ids


async def test_the_official_client_pages_through_received_texts(gw: Gateway, aiohttp_server: ServerFactory) -> None:
    await gw.text(PHONE, "the first one")
    ids = await _store_many(gw, 260)
    other = await make_service(gw.sessions, gw.vault)  # another service's texts never show
    foreign = Arrival(other.id, Channel.SMS, f"SM{uuid.uuid4().hex}", PHONE, "+15550001", "x")
    foreign_id, _ = await store_inbound(gw.client.app[keys.ENGINE], gw.vault, foreign)
    async with gw.sessions() as session:
        await session.execute(update(InboundMessage).where(InboundMessage.id == foreign_id).values(state="processed"))
        await session.commit()
    base = str(gw.client.make_url("")).rstrip("/")
    client = NotificationsAPIClient(gw.service.live_key, base_url=base)

    first_page = await asyncio.to_thread(client.get_received_texts)
    assert len(first_page["received_text_messages"]) == 250
    assert first_page["links"]["next"].endswith(f"older_than={first_page['received_text_messages'][-1]['id']}")
    texts = await asyncio.to_thread(lambda: list(client.get_received_texts_iterator()))
    assert len(texts) == 261 and len({t["id"] for t in texts}) == 261
    newest = texts[0]
    assert newest["id"] == str(ids[-1]) and newest["content"] == "text 259"
    oldest = texts[-1]
    assert (oldest["user_number"], oldest["notify_number"], oldest["content"]) == (PHONE, gw.number, "the first one")
    assert oldest["service_id"] == str(gw.service.id) and oldest["created_at"].endswith("Z")
    created = [t["created_at"] for t in texts]
    assert created == sorted(created, reverse=True)
    last = await asyncio.to_thread(client.get_received_texts, texts[-1]["id"])
    assert last["received_text_messages"] == [] and "next" not in last["links"]


async def test_received_texts_need_a_token_and_a_valid_older_than(gw: Gateway) -> None:
    assert (await gw.client.get("/v2/received-text-messages")).status == 401
    bad = await gw.client.get("/v2/received-text-messages?older_than=nope", headers=bearer(gw.service))
    assert bad.status == 400
    foreign = await gw.client.get(f"/v2/received-text-messages?older_than={uuid.uuid4()}", headers=bearer(gw.service))
    assert (await foreign.json())["received_text_messages"] == []


class CallbackReceiver:
    """A service's own endpoint for received texts: answers with the scripted statuses, then 200."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.calls.append((request.headers.get("Authorization", ""), await request.json()))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)


async def test_received_texts_are_posted_to_the_service_callback_with_retries(
    make_gateway: GatewayFactory, aiohttp_server: ServerFactory
) -> None:
    gw = await make_gateway(retry_backoff_seconds=0.05)
    receiver = CallbackReceiver([500, 503])
    app = web.Application()
    app.router.add_post("/notify/inbound", receiver.handle)
    server = await aiohttp_server(app)
    await gw.update_service(
        inbound_callback_url=str(server.make_url("/notify/inbound")),
        inbound_callback_token_enc=gw.vault.seal("callback-bearer-token-123"),
    )
    await add_person(gw, PHONE)
    await gw.text(PHONE, "Is Tuesday still on?")
    await gw.settle()  # the pipeline enqueued the callback; 500, 503, then 200 after backing off
    [message] = await gw.inbound()
    assert len(receiver.calls) == 3
    assert {auth for auth, _ in receiver.calls} == {"Bearer callback-bearer-token-123"}
    assert receiver.calls[-1][1] == {
        "id": str(message.id),
        "source_number": PHONE,
        "destination_number": gw.number,
        "message": "Is Tuesday still on?",
        "date_received": message.received_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    assert [backoff(gw.settings, n) for n in (1, 2, 3)] == [0.05, 0.1, 0.2]


async def test_a_callback_refused_with_4xx_is_not_retried_and_the_last_try_gives_up(
    gw: Gateway, aiohttp_server: ServerFactory
) -> None:
    receiver = CallbackReceiver([403, 500])
    app = web.Application()
    app.router.add_post("/cb", receiver.handle)
    server = await aiohttp_server(app)
    await gw.update_service(
        inbound_callback_url=str(server.make_url("/cb")), inbound_callback_token_enc=gw.vault.seal("t" * 12)
    )
    [inbound_id] = await _store_many(gw, 1)
    ctx = {"settings": gw.settings, "sessions": gw.sessions, "vault": gw.vault, "job_try": 1}
    assert await send_inbound_callback(ctx, str(inbound_id)) == "refused: 403"
    assert await send_inbound_callback({**ctx, "job_try": 6}, str(inbound_id)) == "gave up: HTTP 500"
