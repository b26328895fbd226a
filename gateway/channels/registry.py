"""Which sender serves each channel, chosen from settings in one readable place.

| channel | provider                                   | otherwise |
| sms     | Twilio, when GATEWAY_TWILIO_ACCOUNT_SID set | sandbox   |
| email   | SMTP, when GATEWAY_SMTP_HOST set            | sandbox   |
| letter  | `gateway.letters.channel.LetterSender`, set by `open_job_context` (it needs the database) |

Test API keys use `sandbox_senders()` whatever the settings, so they never reach a provider.
Build once at start-up (web `cleanup_ctx`, arq `on_startup`) and `close_senders()` at shutdown.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.channels.base import ChannelSender
from gateway.channels.sandbox import SandboxSender
from gateway.channels.smtp_email import SmtpEmailSender
from gateway.channels.twilio_sms import TwilioSmsSender
from gateway.domain import Channel
from gateway.settings import Settings


async def build_senders(settings: Settings) -> dict[Channel, ChannelSender]:
    """One sender per channel: the real provider where it is configured, the sandbox elsewhere."""
    senders: dict[Channel, ChannelSender] = sandbox_senders()
    if settings.twilio_account_sid and settings.twilio_auth_token:
        twilio = TwilioSmsSender(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            api_base=settings.twilio_api_base,
            timeout=settings.twilio_timeout,
            max_connections=settings.delivery_concurrency,
        )
        await twilio.open()
        senders[Channel.SMS] = twilio
    if settings.smtp_host:
        senders[Channel.EMAIL] = SmtpEmailSender(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            tls_mode=settings.smtp_tls,
            timeout=settings.smtp_timeout,
            pool_size=settings.smtp_pool_size,
        )
    return senders


def sandbox_senders() -> dict[Channel, ChannelSender]:
    """A sandbox sender for every channel: for test API keys and embedded mode."""
    return {channel: SandboxSender(channel) for channel in Channel}


async def close_senders(senders: Mapping[Channel, ChannelSender]) -> None:
    """Close every sender once (a sender serving several channels is closed once)."""
    closed: set[int] = set()
    for sender in senders.values():
        if id(sender) not in closed:
            closed.add(id(sender))
            await sender.close()
