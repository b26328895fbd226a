"""One-click unsubscribe (RFC 8058) for email the gateway sends on its own: reminders, broadcasts.

A notification written with `one_click_unsubscribe` (`gateway.outbound.prepare_notification`) goes
out with `List-Unsubscribe: <{GATEWAY_PUBLIC_URL}/unsubscribe/<token>>` and, when that URL is https,
`List-Unsubscribe-Post: List-Unsubscribe=One-Click` (`gateway.channels.smtp_email.build_email`).
The token names the notification and carries a keyed MAC (`gateway.signed_ids`, purpose
`unsubscribe:`), so it cannot be made up or altered, and a reply token is no unsubscribe token.

A mail client POSTs to the link (`gateway.web.unsubscribe_page`); the opt-out is written through the
consent ledger (`gateway.sendtime.consent`) for exactly the address the notification was sent to (its
recipient blind index), on email, for the whole service, as a STOP would be. A GET only shows a page
with a button: mail scanners follow links, and must not unsubscribe anyone by doing so.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.crypto import Vault
from gateway.db import Notification, Service
from gateway.domain import Channel, RecordKind
from gateway.record import append_in_session
from gateway.sendtime.consent import record_opt_out
from gateway.signed_ids import read_signed_id, sign_id

PURPOSE = b"unsubscribe:"
PATH = "/unsubscribe/"
SOURCE = "one-click unsubscribe"
ACTOR = "recipient:one-click-unsubscribe"


def unsubscribe_url(base_url: str, vault: Vault, notification_id: uuid.UUID) -> str:
    """The signed one-click link for one notification."""
    return f"{base_url.rstrip('/')}{PATH}{sign_id(vault, PURPOSE, notification_id)}"


@dataclass(frozen=True)
class Unsubscribing:
    """What a valid link stands for: the email notification and its service's name."""

    notification_id: uuid.UUID
    service_id: uuid.UUID
    service_name: str
    address_index: str
    person_id: uuid.UUID | None
    case_id: uuid.UUID | None


async def find_link(session: AsyncSession, vault: Vault, token: str) -> Unsubscribing | None:
    """The notification a token names, if the token is ours and names an email; None otherwise."""
    notification_id = read_signed_id(vault, PURPOSE, token)
    if notification_id is None:
        return None
    row = (
        await session.execute(
            select(Notification, Service.name)
            .join(Service, Service.id == Notification.service_id)
            .where(Notification.id == notification_id, Notification.channel == Channel.EMAIL.value)
        )
    ).first()
    if row is None:
        return None
    n, name = row
    return Unsubscribing(n.id, n.service_id, name, n.recipient_index, n.person_id, n.case_id)


async def unsubscribe(session: AsyncSession, link: Unsubscribing) -> bool:
    """Opt the link's address out of the service's email, in the caller's transaction, with a case
    record entry when the email belonged to a case. Returns False when it already was."""
    changed = await record_opt_out(
        session,
        service_id=link.service_id,
        channel=Channel.EMAIL,
        address_index=link.address_index,
        source=SOURCE,
        person_id=link.person_id,
    )
    if link.case_id is not None:
        state = "opted out" if changed else "was already opted out"
        await append_in_session(
            session,
            link.case_id,
            RecordKind.CONSENT,
            ACTOR,
            f"The recipient used the unsubscribe link in an email and {state} of email from this service",
            {"source": SOURCE, "changed": changed, "person_id": str(link.person_id) if link.person_id else None},
            notification_id=link.notification_id,
        )
    return changed
