"""A worker SIGKILLed in the middle of a broadcast: the broadcast resumes where it was, every recipient gets
it, and none twice beyond the sends in flight at the kill.

As `tests/jobs/test_worker_kill.py`, everything real and in its own process: PostgreSQL (a database of
this test's own), Redis, the fake Twilio (slow answers, signed receipts, and it holds requests once a
third of the messages are taken, so sends are surely in flight at the kill), and TWO `gateway worker`
processes sharing the queue. The broadcast is made through the bulk API (the web app in scaled mode
here: it only writes and enqueues the pump). Worker 1 is SIGKILLed while requests are held; worker 2
and a replacement finish. The pump's chain may have been on the dead worker: the sweeper starts a new
one once its tick is stale. The window (GATEWAY_BROADCAST_WINDOW=200) keeps at most 200 of the 900
rows in the queue at once.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from gateway.app import create_app
from gateway.crypto import Vault
from gateway.db import Notification
from gateway.db.engine import make_engine, session_factory
from gateway.domain import NotificationStatus
from tests.conftest import SECRET
from tests.conftest import test_settings as make_settings
from tests.factories import ServiceUnderTest, make_service
from tests.jobs.conftest import ACCOUNT, SMS_FROM, TOKEN, bearer, live_redis, redis_prefix  # noqa: F401
from tests.jobs.test_worker_kill import (  # noqa: F401  (fixtures)
    KILL_AFTER,
    WORKER_SETTINGS,
    Client,
    FakeTwilioProcess,
    Processes,
    count_by_status,
    free_port,
    gateway_env,
    own_postgres,
    processes,
    twilio_process,
)

S = NotificationStatus
TOTAL = 900
CLOSURE = "bedc3058-bd4b-441b-bd27-93425a6dd857"


async def test_sigkill_mid_broadcast_every_recipient_once(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    aiohttp_client: Callable[..., Awaitable[Client]],
    own_postgres: str,  # noqa: F811
    live_redis: str,  # noqa: F811
    redis_prefix: str,  # noqa: F811
    processes: Processes,  # noqa: F811
    twilio_process: FakeTwilioProcess,  # noqa: F811
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
        "twilio_api_base": twilio_process.url,
    }
    worker_env = gateway_env(**shared, **WORKER_SETTINGS, broadcast_window="200")
    settings = make_settings(**shared)
    client = await aiohttp_client(await aiohttp_server(create_app(settings), port=web_port))
    engine = make_engine(own_postgres)
    try:
        service: ServiceUnderTest = await make_service(session_factory(engine), vault)
    finally:
        await engine.dispose()
    await processes.run(
        "service-update",
        *("-m", "gateway", "service", "update", str(service.id), "--sms-sender", SMS_FROM),
        *("--sms-per-second", "100000", "--quiet-hours", "00:00-23:59"),  # texts go whatever the hour
        env=worker_env,
    )
    rows = [["phone number", "office_name", "closure_date", "reopening_date"]]
    rows += [[f"+1202555{i:04d}", f"Office {i:04d}", "Friday", "Monday"] for i in range(TOTAL)]
    answer = await client.post(
        "/v2/notifications/bulk", json={"name": "kill", "template_id": CLOSURE, "rows": rows}, headers=bearer(service)
    )
    assert answer.status == 201, await answer.text()
    assert await count_by_status(own_postgres, service.id) == {"created": TOTAL}

    first = await processes.start("worker-1", "-m", "gateway", "worker", env=worker_env)
    other = await processes.start("worker-2", "-m", "gateway", "worker", env=worker_env)
    deadline = time.monotonic() + 60
    while True:
        arrived, requested = await twilio_process.counts()
        if arrived >= KILL_AFTER and requested > arrived:  # the fake holds requests from here on
            break
        assert first.returncode is None, processes.log("worker-1")
        assert time.monotonic() < deadline, processes.log("worker-1") + processes.log("worker-2")
        await asyncio.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    await first.wait()
    await asyncio.sleep(0.3)
    engine = make_engine(own_postgres)
    try:
        async with session_factory(engine)() as session:
            in_flight = int(
                await session.scalar(
                    select(func.count()).where(
                        Notification.service_id == service.id,
                        Notification.status == S.SENDING.value,
                        Notification.provider_ref.is_(None),
                    )
                )
                or 0
            )
            queued = int(
                await session.scalar(
                    select(func.count()).where(
                        Notification.service_id == service.id,
                        Notification.status == S.CREATED.value,
                        Notification.next_attempt_at.is_not(None),
                    )
                )
                or 0
            )
            never_handed = int(
                await session.scalar(
                    select(func.count()).where(
                        Notification.service_id == service.id,
                        Notification.status == S.CREATED.value,
                        Notification.next_attempt_at.is_(None),
                    )
                )
                or 0
            )
    finally:
        await engine.dispose()
    assert in_flight > 0, "nothing was in flight at the kill: the test proved nothing"
    assert never_handed > 0, "the whole broadcast was handed out before the kill: the window did not hold"
    assert queued <= 200 + 100, queued  # the window (and at most one batch being enqueued)
    await twilio_process.release()
    await processes.start("worker-3", "-m", "gateway", "worker", env=worker_env)
    deadline = time.monotonic() + 90
    statuses = await count_by_status(own_postgres, service.id)
    while statuses.get(S.DELIVERED.value, 0) < TOTAL and time.monotonic() < deadline:
        assert other.returncode is None, processes.log("worker-2")
        await asyncio.sleep(0.25)
        statuses = await count_by_status(own_postgres, service.id)
    assert statuses == {S.DELIVERED.value: TOTAL}, (statuses, processes.log("worker-2"), processes.log("worker-3"))
    messages = (await twilio_process.listing())["messages"]
    sent = Counter(m["to"] for m in messages)
    assert set(sent) == {r[0] for r in rows[1:]}, "a recipient never got it"
    duplicates = len(messages) - TOTAL
    assert duplicates <= in_flight, (duplicates, in_flight)
    assert max(sent.values()) <= 2
    detail: Any = await (await client.get("/v2/notifications/bulk", headers=bearer(service))).json()
    assert detail["bulk_jobs"][0]["job_status"] == "finished"
    print("broadcast worker kill:", {"in_flight": in_flight, "queued": queued, "duplicates": duplicates})
