"""`GET /v2/received-text-messages`: the service's received texts, newest first, as Notify shows them.

    {"received_text_messages": [{"id", "user_number", "notify_number", "created_at", "service_id",
     "content"}], "links": {"current": ..., "next": ...}}

250 per page; `older_than=<id>` gives the page after that message. As in Notify, `next` is present
whenever the page is not empty, so a client walks until it gets an empty page. Only SMS, only the
caller's service; an `older_than` id from another service gives an empty page.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from gateway import keys
from gateway.api.auth import caller
from gateway.api.errors import json_response
from gateway.api.paging import newest_first
from gateway.api.present import timestamp
from gateway.crypto import Vault
from gateway.db import InboundMessage
from gateway.domain import Channel

PATH = "/v2/received-text-messages"

routes = web.RouteTableDef()


def present(vault: Vault, message: InboundMessage) -> dict[str, Any]:
    return {
        "id": str(message.id),
        "user_number": vault.open(message.sender_enc),
        "notify_number": message.recipient,
        "created_at": timestamp(message.received_at),
        "service_id": str(message.service_id),
        "content": vault.open(message.body_enc),
    }


@routes.get(PATH)
async def list_received_texts(request: web.Request) -> web.Response:
    who = caller(request)
    app = request.app
    mine = (InboundMessage.service_id == who.service_id, InboundMessage.channel == Channel.SMS.value)
    older_than = request.query.get("older_than")
    async with app[keys.SESSIONS]() as session:
        rows: list[InboundMessage] = await newest_first(
            session,
            select(InboundMessage).where(*mine),
            when=InboundMessage.received_at,
            ident=InboundMessage.id,
            scope=mine,
            older_than=older_than,
        )
    base = app[keys.SETTINGS].base_url
    links = {"current": f"{base}{PATH}" + (f"?older_than={older_than}" if older_than else "")}
    if rows:
        links["next"] = f"{base}{PATH}?older_than={rows[-1].id}"
    vault = app[keys.VAULT]
    return json_response({"received_text_messages": [present(vault, m) for m in rows], "links": links})
