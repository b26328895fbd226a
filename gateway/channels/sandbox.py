"""SANDBOX channel: a sender that sends nothing anywhere.

Used in embedded mode when a channel has no provider configured, for test API keys (which must
never reach a provider), and for letters until the print-batch channel exists. The caller has
already stored the message in the database; the staff UI shows it in the "sandbox phone" or
"sandbox mailbox", where a person can read it and reply as the recipient. Delivery inside the
gateway is all there is to do, so the result is `delivered` at once.
"""

from __future__ import annotations

import uuid

from gateway.channels.base import BaseSender, OutboundMessage, SendResult
from gateway.domain import Channel, NotificationStatus


class SandboxSender(BaseSender):
    """SANDBOX: accepts every message for its channel and sends it nowhere."""

    name = "sandbox"

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    async def _send(self, message: OutboundMessage) -> SendResult:
        return SendResult("sandbox", f"sandbox-{uuid.uuid4().hex}", NotificationStatus.DELIVERED)

    def __repr__(self) -> str:
        return f"SandboxSender({self.channel.value!r})"
