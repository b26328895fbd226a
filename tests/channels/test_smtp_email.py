"""SmtpEmailSender against a real aiosmtpd server: TLS modes, AUTH, MIME and headers, pool, errors."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

import pytest

from gateway.channels.base import OutboundMessage, ProviderConfigError
from gateway.channels.smtp_email import SmtpEmailSender
from gateway.domain import Channel, NotificationStatus
from gateway.errors import PermanentError, RetryableError
from tests.fakes.smtp_server import DISCONNECT, FakeSmtpServer

FROM = "Victim Services <notify@vs.agency.example>"
TO = "jordan@example.org"
NOTIFICATION_ID = uuid.UUID("6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b")

Servers = Callable[..., Awaitable[FakeSmtpServer]]
Senders = Callable[..., SmtpEmailSender]


def email(**fields: Any) -> OutboundMessage:
    values: dict[str, Any] = {"subject": "Hearing scheduled", "sender": FROM}
    values.update(fields)
    body = values.pop("body", "A hearing is set for 3 March. ¿Preguntas? Reply to this email.")
    notification_id = values.pop("notification_id", uuid.uuid4())
    return OutboundMessage(notification_id, Channel.EMAIL, values.pop("to", TO), body, **values)


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    started: list[FakeSmtpServer] = []

    async def start(**options: Any) -> FakeSmtpServer:
        server = await FakeSmtpServer(**options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


@pytest.fixture
async def senders() -> AsyncIterator[Senders]:
    made: list[SmtpEmailSender] = []

    def make(server: FakeSmtpServer, **options: Any) -> SmtpEmailSender:
        options.setdefault("tls_mode", server.tls)
        options.setdefault("tls_context", server.client_tls_context)
        options.setdefault("timeout", 5)
        sender = SmtpEmailSender(server.host, server.port, **options)
        made.append(sender)
        return sender

    yield make
    for sender in made:
        await sender.close()


async def test_plain_send_builds_a_proper_email(servers: Servers, senders: Senders) -> None:
    server = await servers()
    sender = senders(server)
    result = await sender.send(
        email(
            notification_id=NOTIFICATION_ID,
            html="<p>A hearing is set for <b>3 March</b>.</p>",
            reply_to="reply+c7f3@vs.agency.example",
            list_unsubscribe="https://gw.example/unsubscribe/abc",
        )
    )
    assert (result.provider, result.status) == ("smtp", NotificationStatus.SENT)
    [mail] = server.messages
    assert (mail.mail_from, mail.rcpt_tos, mail.tls) == ("notify@vs.agency.example", [TO], False)
    message = mail.message
    assert message["Message-ID"] == result.provider_ref and result.provider_ref.endswith("@vs.agency.example>")
    again = await sender.send(email(notification_id=NOTIFICATION_ID))  # the same notification, sent again
    assert again.provider_ref == result.provider_ref == f"<{NOTIFICATION_ID}@vs.agency.example>"
    assert message["From"] == FROM and message["To"] == TO and message["Subject"] == "Hearing scheduled"
    assert message["Reply-To"] == "reply+c7f3@vs.agency.example"
    assert message["List-Unsubscribe"] == "<https://gw.example/unsubscribe/abc>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"] is not None
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    assert "¿Preguntas?" in text.get_content()
    assert "<b>3 March</b>" in html.get_content()


async def test_text_only_and_mailto_unsubscribe(servers: Servers, senders: Senders) -> None:
    server = await servers()
    await senders(server).send(email(list_unsubscribe="mailto:unsub@vs.agency.example"))
    message = server.messages[0].message
    assert message.get_content_type() == "text/plain"
    assert message["List-Unsubscribe"] == "<mailto:unsub@vs.agency.example>"
    assert message["List-Unsubscribe-Post"] is None and message["Reply-To"] is None


async def test_starttls_with_test_ca(servers: Servers, senders: Senders) -> None:
    server = await servers(tls="starttls")
    await senders(server).send(email())
    assert server.messages[0].tls


async def test_starttls_with_untrusted_certificate_is_config_error(servers: Servers, senders: Senders) -> None:
    server = await servers(tls="starttls")
    with pytest.raises(ProviderConfigError) as caught:
        await senders(server, tls_context=None).send(email())
    assert caught.value.code == "tls-verify"


async def test_starttls_required_but_not_offered(servers: Servers, senders: Senders) -> None:
    server = await servers()
    with pytest.raises(ProviderConfigError):
        await senders(server, tls_mode="starttls").send(email())
    assert server.messages == []


async def test_implicit_tls(servers: Servers, senders: Senders) -> None:
    server = await servers(tls="tls")
    await senders(server).send(email())
    assert server.messages[0].tls


@pytest.mark.parametrize("tls", ["none", "starttls", "tls"])
async def test_auth_success(servers: Servers, senders: Senders, tls: str) -> None:
    server = await servers(tls=tls, username="gateway", password="s3cret")
    await senders(server, username="gateway", password="s3cret").send(email())
    assert server.messages[0].authenticated_as == "gateway"


async def test_server_requiring_auth_refuses_anonymous(servers: Servers, senders: Senders) -> None:
    server = await servers(username="gateway", password="s3cret")
    with pytest.raises(PermanentError) as caught:
        await senders(server).send(email())
    assert caught.value.code == "530"


async def test_auth_failure_is_config_error_and_does_not_hang(servers: Servers, senders: Senders) -> None:
    server = await servers(tls="tls", username="gateway", password="s3cret")
    started = time.monotonic()
    with pytest.raises(ProviderConfigError) as caught:
        await senders(server, username="gateway", password="wrong").send(email())
    assert time.monotonic() - started < 2
    assert caught.value.code == "535"
    assert server.auth_failures >= 1 and server.messages == []  # aiosmtplib tries PLAIN, then LOGIN


async def test_pool_reuses_connections(servers: Servers, senders: Senders) -> None:
    server = await servers(tls="starttls")
    sender = senders(server, pool_size=3)
    for _ in range(5):
        await sender.send(email())
    assert server.connections == 1
    await asyncio.gather(*(sender.send(email()) for _ in range(12)))
    assert len(server.messages) == 17
    assert server.connections <= 3 and sender.connections_opened == server.connections


async def test_451_is_retryable_and_connection_stays_usable(servers: Servers, senders: Senders) -> None:
    server = await servers()
    sender = senders(server)
    server.script("RCPT", "451 4.3.0 Mailbox temporarily unavailable")
    with pytest.raises(RetryableError) as caught:
        await sender.send(email())
    assert caught.value.code == "451"
    await sender.send(email())
    assert len(server.messages) == 1 and server.connections == 1


@pytest.mark.parametrize(
    ("command", "reply", "code"),
    [("RCPT", "550 5.1.1 No such user here", "550"), ("DATA", "554 5.7.1 Message rejected as spam", "554")],
)
async def test_5xx_is_permanent_with_server_text(
    servers: Servers, senders: Senders, command: Literal["RCPT", "DATA"], reply: str, code: str
) -> None:
    server = await servers()
    server.script(command, reply)
    with pytest.raises(PermanentError) as caught:
        await senders(server).send(email())
    assert caught.value.code == code and caught.value.reason == reply[4:]
    assert not isinstance(caught.value, ProviderConfigError)


async def test_sender_refused_is_config_error(servers: Servers, senders: Senders) -> None:
    server = await servers()
    server.script("MAIL", "553 5.7.1 Sender address rejected: not owned by user")
    with pytest.raises(ProviderConfigError) as caught:
        await senders(server).send(email())
    assert caught.value.code == "553"


async def test_server_down_is_retryable_and_recovers(servers: Servers, senders: Senders) -> None:
    server = await servers()
    sender = senders(server)
    await sender.send(email())
    await server.stop()
    with pytest.raises(RetryableError) as caught:
        await sender.send(email())
    assert caught.value.code == "connection"
    await server.start()  # same port
    await sender.send(email())
    assert len(server.messages) == 2


async def test_restarted_server_is_reached_without_an_error(servers: Servers, senders: Senders) -> None:
    server = await servers()
    sender = senders(server)
    await sender.send(email())
    await server.stop()  # drops the pooled connection
    await server.start()
    await sender.send(email())  # the stale connection is replaced, not reported as a failure
    assert len(server.messages) == 2 and server.connections == 2


async def test_missing_from_is_config_error(servers: Servers, senders: Senders) -> None:
    server = await servers()
    with pytest.raises(ProviderConfigError):
        await senders(server).send(email(sender=None))
    assert server.connections == 0


async def test_header_injection_is_refused(servers: Servers, senders: Senders) -> None:
    server = await servers()
    with pytest.raises(PermanentError):
        await senders(server).send(email(subject="Hi\r\nBcc: everyone@example.org"))
    assert server.messages == []


async def test_dropped_pooled_connection_is_retried_once(servers: Servers, senders: Senders) -> None:
    server = await servers()
    sender = senders(server)
    await sender.send(email())
    server.script("MAIL", DISCONNECT)  # the pooled connection dies under the next send
    await sender.send(email())
    assert len(server.messages) == 2 and server.connections == 2
