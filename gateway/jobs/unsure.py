"""A send that got no answer may have been taken: ask the provider before sending the message again.

A send ends without an answer when the provider does not reply in time, the connection drops, a
library fails, or a worker dies mid-send (the sweeper takes the claim back once its lease is out).
The provider may have taken the message all the same, and sending it again would text a client, or a
victim, twice. So such a row keeps `unsure_since`, the time of its first unanswered send
(`gateway.jobs.outcome`, and the sweeper's lease step), and its next send first asks the provider
(`ChannelSender.find_taken`: Twilio's Messages list for the recipient and sender) for a message with
the same text taken since then. One whose reference no other notification of ours holds is this one:
it is recorded as accepted with that reference, and nothing is sent.

A provider that cannot be asked (SMTP, the sandbox) sends again, as before. If asking fails because
the provider is down, the send counts as that provider-wide failure (held or retried, nothing sent);
if it fails for any other reason (say an API key not allowed to list messages), the message is sent
again and a warning logged, since a message that can never go is worse than one that may go twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
from sqlalchemy import select

from gateway.channels import ChannelSender, SendResult
from gateway.errors import ChannelError
from gateway.transitions import NOTIFICATIONS

if TYPE_CHECKING:
    from gateway.jobs.context import JobContext
    from gateway.jobs.prepare import Claimed

log = structlog.get_logger()


async def taken_already(ctx: JobContext, sender: ChannelSender, claimed: Claimed) -> SendResult | None:
    """What the provider answered for `claimed` on an unanswered earlier send, if it took it; else None.
    Raises the provider's `ChannelError` when it is failing as a whole (`provider_wide`)."""
    n = claimed.notification
    if n.unsure_since is None:
        return None
    try:
        found = await sender.find_taken(claimed.message, n.unsure_since)
    except ChannelError as error:
        if error.provider_wide:
            raise
        log.warning("delivery.lookup_failed", notification_id=str(n.id), provider=sender.name, code=error.code)
        return None
    if not found:
        return None
    c = NOTIFICATIONS.c
    async with ctx["sessions"]() as session:  # another notification's message with the same text is not this one
        known = set(
            (
                await session.scalars(
                    select(c.provider_ref).where(c.provider_ref.in_([r.provider_ref for r in found]), c.id != n.id)
                )
            ).all()
        )
    return next((r for r in found if r.provider_ref not in known), None)
