"""The web app enqueues what it commits; limits answer Notify's 429s; nothing is lost while Redis is down."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import keys
from gateway.app import create_app
from gateway.crypto import Vault
from gateway.db import Notification
from gateway.domain import Channel, NotificationStatus
from gateway.jobs.context import close_job_context, open_job_context
from gateway.jobs.queue import LocalQueue
from gateway.settings import Settings
from tests.conftest import SECRET
from tests.factories import ServiceUnderTest, make_service
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio_server import FakeTwilio
from tests.jobs.conftest import (
    EMAIL_TEMPLATE,
    SMS_TEMPLATE,
    Harness,
    add_notification,
    bearer,
    job_settings,
    set_service,
)

S = NotificationStatus
TO = "+12025550143"
Client = TestClient  # type: ignore[type-arg]


def sms(message: str = "Office closed Friday") -> dict[str, Any]:
    return {"phone_number": TO, "template_id": str(SMS_TEMPLATE), "personalisation": {"message": message}}


async def settle(client: Client, harness: Harness) -> None:
    """Embedded: wait for the app's own queue. Scaled: run an arq burst worker."""
    queue = client.app[keys.QUEUE]
    if isinstance(queue, LocalQueue):
        await queue.join()
    else:
        await harness.run()


async def test_api_sends_are_delivered(
    aiohttp_client: Any,
    settings_for: Callable[..., Settings],
    harness: Harness,
    sender_service: ServiceUnderTest,
    fake_twilio: tuple[FakeTwilio, str],
    smtp: FakeSmtpServer,
) -> None:
    client = await aiohttp_client(create_app(settings_for()))
    email = {
        "email_address": "jordan@example.org",
        "template_id": str(EMAIL_TEMPLATE),
        "personalisation": {"subject": "Hearing", "message": "3 March"},
    }
    answers = await asyncio.gather(
        client.post("/v2/notifications/sms", json=sms(), headers=bearer(sender_service)),
        client.post("/v2/notifications/email", json=email, headers=bearer(sender_service)),
    )
    assert [a.status for a in answers] == [201, 201]
    sms_id, email_id = [uuid.UUID((await a.json())["id"]) for a in answers]
    await settle(client, harness)

    [text] = fake_twilio[0].messages
    assert (await harness.get(sms_id)).provider_ref == text.sid and text.body == "Office closed Friday"
    assert (await harness.get(email_id)).status == S.SENT and len(smtp.messages) == 1
    got = await client.get(f"/v2/notifications/{sms_id}", headers=bearer(sender_service))
    assert (await got.json())["status"] == "sending"


async def test_api_key_rate_limit_answers_notifys_429(
    aiohttp_client: Any, settings_for: Callable[..., Settings], sender_service: ServiceUnderTest
) -> None:
    client = await aiohttp_client(create_app(settings_for(api_rate_limit_per_minute=2)))
    statuses = []
    for _ in range(3):
        answer = await client.post("/v2/notifications/sms", json=sms(), headers=bearer(sender_service))
        statuses.append(answer.status)
    assert statuses == [201, 201, 429]
    assert await answer.json() == {
        "status_code": 429,
        "errors": [
            {"error": "RateLimitError", "message": "Exceeded rate limit for key type LIVE of 2 requests per 60 seconds"}
        ],
    }
    other_key = await client.post(
        "/v2/notifications/sms", json=sms(), headers=bearer(sender_service, sender_service.test_key)
    )
    assert other_key.status == 201  # each key has its own bucket


