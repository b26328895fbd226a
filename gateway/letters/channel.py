"""The letter channel: the delivery job's sender for `letter` notifications.

"Sending" a letter means making it ready to print: the sender fixes what the letter prints (the
service's letterhead, the date on its clock, the address, the rendered text: `LetterContent`, sealed in
a `LetterDocument`), checks that it fits (at most `MAX_PAGES` pages), and answers `accepted`.
From `accepted` the day's print batch (`batch.py`) takes it to the mail house and makes it `received`.

The same sender serves live, team and test keys: a test key's letter gets its PDF like any other,
and the batch never prints it. Unlike the other channels this sender reads and writes the database
(its own table only); the work is local, so nothing waits on a provider meanwhile.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.channels.base import BaseSender, OutboundMessage, SendResult
from gateway.crypto import Vault
from gateway.db import LetterDocument, Notification, Service, Template
from gateway.db.write_lock import write_lock
from gateway.domain import Channel, NotificationStatus
from gateway.errors import ContentRefused
from gateway.letters.content import build_content, seal_content
from gateway.letters.pdf import page_count

MAX_PAGES = 10
PROVIDER = "letters"


class LetterSender(BaseSender):
    """Fixes a letter's content, checks it, and answers `accepted`; the print batch does the rest."""

    name = PROVIDER
    channel = Channel.LETTER

    def __init__(self, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], vault: Vault) -> None:
        self._engine, self._sessions, self._vault = engine, sessions, vault

    async def _send(self, message: OutboundMessage) -> SendResult:
        nid = message.notification_id
        async with self._sessions() as session:
            found = (
                await session.execute(
                    select(Notification, Service, Template.language, LetterDocument)
                    .join(Service, Service.id == Notification.service_id)
                    .join(Template, Template.id == Notification.template_id)
                    .outerjoin(LetterDocument, LetterDocument.notification_id == Notification.id)
                    .where(Notification.id == nid)
                )
            ).one()
        n, service, language, document = found
        accepted = SendResult(PROVIDER, f"letter-{nid.hex}", NotificationStatus.ACCEPTED)
        if document is not None:  # precompiled (checked at intake), or a retry after the document was written
            return accepted
        content = build_content(
            language=language,
            service_name=service.name,
            contact_block=service.letter_contact_block,
            zone_name=service.timezone,
            when=n.created_at,
            address=message.to,
            subject=message.subject or "",
            body=message.body,
            logo=service.letter_logo_sha256,
        )
        pages = await asyncio.to_thread(page_count, content)
        if pages > MAX_PAGES:
            raise ContentRefused(f"the letter is {pages} pages long; at most {MAX_PAGES}", code="letter-too-long")
        row = LetterDocument(
            notification_id=nid,
            service_id=n.service_id,
            kind="templated",
            content_enc=seal_content(self._vault, content),
            pages=pages,
        )
        async with write_lock(self._engine), self._sessions() as session:
            session.add(row)
            await session.commit()
        return accepted
