"""Fixtures for the delivery tests: a job harness over both queue backends, fake Twilio and SMTP, data.

`harness` runs every test that uses it twice per database: with the in-process `LocalQueue` and with
arq on the real Redis (a unique GATEWAY_REDIS_PREFIX, so a unique queue, per test; burst workers).
Without Redis the arq half is skipped locally and fails in CI (`require_services`).
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.db import Notification, NotificationEvent, Service
from gateway.domain import Channel, KeyType
from gateway.jobs.context import JobContext, close_job_context, open_job_context
from gateway.jobs.delivery import enqueue_deliveries
from gateway.jobs.queue import LocalQueue
from gateway.jobs.worker import make_worker
from gateway.outbound import prepare_notification
from gateway.settings import Settings
from gateway.template_store import TemplateStore
from gateway.templating import Renderer
from tests.conftest import test_settings
from tests.factories import ServiceUnderTest, make_service
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio_server import FAKE_TWILIO, FakeTwilio, make_fake_twilio
from tests.services import redis_url, require_services

ACCOUNT = "AC" + "2e" * 16
TOKEN = "fake-twilio-token-for-job-tests"
SMS_FROM = "+15005550006"
EMAIL_FROM = "Victim Services <notify@vs.agency.example>"
REPLY_DOMAIN = "reply.vs.agency.example"
PUBLIC_URL = "https://gateway.agency.example"
SMS_TEMPLATE = uuid.UUID("91b96cb2-3bb9-4806-8eb8-cd401aba9c55")
EMAIL_TEMPLATE = uuid.UUID("a0d573e8-4e5c-43ae-a9ab-8a657559e03a")

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]


@pytest.fixture(scope="session")
async def live_redis() -> str:
    """The test Redis URL, once it answers; skip (or fail in CI) when it does not."""
    url = redis_url()
    client: Redis = Redis.from_url(url)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        require_services(f"Redis not reachable at {url} ({type(exc).__name__}); set GATEWAY_TEST_REDIS_URL")
    finally:
        await client.aclose()
    return url


@pytest.fixture
async def redis_prefix(live_redis: str) -> AsyncIterator[str]:
    """A GATEWAY_REDIS_PREFIX of this test's own; its keys are deleted afterwards."""
    prefix = f"gwtest-{secrets.token_hex(4)}"
    yield prefix
    client: Redis = Redis.from_url(live_redis)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def fake_twilio(aiohttp_server: ServerFactory) -> tuple[FakeTwilio, str]:
    app = make_fake_twilio(account_sid=ACCOUNT, auth_token=TOKEN)
    server = await aiohttp_server(app)
    return app[FAKE_TWILIO], str(server.make_url("")).rstrip("/")


@pytest.fixture
async def smtp() -> AsyncIterator[FakeSmtpServer]:
    server = await FakeSmtpServer().start()
    yield server
    await server.stop()


@dataclass(frozen=True)
class Backend:
    """Which queue runs the jobs: "local" (in-process) or "arq" (with this test's Redis URL and prefix)."""

    name: str
    redis_url: str | None = None
    redis_prefix: str = "gateway"


