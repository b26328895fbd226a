"""Every `web.AppKey` the application uses, in one place."""

from __future__ import annotations

import weakref

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.api.auth import Caller, Keyring
from gateway.api.intake import IntakeWriter
from gateway.clock import Clock
from gateway.crypto import Vault
from gateway.inbound.smtp_listener import SmtpListener
from gateway.inbound.writer import InboundWriter
from gateway.jobs.context import JobContext
from gateway.jobs.queue import JobQueue
from gateway.live import LiveHub
from gateway.sendtime.ratelimit import RateLimiter
from gateway.settings import Settings
from gateway.template_store import TemplateStore
from gateway.templating import Renderer
from gateway.web.context import StaffContext, WebSession
from gateway.web.pages import PageRenderer
from gateway.web.passwords import Passwords
from gateway.web.sessions import SessionStore
from gateway.web.signin import SignIn

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
VAULT = web.AppKey("vault", Vault)
KEYRING = web.AppKey("keyring", Keyring)
TEMPLATES = web.AppKey("templates", TemplateStore)
RENDERER = web.AppKey("renderer", Renderer)
INTAKE = web.AppKey("intake", IntakeWriter)
# staff web interface
PAGES = web.AppKey("pages", PageRenderer)
PASSWORDS = web.AppKey("passwords", Passwords)
WEB_SESSIONS = web.AppKey("web_sessions", SessionStore)
SIGNIN = web.AppKey("signin", SignIn)
QUEUE: web.AppKey[JobQueue] = web.AppKey("queue")  # where deliveries are enqueued (gateway.jobs)
RATE_LIMITER: web.AppKey[RateLimiter] = web.AppKey("rate_limiter")
LIVE: web.AppKey[LiveHub] = web.AppKey("live")  # live pushes to staff browsers (gateway.live)
JOB_CONTEXT: web.AppKey[JobContext] = web.AppKey("job_context")  # the same ctx jobs get
CLOCK: web.AppKey[Clock] = web.AppKey("clock")  # "now" for due times and quiet hours (gateway.clock)
LIVE_SOCKETS = web.AppKey("live_sockets", weakref.WeakSet[web.WebSocketResponse])  # open /live sockets
INBOUND_SMTP = web.AppKey("inbound_smtp", SmtpListener)  # set only when the SMTP listener runs
INBOUND_WRITER = web.AppKey("inbound_writer", InboundWriter)  # group commit for inbound webhooks

# per-request values
CALLER = web.RequestKey("caller", Caller)
WEB_SESSION = web.RequestKey("web_session", WebSession)  # any live session, even half signed in
STAFF = web.RequestKey("staff", StaffContext)  # the signed-in staff member
CSRF_TOKEN = web.RequestKey("csrf_token", str)
