"""The inbound SMTP listener (aiosmtpd) for replies to the gateway's emails.

Outbound email carries `Reply-To: reply+<token>@<reply domain>` (`gateway.reply_address`); the MX
for that domain points here. `gateway serve` starts the listener when GATEWAY_INBOUND_SMTP_PORT is
set, on GATEWAY_INBOUND_SMTP_HOST (default GATEWAY_HOST), inside the web process's event loop.

* RCPT TO an address that is not a valid reply address (no token, a forged or altered one, or a
  notification that does not exist) is refused then and there: `550 5.1.1 No such recipient`.
* Messages over GATEWAY_INBOUND_SMTP_MAX_BYTES (1 MB by default) are refused with 552 (aiosmtpd
  enforces it, and announces it in EHLO's SIZE).
* A message is parsed by `gateway.inbound.email_parse`, stored as one `InboundMessage` (channel
  email, provider id = Message-ID, so a re-sent message is stored once) in the service of the
  notification it answers, with `reply_to_notification_id` naming it, and handed to the queue like
  an SMS. It is stored for the first valid reply address it was sent to: a reply names one.
* 250 only once the row is committed; a failure to store is a 451, so the sending server retries.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from dataclasses import dataclass
from typing import Any

import structlog
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.db import Notification
from gateway.domain import Channel
from gateway.inbound.email_parse import parse_email
from gateway.inbound.store import Arrival, Enqueuer, enqueue_processing, store_inbound
from gateway.recipients import email_index_form
from gateway.reply_address import parse_reply_address

log = structlog.get_logger()

MAX_RECIPIENTS = 10
NO_SUCH_RECIPIENT = "550 5.1.1 No such recipient"
TARGETS = "gateway_targets"
Target = tuple[uuid.UUID, uuid.UUID, str]  # notification id, service id, reply address


@dataclass
class ListenerDeps:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    vault: Vault
    queue: Enqueuer | None


class ReplyHandler:
    """aiosmtpd handler: accepts reply addresses only, stores each message, enqueues it."""

    def __init__(self, deps: ListenerDeps) -> None:
        self.deps = deps

    # aiosmtpd calls these hooks by name.
    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        notification_id = parse_reply_address(self.deps.vault, address)
        if notification_id is None:
            return NO_SUCH_RECIPIENT
        async with self.deps.sessions() as db:
            service_id = await db.scalar(
                select(Notification.service_id).where(
                    Notification.id == notification_id, Notification.channel == Channel.EMAIL.value
                )
            )
        if service_id is None:
            return NO_SUCH_RECIPIENT
        envelope.rcpt_tos.append(address)
        # Kept on the envelope, which aiosmtpd replaces after each message and on RSET.
        targets: list[Target] = getattr(envelope, TARGETS, [])
        targets.append((notification_id, service_id, address.lower()))
        setattr(envelope, TARGETS, targets)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        targets: list[Target] = getattr(envelope, TARGETS, [])
        if not targets:
            return "554 5.5.1 No valid recipients"
        raw = envelope.original_content or envelope.content
        content = raw if isinstance(raw, bytes) else str(raw or "").encode()
        parsed = await asyncio.to_thread(parse_email, content)
        notification_id, service_id, address = targets[0]
        sender = parsed.sender or email_index_form(str(envelope.mail_from or ""))
        arrival = Arrival(
            service_id=service_id,
            channel=Channel.EMAIL,
            provider_id=parsed.message_id,
            sender=sender,
            recipient=address,
            body=parsed.text,
            media=parsed.attachments,
            reply_to_notification_id=notification_id,
        )
        try:
            inbound_id, created = await store_inbound(self.deps.engine, self.deps.vault, arrival)
        except Exception as exc:
            log.error("smtp_inbound.store_failed", notification_id=str(notification_id), error=type(exc).__name__)
            return "451 4.3.0 Could not store the message; try again later"
        if created:
            await enqueue_processing(self.deps.queue, inbound_id)
        log.info("smtp_inbound.accepted", inbound_id=str(inbound_id), duplicate=not created)
        return "250 2.0.0 Message accepted"


class SmtpListener:
    """An aiosmtpd server in the current event loop; `port` is the one it got (useful with port 0)."""

    def __init__(self, deps: ListenerDeps, host: str, port: int, max_bytes: int) -> None:
        self.handler = ReplyHandler(deps)
        self.host, self.port, self.max_bytes = host, port, max_bytes
        self._server: asyncio.base_events.Server | None = None
        self._connections: weakref.WeakSet[SMTP] = weakref.WeakSet()

    def _protocol(self) -> SMTP:
        smtp = SMTP(
            self.handler,
            data_size_limit=self.max_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname="gateway",
            ident="gateway inbound",
        )
        self._connections.add(smtp)
        return smtp

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self.host, self.port)
        sockets: Any = self._server.sockets
        self.port = int(sockets[0].getsockname()[1])
        log.info("smtp_inbound.listening", host=self.host, port=self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for smtp in list(self._connections):  # a client left connected must not hold shutdown up
                if smtp.transport is not None:
                    smtp.transport.close()
            self._connections.clear()
            await self._server.wait_closed()
            self._server = None
        await asyncio.sleep(0)
