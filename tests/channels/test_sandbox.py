"""The sandbox sender, the registry that chooses senders, and BaseSender's shared error handling."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import structlog

from gateway.channels.base import BaseSender, ChannelSender, OutboundMessage, SendResult
from gateway.channels.registry import build_senders, close_senders, sandbox_senders
from gateway.channels.sandbox import SandboxSender
from gateway.channels.smtp_email import SmtpEmailSender
from gateway.channels.twilio_sms import TwilioSmsSender
from gateway.domain import Channel, NotificationStatus
from gateway.errors import PermanentError, RetryableError
from gateway.settings import Settings


def message(channel: Channel = Channel.SMS, to: str = "+15558675310") -> OutboundMessage:
    return OutboundMessage(uuid.uuid4(), channel, to, "Your appointment is confirmed")


def settings(**values: Any) -> Settings:
    """Settings from these values only: no .env file, and no provider settings from the environment."""
    unset: dict[str, Any] = {"twilio_account_sid": None, "twilio_auth_token": None, "smtp_host": None}
    unset.update(smtp_username=None, smtp_password=None, redis_url=None, database_url="sqlite+aiosqlite:///x.db")
    return Settings(_env_file=None, **(unset | values))


@pytest.mark.parametrize("channel", list(Channel))
async def test_sandbox_delivers_at_once(channel: Channel) -> None:
    sender = SandboxSender(channel)
    with structlog.testing.capture_logs() as logs:
        first = await sender.send(message(channel))
        second = await sender.send(message(channel))
    assert (first.provider, first.status) == ("sandbox", NotificationStatus.DELIVERED)
    assert first.provider_ref.startswith("sandbox-") and first.provider_ref != second.provider_ref
    assert [entry["provider"] for entry in logs] == ["sandbox", "sandbox"]
    assert "+15558675310" not in repr(logs)
    assert isinstance(sender, ChannelSender)


async def test_sandbox_refuses_another_channel() -> None:
    with pytest.raises(PermanentError) as caught:
        await SandboxSender(Channel.EMAIL).send(message(Channel.SMS))
    assert caught.value.code == "wrong-channel"


async def test_registry_uses_sandboxes_without_provider_settings() -> None:
    senders = await build_senders(settings())
    try:
        assert {channel: sender.name for channel, sender in senders.items()} == {
            Channel.SMS: "sandbox",
            Channel.EMAIL: "sandbox",
            Channel.LETTER: "sandbox",
        }
    finally:
        await close_senders(senders)


async def test_registry_uses_providers_when_configured() -> None:
    configured = settings(
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="token",
        twilio_api_base="http://127.0.0.1:9",
        smtp_host="mail.example.org",
        smtp_tls="tls",
        smtp_port=465,
    )
    senders = await build_senders(configured)
    try:
        assert isinstance(senders[Channel.SMS], TwilioSmsSender)
        assert isinstance(senders[Channel.EMAIL], SmtpEmailSender)
        assert isinstance(senders[Channel.LETTER], SandboxSender)
        assert senders[Channel.SMS].api_base == "http://127.0.0.1:9"  # type: ignore[attr-defined]
    finally:
        await close_senders(senders)


def test_test_keys_get_only_sandboxes() -> None:
    senders = sandbox_senders()
    assert set(senders) == set(Channel)
    assert all(isinstance(sender, SandboxSender) for sender in senders.values())


class _Broken(BaseSender):
    name = "broken"
    channel = Channel.SMS

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def _send(self, message: OutboundMessage) -> SendResult:
        raise self.error


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (TimeoutError(), "timeout"),
        (ConnectionResetError("reset by +15558675310"), "connection"),
        (KeyError("+15558675310"), "unexpected"),
    ],
)
async def test_base_turns_unexpected_errors_into_retryable(error: Exception, code: str) -> None:
    with structlog.testing.capture_logs() as logs, pytest.raises(RetryableError) as caught:
        await _Broken(error).send(message())
    assert caught.value.code == code and caught.value.__cause__ is error
    assert "+15558675310" not in repr(logs) and "+15558675310" not in caught.value.reason


async def test_base_passes_channel_errors_through() -> None:
    error = PermanentError("opted out", code="21610")
    with pytest.raises(PermanentError) as caught:
        await _Broken(error).send(message())
    assert caught.value is error
