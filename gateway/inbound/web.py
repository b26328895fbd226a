"""Mounting the inbound path on the web app: the Twilio webhook route and the SMTP listener.

`setup_inbound(app)` is called by `create_app`. Webhook rows are committed in groups by the
`InboundWriter` (`app[keys.INBOUND_WRITER]`). The SMTP listener runs in the web process's event
loop when GATEWAY_INBOUND_SMTP_PORT is set, and is reachable as `app[keys.INBOUND_SMTP]` (its
`port` is the one it got, for port 0).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from gateway import keys
from gateway.inbound.smtp_listener import ListenerDeps, SmtpListener
from gateway.inbound.writer import InboundWriter
from gateway.webhooks.twilio_inbound import setup_twilio_inbound


async def _smtp_listener(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    if settings.inbound_smtp_port is None:
        yield
        return
    deps = ListenerDeps(app[keys.ENGINE], app[keys.SESSIONS], app[keys.VAULT], app.get(keys.QUEUE))
    listener = SmtpListener(
        deps, settings.inbound_smtp_host or settings.host, settings.inbound_smtp_port, settings.inbound_smtp_max_bytes
    )
    await listener.start()
    app[keys.INBOUND_SMTP] = listener
    yield
    await listener.stop()


async def _writer(app: web.Application) -> AsyncIterator[None]:
    writer = InboundWriter(app[keys.ENGINE], app[keys.VAULT])
    writer.start()
    app[keys.INBOUND_WRITER] = writer
    yield
    await writer.stop()


def setup_inbound(app: web.Application) -> None:
    setup_twilio_inbound(app)
    app.cleanup_ctx.append(_writer)
    app.cleanup_ctx.append(_smtp_listener)