@pytest.fixture(params=["local", "arq"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "local":
        return Backend("local")
    return Backend("arq", request.getfixturevalue("live_redis"), request.getfixturevalue("redis_prefix"))


def job_settings(database_url: str, twilio_base: str, smtp_port: int, **overrides: Any) -> Settings:
    """Short timeouts and backoff, real channels pointed at the fakes, timers that do not fire."""
    values: dict[str, Any] = {
        "public_url": PUBLIC_URL,
        "twilio_account_sid": ACCOUNT,
        "twilio_auth_token": TOKEN,
        "twilio_api_base": twilio_base,
        "twilio_timeout": 0.5,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "smtp_tls": "none",
        "smtp_timeout": 2.0,
        "retry_backoff_seconds": 0.05,
        "retry_backoff_max_seconds": 0.2,
        "breaker_probe_seconds": 0.2,
        "sweep_interval_seconds": 3600.0,
        "job_timeout_seconds": 10.0,
    }
    values.update(overrides)
    return test_settings(database_url, **values)


@pytest.fixture
def settings_for(
    database_url: str,
    backend: Backend,
    fake_twilio: tuple[FakeTwilio, str],
    smtp: FakeSmtpServer,
) -> Callable[..., Settings]:
    """Settings for this test's backend; keyword arguments override."""

    def make(**overrides: Any) -> Settings:
        if backend.redis_url:
            overrides.setdefault("redis_url", backend.redis_url)
            overrides.setdefault("redis_prefix", backend.redis_prefix)
        return job_settings(database_url, fake_twilio[1], smtp.port, **overrides)

    return make


@dataclass
class Harness:
    """A job context as the web app builds it, and a way to run the queue until it is idle."""

    settings: Settings
    ctx: JobContext

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self.ctx["sessions"]

    async def deliver(self, *ids: uuid.UUID) -> None:
        await enqueue_deliveries(self.ctx["queue"], list(ids))

    async def run(self, *, with_cron: bool = False) -> None:
        """Run every queued job (retries included) to the end: LocalQueue.join, or an arq burst worker
        (without the sweeper's cron unless `with_cron`: other tests' old rows are not this test's business)."""
        queue = self.ctx["queue"]
        if isinstance(queue, LocalQueue):
            await queue.join()
            return
        options: dict[str, Any] = {} if with_cron else {"cron_jobs": []}
        worker = make_worker(self.settings, burst=True, handle_signals=False, poll_delay=0.02, **options)
        try:
            await worker.async_run()
        finally:
            await worker.close()

    async def get(self, notification_id: uuid.UUID) -> Notification:
        async with self.sessions() as session:
            found = await session.get(Notification, notification_id)
        assert found is not None
        return found

    async def events(self, notification_id: uuid.UUID) -> list[str]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(NotificationEvent.status)
                .where(NotificationEvent.notification_id == notification_id)
                .order_by(NotificationEvent.id)
            )
            return list(rows)


@pytest.fixture
async def harness(settings_for: Callable[..., Settings]) -> AsyncIterator[Harness]:
    settings = settings_for()
    ctx = await open_job_context(settings)
    yield Harness(settings, ctx)
    await close_job_context(ctx)


@pytest.fixture
async def sender_service(sessions: async_sessionmaker[AsyncSession], vault: Vault) -> ServiceUnderTest:
    """A service with an SMS From number, an email From and a reply domain."""
    made = await make_service(sessions, vault)
    await set_service(sessions, made.id, sms_per_second=100)
    return made


async def set_service(sessions: async_sessionmaker[AsyncSession], service_id: uuid.UUID, **values: Any) -> None:
    values = {"sms_sender": SMS_FROM, "email_from": EMAIL_FROM, "email_reply_domain": REPLY_DOMAIN, **values}
    async with sessions() as session:
        await session.execute(update(Service).where(Service.id == service_id).values(**values))
        await session.commit()


async def add_notification(
    h: Harness,
    service_id: uuid.UUID,
    channel: Channel,
    to: str,
    *,
    message: str = "Your appointment is on Monday at 10:00.",
    key_type: KeyType = KeyType.LIVE,
    **fields: Any,
) -> uuid.UUID:
    """Commit a notification in `created` (as the API does) without enqueuing it."""
    template_id = SMS_TEMPLATE if channel is Channel.SMS else EMAIL_TEMPLATE
    template = await TemplateStore(h.sessions).get(service_id, template_id)
    prepared = prepare_notification(
        vault=h.ctx["vault"],
        renderer=Renderer(),
        template=template,
        channel=channel,
        recipient=to,
        personalisation={"message": message, "subject": "Your appointment"},
        service_id=service_id,
        key_type=key_type,
        sender=SMS_FROM if channel is Channel.SMS else EMAIL_FROM,
    )
    row = {**prepared.row, **fields}
    async with h.sessions() as session:
        await session.execute(insert(Notification), [row])
        await session.execute(
            insert(NotificationEvent),
            [{"notification_id": row["id"], "status": row["status"], "at": row["created_at"]}],
        )
        await session.commit()
    return uuid.UUID(str(row["id"]))


def bearer(service: ServiceUnderTest, key: str | None = None) -> dict[str, str]:
    """Notify's auth header: a JWT signed with the key's secret."""
    token = jwt.encode(
        {"iss": str(service.id), "iat": int(time.time())}, service.secret(key or service.live_key), algorithm="HS256"
    )
    return {"Authorization": f"Bearer {token}"}
