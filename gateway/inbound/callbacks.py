"""The service's inbound-SMS callback: each received text POSTed to its URL, as GOV.UK Notify does.

When a service has `inbound_callback_url` (and a sealed bearer token), the pipeline enqueues
`send_inbound_callback(ctx, inbound_id)` after the message is handled. The body is Notify's:

    {"id", "source_number", "destination_number", "message", "date_received"}

Posting, bearer token, timeout and retries with backoff are `gateway.callbacks.post_callback`'s, as
for delivery receipts.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog

from gateway.api.present import timestamp
from gateway.callbacks import backoff, post_callback
from gateway.db import InboundMessage, Service
from gateway.domain import Channel

__all__ = ["MAX_TRIES", "SEND_INBOUND_CALLBACK", "backoff", "callback_body", "callback_job_id", "send_inbound_callback"]

log = structlog.get_logger()

SEND_INBOUND_CALLBACK = "send_inbound_callback"
MAX_TRIES = 6


def callback_job_id(inbound_id: uuid.UUID | str) -> str:
    return f"inbound-callback:{inbound_id}"


def callback_body(message: InboundMessage, sender: str, content: str) -> dict[str, Any]:
    return {
        "id": str(message.id),
        "source_number": sender,
        "destination_number": message.recipient,
        "message": content,
        "date_received": timestamp(message.received_at),
    }


async def send_inbound_callback(ctx: dict[str, Any], inbound_id: str) -> str:
    """POST one received text to its service's callback URL; retry with backoff on failure."""
    sessions, vault = ctx["sessions"], ctx["vault"]
    async with sessions() as session:
        message = await session.get(InboundMessage, uuid.UUID(inbound_id))
        if message is None or message.channel != Channel.SMS.value:
            return "skipped"
        service = await session.get(Service, message.service_id)
    if service is None or not service.inbound_callback_url or not service.inbound_callback_token_enc:
        return "no callback configured"
    return await post_callback(
        ctx,
        url=service.inbound_callback_url,
        token=vault.open(service.inbound_callback_token_enc),
        body=callback_body(message, vault.open(message.sender_enc), vault.open(message.body_enc)),
        max_tries=MAX_TRIES,
        log=log.bind(inbound_id=inbound_id),
    )