async def test_daily_limit_answers_notifys_429(
    aiohttp_client: Any,
    settings_for: Callable[..., Settings],
    harness: Harness,
    sessions: async_sessionmaker[AsyncSession],
    sender_service: ServiceUnderTest,
) -> None:
    await set_service(sessions, sender_service.id, daily_limit=3)
    await add_notification(harness, sender_service.id, Channel.SMS, TO)  # sent earlier today
    client = await aiohttp_client(create_app(settings_for()))
    post = client.post

    first = await post("/v2/notifications/sms", json=sms(), headers={**bearer(sender_service), "Idempotency-Key": "k1"})
    again = await post("/v2/notifications/sms", json=sms(), headers={**bearer(sender_service), "Idempotency-Key": "k1"})
    assert (first.status, again.status) == (201, 201)  # the repeat returns the first and is not counted
    assert (await post("/v2/notifications/sms", json=sms(), headers=bearer(sender_service))).status == 201
    refused = await post("/v2/notifications/sms", json=sms(), headers=bearer(sender_service))
    assert refused.status == 429
    assert await refused.json() == {
        "status_code": 429,
        "errors": [{"error": "TooManyRequestsError", "message": "Exceeded send limits (3) for today"}],
    }
    test_key = bearer(sender_service, sender_service.test_key)
    assert (await post("/v2/notifications/sms", json=sms(), headers=test_key)).status == 201  # not counted


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A redis-server of this test's own, on its own port, that the test may stop and start again."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._process = await asyncio.create_subprocess_exec(
            "redis-server", *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        client: Redis = Redis.from_url(self.url)
        try:
            for _ in range(200):
                try:
                    await client.ping()
                    return
                except (RedisError, OSError):
                    await asyncio.sleep(0.02)
            raise AssertionError("redis-server did not start")
        finally:
            await client.aclose()

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            await self._process.wait()
        self._process = None


@pytest.fixture
async def own_redis() -> AsyncIterator[RedisServer]:
    if not any((Path(d) / "redis-server").exists() for d in os.environ.get("PATH", "").split(os.pathsep)):
        pytest.skip("redis-server is not installed")
    server = RedisServer()
    await server.start()
    yield server
    await server.stop()


async def test_nothing_is_lost_while_redis_is_down(
    aiohttp_client: Any,
    database_url: str,
    own_redis: RedisServer,
    sender_service: ServiceUnderTest,
    fake_twilio: tuple[FakeTwilio, str],
    smtp: FakeSmtpServer,
) -> None:
    settings = job_settings(database_url, fake_twilio[1], smtp.port, redis_url=own_redis.url, sweep_grace_seconds=0)
    client = await aiohttp_client(create_app(settings))
    await own_redis.stop()

    answer = await client.post(
        "/v2/notifications/sms", json=sms("Sent while Redis was down"), headers=bearer(sender_service)
    )
    assert answer.status == 201
    nid = uuid.UUID((await answer.json())["id"])
    async with client.app[keys.SESSIONS]() as session:
        stored = await session.get(Notification, nid)
        assert stored is not None and stored.status == S.CREATED

    await own_redis.start()  # empty: the enqueue was lost with it
    ctx = await open_job_context(settings, with_senders=False)
    harness = Harness(settings, ctx)
    try:
        await harness.run(with_cron=True)  # the worker's sweeper finds the row

        n = await harness.get(nid)
        assert n.status == S.SENDING
        assert [m.body for m in fake_twilio[0].messages if m.sid == n.provider_ref] == ["Sent while Redis was down"]
    finally:
        await close_job_context(ctx)


async def _gateway(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    return int(process.returncode or 0), out.decode()


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({f"GATEWAY_{k.upper()}": v for k, v in values.items()})
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return env


async def test_worker_command_needs_redis(tmp_path: Path) -> None:
    code, out = await _gateway(
        "worker", "--burst", env=_env(database_url=f"sqlite+aiosqlite:///{tmp_path}/g.db"), cwd=tmp_path
    )
    assert code == 2 and "GATEWAY_REDIS_URL is not set" in out


async def test_worker_command_delivers_in_burst_mode(
    tmp_path: Path, sqlite_url: str, live_redis: str, redis_prefix: str, vault: Vault
) -> None:
    values = {
        "database_url": sqlite_url,
        "redis_url": live_redis,
        "redis_prefix": redis_prefix,
        "secret_key": SECRET,
        "log_level": "warning",
    }
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    ctx = await open_job_context(settings, with_senders=False)
    harness = Harness(settings, ctx)
    try:
        made = await make_service(harness.sessions, vault)
        await set_service(harness.sessions, made.id)
        nid = await add_notification(harness, made.id, Channel.SMS, TO)
        await harness.deliver(nid)
        code, out = await _gateway("worker", "--burst", env=_env(**values), cwd=tmp_path)
        assert code == 0, out
        n = await harness.get(nid)
        assert (n.status, n.provider) == (S.DELIVERED, "sandbox")  # no Twilio configured: the SMS sandbox
    finally:
        await close_job_context(ctx)
