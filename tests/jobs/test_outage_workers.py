"""1,000 SMS accepted during a Twilio outage longer than the retry budget, scaled: PostgreSQL, arq, two workers.

Real processes, as in `test_worker_kill.py`: the fake Twilio (its own process, switched into its outage
mode: every send answered 503, nothing taken; signed `sent`/`delivered` callbacks once it takes one),
two `gateway worker` processes, and the web app in this process (scaled: it commits and enqueues, and
takes the callbacks). The breaker is shared through Redis. Each notification must reach `delivered`
exactly once, with one attempt, and the fake must receive each body once, oldest first across
delivery batches (within a few batches: see the assertion).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from gateway.app import create_app
from gateway.crypto import Vault
from gateway.db import Notification
from gateway.db.engine import make_engine, session_factory
from gateway.domain import NotificationStatus
from tests.conftest import SECRET
from tests.conftest import test_settings as make_settings
from tests.factories import make_service
from tests.jobs.conftest import ACCOUNT, SMS_FROM, SMS_TEMPLATE, TOKEN, bearer
from tests.jobs.test_worker_kill import (  # noqa: F401 - fixtures
    Client,
    FakeTwilioProcess,
    Processes,
    count_by_status,
    free_port,
    gateway_env,
    own_postgres,
    processes,
)

S = NotificationStatus
TOTAL = 1000
OUTAGE_SECONDS = 6.0  # the retry budget with these settings: under 2 s
BATCH = 100
WORKER_SETTINGS = {
    "retry_backoff_seconds": "0.05",
    "retry_backoff_max_seconds": "0.2",
    "breaker_probe_seconds": "0.2",
    "sweep_interval_seconds": "1",
    "sweep_grace_seconds": "1",
    "twilio_timeout": "2",
    "job_timeout_seconds": "10",
    "delivery_batch_size": str(BATCH),
    "log_level": "warning",
}
BODY = "Outage {:04d}: your appointment is on Monday."


@pytest.fixture
async def outage_twilio(processes: Processes) -> AsyncIterator[FakeTwilioProcess]:  # noqa: F811
    port = free_port()
    await processes.start(
        "twilio",
        *("-m", "tests.fakes.twilio_server", "--port", str(port), "--auto-callbacks"),
        *("--account-sid", ACCOUNT, "--auth-token", TOKEN),
        env=gateway_env(),
    )
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        fake = FakeTwilioProcess(f"http://127.0.0.1:{port}", http)
        for _ in range(300):
            with contextlib.suppress(aiohttp.ClientError):
                await fake.counts()
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the fake Twilio did not start:\n" + processes.log("twilio"))
        yield fake


async def outage(fake: FakeTwilioProcess, status: int | None) -> dict[str, Any]:
    async with fake.http.post(f"{fake.url}/_fake/outage", json={"status": status}) as response:
        response.raise_for_status()
        result: dict[str, Any] = await response.json()
        return result


async def held(url: str) -> int:
    engine = make_engine(url)
    try:
        async with session_factory(engine)() as session:
            return int(
                await session.scalar(
                    select(func.count()).where(
                        Notification.status == S.CREATED.value,
                        Notification.held_for.is_not(None),
                        Notification.next_attempt_at.is_(None),
                    )
                )
                or 0
            )
    finally:
        await engine.dispose()


async def test_a_thousand_messages_ride_out_an_outage_with_two_workers(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    aiohttp_client: Callable[..., Awaitable[Client]],
    own_postgres: str,  # noqa: F811
    live_redis: str,
    redis_prefix: str,
    processes: Processes,  # noqa: F811
    outage_twilio: FakeTwilioProcess,
    vault: Vault,
) -> None:
    web_port = free_port()
    shared = {
        "database_url": own_postgres,
        "redis_url": live_redis,
        "redis_prefix": redis_prefix,
        "secret_key": SECRET,
        "public_url": f"http://127.0.0.1:{web_port}",
        "twilio_account_sid": ACCOUNT,
        "twilio_auth_token": TOKEN,
        "twilio_api_base": outage_twilio.url,
    }
    worker_env = gateway_env(**shared, **WORKER_SETTINGS)
    settings = make_settings(**shared, api_rate_limit_per_minute=10**6)
    client = await aiohttp_client(await aiohttp_server(create_app(settings), port=web_port))
    engine = make_engine(own_postgres)
    try:
        service = await make_service(session_factory(engine), vault)
    finally:
        await engine.dispose()
    await processes.run(
        "service-update",
        *("-m", "gateway", "service", "update", str(service.id), "--sms-sender", SMS_FROM),
        *("--sms-per-second", "100000"),
        env=worker_env,
    )
    await outage(outage_twilio, 503)
    for name in ("worker-1", "worker-2"):
        await processes.start(name, "-m", "gateway", "worker", env=worker_env)

    limit = asyncio.Semaphore(16)

    async def create(i: int) -> str:
        payload = {
            "phone_number": "+12025550143",
            "template_id": str(SMS_TEMPLATE),
            "personalisation": {"message": BODY.format(i)},
        }
        async with limit:
            answer = await client.post("/v2/notifications/sms", json=payload, headers=bearer(service))
            assert answer.status == 201, await answer.text()
            return str((await answer.json())["id"])

    started = time.monotonic()
    ids = await asyncio.gather(*(create(i) for i in range(TOTAL)))
    body_of = {nid: BODY.format(i) for i, nid in enumerate(ids)}
    while time.monotonic() - started < OUTAGE_SECONDS or await held(own_postgres) < TOTAL - 1:
        assert time.monotonic() - started < 60, f"only {await held(own_postgres)} held"
        await asyncio.sleep(0.1)
    during = await outage(outage_twilio, None)
    assert during["refused"] >= 5 and (await outage_twilio.counts())[0] == 0
    recovered = time.monotonic()

    statuses = await count_by_status(own_postgres, service.id)
    while statuses.get(S.DELIVERED.value, 0) < TOTAL and time.monotonic() - recovered < 45:
        await asyncio.sleep(0.25)
        statuses = await count_by_status(own_postgres, service.id)
    drained = time.monotonic() - recovered
    assert statuses == {S.DELIVERED.value: TOTAL}, (statuses, processes.log("worker-1")[-2000:])

    messages = (await outage_twilio.listing())["messages"]
    bodies = Counter(m["body"] for m in messages)
    assert set(bodies) == set(body_of.values()) and max(bodies.values()) == 1  # every one, exactly once
    engine = make_engine(own_postgres)
    try:
        async with session_factory(engine)() as session:
            rows = (
                await session.execute(
                    select(Notification.id, Notification.attempts)
                    .where(Notification.service_id == service.id)
                    .order_by(Notification.created_at, Notification.id)
                )
            ).all()
    finally:
        await engine.dispose()
    assert {attempts for _, attempts in rows} == {1}
    rank = {body_of[str(nid)]: r for r, (nid, _) in enumerate(rows)}
    latest, worst = -1, 0
    for m in messages:
        worst = max(worst, latest - rank[m["body"]])
        latest = max(latest, rank[m["body"]])
    # one batch at a time per sender, but the sweeper (every second here) may release one more while a
    # batch is out, and two workers run what is released side by side: within a few batches of order
    assert worst < 3 * BATCH, f"a message arrived {worst} places out of acceptance order"
    print(
        "outage, 1,000 with two workers:",
        {"refused": during["refused"], "drained_s": round(drained, 1), "worst_lag": worst},
    )
