"""Outbound channels: one interface (`ChannelSender`), one small class per provider.

`registry.build_senders(settings)` picks Twilio / SMTP / sandbox per channel; see `base` for
the interface and the shared timing, logging and error translation.
"""

from gateway.channels.base import (
    BaseSender,
    ChannelSender,
    OutboundMessage,
    ProviderConfigError,
    SendResult,
)
from gateway.channels.registry import build_senders, close_senders, sandbox_senders
from gateway.channels.sandbox import SandboxSender

__all__ = [
    "BaseSender",
    "ChannelSender",
    "OutboundMessage",
    "ProviderConfigError",
    "SandboxSender",
    "SendResult",
    "build_senders",
    "close_senders",
    "sandbox_senders",
]
