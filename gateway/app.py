"""`create_app(settings)`: builds the web application. Nothing is opened at import time.

Every resource (engine, writer, clients) is opened and closed in a `cleanup_ctx`, and reaches
the code through `app[KEY]` (all keys in `gateway.keys`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from gateway import keys
from gateway.api.auth import Keyring
from gateway.api.errors import make_error_middleware
from gateway.api.intake import IntakeWriter
from gateway.api.key_usage import KeyUsage
from gateway.api.routes import auth_middleware, setup_api
from gateway.clock import SYSTEM_CLOCK, Clock
from gateway.crypto import Vault
from gateway.db.engine import engine_from_settings, session_factory
from gateway.inbound.web import setup_inbound
from gateway.jobs.context import close_job_context, open_job_context
from gateway.jobs.delivery import DeliveryBatcher
from gateway.settings import Settings
from gateway.template_store import TemplateStore
from gateway.templating import Renderer
from gateway.web.middleware import web_middleware
from gateway.web.routes import setup_web
from gateway.webhooks.twilio_status import setup_twilio_status
from gateway.webhooks.twilio_voice import setup_twilio_voice


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    engine = engine_from_settings(settings)
    sessions = session_factory(engine)
    app[keys.ENGINE] = engine
    app[keys.SESSIONS] = sessions
    usage = KeyUsage(engine)
    app[keys.KEYRING] = Keyring(sessions, app[keys.VAULT], usage)
    app[keys.TEMPLATES] = TemplateStore(sessions)
    yield
    await usage.flush()
    await engine.dispose()


async def _jobs(app: web.Application) -> AsyncIterator[None]:
    """The job queue and rate limiter. Embedded (no Redis): jobs run in this process, with senders.
    Scaled: this process only enqueues; arq workers deliver."""
    settings = app[keys.SETTINGS]
    ctx = await open_job_context(
        settings,
        engine=app[keys.ENGINE],
        vault=app[keys.VAULT],
        with_senders=settings.redis_url is None,
        clock=app[keys.CLOCK],
    )
    app[keys.JOB_CONTEXT] = ctx
    app[keys.QUEUE] = ctx["queue"]
    app[keys.RATE_LIMITER] = ctx["limiter"]
    app[keys.LIVE] = ctx["live"]
    yield
    await close_job_context(ctx)


async def _intake(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    # committed rows go to delivery in `deliver_batch` jobs (gateway.jobs.delivery)
    batcher = DeliveryBatcher(app[keys.QUEUE], settings.delivery_batch_size, settings.delivery_batch_wait_seconds)
    writer = IntakeWriter(app[keys.ENGINE], after_commit=batcher.add)
    writer.start()
    app[keys.INTAKE] = writer
    yield
    await writer.stop()
    await batcher.close()


HSTS = "max-age=31536000"  # a year; no includeSubDomains: other hosts of the agency's domain are not ours


async def _strict_transport(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Strict-Transport-Security"] = HSTS


def create_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    """The whole gateway as one aiohttp application, configured by `settings`; `clock` is the real time
    unless a test or benchmark gives its own (`gateway.clock`)."""
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[make_error_middleware(settings.max_body_bytes), auth_middleware, web_middleware],
    )
    app[keys.SETTINGS] = settings
    app[keys.CLOCK] = clock or SYSTEM_CLOCK
    app[keys.VAULT] = Vault(settings.secret)
    app[keys.RENDERER] = Renderer()
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_jobs)
    app.cleanup_ctx.append(_intake)
    setup_api(app)
    setup_web(app)
    setup_inbound(app)
    setup_twilio_status(app)
    setup_twilio_voice(app)  # victim calls (gateway.victims.voice)
    if settings.base_url.startswith("https://"):
        # Served over https (behind a proxy that ends TLS): browsers must never fall back to http.
        app.on_response_prepare.append(_strict_transport)
    return app
