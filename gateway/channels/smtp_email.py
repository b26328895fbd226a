"""Email through an SMTP relay with aiosmtplib, over a small pool of reused connections.

Connections are opened lazily, at most `pool_size` at once, and reused (a new TLS connection
per message is about three times slower). A connection that breaks is dropped and replaced; a
pooled one the server closed while it sat idle gets one retry on a fresh connection.

TLS modes: `tls` = implicit TLS (usually port 465); `starttls` = STARTTLS required (a server
that does not offer it is a configuration error); `none` = plain text, never upgraded. AUTH
happens on connect when a username is set.

Errors: a dropped or refused connection, a timeout, and a 4xx reply to anything but RCPT (421
service not available, 451 at MAIL or DATA) are `ProviderUnavailable`: the relay is failing for
every message, so the sender pauses (`gateway.jobs.breaker`). A 4xx reply to RCPT (450 mailbox
busy) is about that recipient: `RetryableError`, using the message's attempts. A 5xx reply
(550 mailbox unknown, 554 rejected) is `PermanentError` with the reply code and the server's
text. Failures that are ours, not the recipient's (AUTH refused, sender refused with 5xx, no
STARTTLS, an untrusted certificate), are `ProviderConfigError`.
"""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Literal

import aiosmtplib

from gateway.appointments.ics import method_of
from gateway.channels.base import BaseSender, OutboundMessage, ProviderConfigError, SendResult
from gateway.domain import Channel, NotificationStatus
from gateway.errors import ChannelError, PermanentError, ProviderUnavailable, RetryableError

TlsMode = Literal["starttls", "tls", "none"]


def build_email(message: OutboundMessage) -> EmailMessage:
    """The MIME message: text (+ HTML alternative) and the headers a bulk sender should set."""
    if not message.sender:
        raise ProviderConfigError("no email From address", code="no-sender")
    email = EmailMessage()
    email["From"] = message.sender
    email["To"] = message.to
    email["Subject"] = message.subject or ""
    email["Date"] = format_datetime(datetime.now(UTC))
    domain = parseaddr(message.sender)[1].rpartition("@")[2] or "localhost"
    # One Message-ID per notification, whichever send: a message sent again after a send that got no answer
    # (which SMTP cannot be asked about, `gateway.jobs.unsure`) is the same message, and mailboxes that keep
    # one copy per Message-ID (Gmail among them) show it once.
    email["Message-ID"] = f"<{message.notification_id}@{domain}>"
    if message.reply_to:
        email["Reply-To"] = message.reply_to
    if message.list_unsubscribe:
        target = message.list_unsubscribe.strip().strip("<>")
        email["List-Unsubscribe"] = f"<{target}>"
        if target.startswith("https://"):
            # RFC 8058 one-click: mail clients POST to the URL instead of opening it.
            email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: out-of-office replies must not answer
    email.set_content(message.body)
    if message.html:
        email.add_alternative(message.html, subtype="html")
    if message.calendar:
        email.add_attachment(
            message.calendar.encode(),
            maintype="text",
            subtype="calendar",
            filename="appointment.ics",
            params={"method": method_of(message.calendar), "charset": "utf-8"},
        )
    return email


