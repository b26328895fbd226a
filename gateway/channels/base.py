"""The channel interface: what a sender is given, what it answers, and the shared part of every send.

Each provider (Twilio, SMTP, sandbox) is a small subclass of `BaseSender` that only implements
`_send()`: it maps our `OutboundMessage` to its API and its errors to `RetryableError` or
`PermanentError`. `BaseSender.send()` does the rest once, for every provider: timing, one
structured log line per send, and turning anything unexpected (a timeout, a dropped connection,
a bug in a provider library) into `RetryableError`, so the delivery job only ever sees the two
error types from `gateway.errors`. Errors that are the provider's as a whole (a timeout, a refused
connection, 5xx, 429) are `ProviderUnavailable`, a `RetryableError` that pauses the sender (its
circuit breaker, `gateway.jobs.breaker`) instead of using the message's attempts; a bug stays the
message's own `RetryableError`, so one poisoned message cannot pause a sender.

Logs carry the notification id, provider, channel, duration and outcome (with the provider's
error code). They never carry message bodies, phone numbers, email addresses or the provider's
error text, because that text often quotes the recipient ("The 'To' number +1555... is not valid").
"""

from __future__ import annotations

import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

import structlog
from structlog.typing import FilteringBoundLogger

from gateway.domain import Channel, NotificationStatus
from gateway.errors import ChannelError, PermanentError, ProviderUnavailable, RetryableError

logger = structlog.get_logger("gateway.channels")


class ProviderConfigError(PermanentError):
    """The provider refused *us*, not the recipient: bad credentials, unknown sender, missing From.

    A `PermanentError` (retrying the same call cannot help, and code that only knows the two base
    types still does the right thing), but the delivery job should record it as
    `technical-failure` rather than `permanent-failure`: the recipient's address is fine, and an
    operator has to fix a setting.
    """


@dataclass(frozen=True)
class OutboundMessage:
    """One rendered message for one recipient on one channel."""

    notification_id: uuid.UUID
    channel: Channel
    to: str  # E.164 phone or email address
    body: str  # plain text
    subject: str | None = None  # email
    html: str | None = None  # email HTML part
    sender: str | None = None  # SMS: From (+E.164) or Messaging Service SID ('MG' + 32 hex); email: From
    reply_to: str | None = None  # email Reply-To (identifies the conversation)
    status_callback: str | None = None  # SMS StatusCallback URL
    list_unsubscribe: str | None = None  # email: https URL or mailto: for List-Unsubscribe
    calendar: str | None = None  # email: an .ics invitation (gateway.appointments.ics), attached as text/calendar


@dataclass(frozen=True)
class SendResult:
    """What the provider said when it took the message.

    `status` is what the notification becomes now:

    * `sending` (Twilio): accepted by the provider; a delivery receipt (status callback) follows.
    * `sent` (SMTP): accepted by the relay. SMTP sends no receipt, so this is where an email
      stays; `delivered` would claim more than we know. Only a bounce (inbound DSN) may later
      move it to `permanent-failure`, so the sending-timeout sweeper must leave `sent` alone.
    * `delivered` (sandbox): kept inside the gateway, which is the whole of its delivery.

    `provider_ref` is the Twilio message SID (`SM...`), the email `Message-ID` with its angle
    brackets (as it appears in `In-Reply-To` / `References` of replies), or `sandbox-<hex>`.
    """

    provider: str
    provider_ref: str
    status: NotificationStatus


@runtime_checkable
class ChannelSender(Protocol):
    """One provider for one channel. `send` raises only `RetryableError` / `PermanentError`."""

    name: str
    channel: Channel

    async def send(self, message: OutboundMessage) -> SendResult: ...

    async def find_taken(self, message: OutboundMessage, since: datetime) -> list[SendResult] | None: ...

    async def close(self) -> None: ...


class BaseSender:
    """Shared timing, logging and error translation; subclasses implement `_send` (and `close`)."""

    name: str = "base"
    channel: Channel

    async def send(self, message: OutboundMessage) -> SendResult:
        log = logger.bind(notification_id=str(message.notification_id), provider=self.name, channel=str(self.channel))
        started = time.perf_counter()
        try:
            if message.channel != self.channel:
                raise PermanentError(
                    f"a {message.channel} message was given to the {self.channel} sender",
                    code="wrong-channel",
                )
            result = await self._send(message)
        except Exception as exc:
            error = exc if isinstance(exc, ChannelError) else self._translate(exc, log)
            log.warning(
                "channel.send",
                outcome="retryable" if error.retryable else "permanent",
                error_type=type(error).__name__,
                code=error.code,
                retry_after=error.retry_after,
                duration_ms=_elapsed_ms(started),
            )
            if error is exc:
                raise
            raise error from exc
        log.info(
            "channel.send",
            outcome="accepted",
            status=str(result.status),
            provider_ref=result.provider_ref,
            duration_ms=_elapsed_ms(started),
        )
        return result

    def _translate(self, exc: Exception, log: FilteringBoundLogger) -> ChannelError:
        """Anything a provider did not map is worth another try later; say where it came from."""
        if isinstance(exc, TimeoutError):
            return ProviderUnavailable(f"{self.name} did not answer in time", code="timeout")
        if isinstance(exc, OSError):
            return ProviderUnavailable(f"{self.name} connection failed: {type(exc).__name__}", code="connection")
        # A bug or an unmapped library error. Log where it happened but not str(exc), which may
        # quote the recipient.
        frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f"{frame.filename}:{frame.lineno} in {frame.name}" if frame else "unknown"
        log.error("channel.unexpected_error", error_type=type(exc).__name__, where=where)
        return RetryableError(f"{self.name} failed unexpectedly: {type(exc).__name__}", code="unexpected")

    async def _send(self, message: OutboundMessage) -> SendResult:
        raise NotImplementedError

    async def find_taken(self, message: OutboundMessage, since: datetime) -> list[SendResult] | None:
        """What this provider took since `since` that looks like `message` (same recipient, sender and
        text), oldest first: asked before a message whose last send got no answer goes again
        (`gateway.jobs.unsure`). None: this provider cannot be asked (SMTP, the sandbox)."""
        return None

    async def close(self) -> None:
        """Release connections; the default has none."""


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