class SmtpEmailSender(BaseSender):
    """Sends email through one SMTP relay. `connections_opened` counts connections made."""

    name = "smtp"
    channel = Channel.EMAIL

    def __init__(
        self,
        host: str,
        port: int = 587,
        username: str | None = None,
        password: str | None = None,
        tls_mode: TlsMode = "starttls",
        timeout: float = 15.0,
        pool_size: int = 4,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        if tls_mode not in ("starttls", "tls", "none"):
            raise ValueError(f"tls_mode must be starttls, tls or none, not {tls_mode!r}")
        self.host, self.port, self.tls_mode, self.timeout = host, port, tls_mode, timeout
        self._username, self._password = username, password
        self._tls_context = tls_context
        self._slots = asyncio.Semaphore(pool_size)  # at most pool_size connections exist at once
        self._idle: list[aiosmtplib.SMTP] = []
        self._local_hostname: str | None = None  # resolved once (getfqdn), not per connection
        self.connections_opened = 0

    async def _send(self, message: OutboundMessage) -> SendResult:
        try:
            email = build_email(message)
            async with self._slots:
                client, reused = await self._checkout()
                try:
                    await self._deliver(client, email)
                except aiosmtplib.SMTPServerDisconnected:
                    if not reused:
                        raise
                    # The server closed the pooled connection while it was idle (or restarted):
                    # the message was not taken, so try once on a new connection.
                    self._drop_idle()
                    client, _ = await self._checkout()
                    await self._deliver(client, email)
        except aiosmtplib.SMTPException as exc:
            raise _map_smtp_error(exc) from exc
        except ssl.SSLCertVerificationError as exc:  # (also a ValueError) during STARTTLS
            raise ProviderConfigError("SMTP server certificate is not trusted", code="tls-verify") from exc
        except ValueError as exc:  # an address or header (CR/LF) that cannot be sent safely
            raise PermanentError(f"cannot send to this address: {type(exc).__name__}", code="invalid") from exc
        return SendResult(self.name, str(email["Message-ID"]), NotificationStatus.SENT)

    async def _checkout(self) -> tuple[aiosmtplib.SMTP, bool]:
        """An idle connected client (reused=True) or a newly connected one."""
        while self._idle:
            client = self._idle.pop()
            if client.is_connected:
                return client, True
            client.close()
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self._username or None,
            password=self._password if self._username else None,
            local_hostname=self._local_hostname,
            timeout=self.timeout,
            use_tls=self.tls_mode == "tls",
            start_tls=self.tls_mode == "starttls",
            tls_context=self._tls_context,
        )
        await client.connect()
        self._local_hostname = client.local_hostname
        self.connections_opened += 1
        return client, False

    async def _deliver(self, client: aiosmtplib.SMTP, email: EmailMessage) -> None:
        """Send on `client`, then return it to the pool if it is still good, else close it."""
        keep = False
        try:
            await client.send_message(email)
            keep = True
        except aiosmtplib.SMTPRecipientsRefused:
            keep = True  # the server answered; aiosmtplib has reset the envelope
            raise
        except aiosmtplib.SMTPResponseException as exc:
            keep = exc.code != 421  # 421: the server is closing this connection
            raise
        finally:
            if keep and client.is_connected:
                self._idle.append(client)
            else:
                client.close()

    def _drop_idle(self) -> None:
        while self._idle:
            self._idle.pop().close()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            try:
                await asyncio.wait_for(client.quit(), timeout=min(self.timeout, 2.0))
            except (aiosmtplib.SMTPException, TimeoutError, OSError):
                client.close()


def _map_smtp_error(exc: aiosmtplib.SMTPException) -> ChannelError:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = exc.recipients[0] if exc.recipients else None
        if refused is None:
            return RetryableError("all recipients refused", code="rcpt")
        return _by_reply_code(refused.code, refused.message, RetryableError)
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        return _by_reply_code(exc.code, exc.message, RetryableError)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return ProviderConfigError(f"SMTP AUTH refused: {exc.message}", code=str(exc.code))
    if isinstance(exc, aiosmtplib.SMTPSenderRefused) and exc.code >= 500:
        return ProviderConfigError(f"sender refused: {exc.message}", code=str(exc.code))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _by_reply_code(exc.code, exc.message, ProviderUnavailable)
    if isinstance(exc, aiosmtplib.SMTPTimeoutError):
        return ProviderUnavailable("SMTP server did not answer in time", code="timeout")
    if _caused_by(exc, ssl.SSLCertVerificationError):
        return ProviderConfigError("SMTP server certificate is not trusted", code="tls-verify")
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected | aiosmtplib.SMTPConnectError):
        return ProviderUnavailable(f"SMTP connection failed: {type(exc).__name__}", code="connection")
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return PermanentError(exc.message, code="not-supported")
    # Bare SMTPException: STARTTLS or AUTH required but not offered by the server.
    return ProviderConfigError(exc.message, code="smtp-config")


def _by_reply_code(code: int, text: str, transient: type[RetryableError]) -> ChannelError:
    """5xx: permanent; otherwise `transient` (the recipient's RetryableError, or the relay's ProviderUnavailable)."""
    if 500 <= code < 600:
        return PermanentError(text, code=str(code))
    return transient(text, code=str(code))


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
