"""A worker SIGKILLed in the middle of 1,000 sends loses nothing, and resends no more than it had in flight.

Everything is real and in its own process where it would be in production: PostgreSQL (a database of
this test's own), Redis (a queue prefix of this test's own), the fake Twilio (`python -m
tests.fakes.twilio_server --delay 0.05 --auto-callbacks --hold-after 333`: once a third of the messages
are taken it holds further requests, so sends are surely in flight when the kill comes, however slow
the machine; every message it takes is followed by Twilio's signed `sent` and `delivered` callbacks),
and `gateway worker` (twice: killed, then its replacement). The web app runs in this process on a
real port, in scaled mode (it only commits and enqueues): the 1,000 notifications are created through
the real API, and the fake's status callbacks reach its real webhook at GATEWAY_PUBLIC_URL.

"Final" is the strongest version: each notification must reach `delivered`, which takes a send the
gateway recorded (provider reference) AND the fake's signed receipt for exactly that message. The
fake's listing (`/_fake/messages`) says what arrived there, so the test can check from outside:

* every notification is `delivered`, with the provider reference of a message that carried its body;
* none is missing: each notification's unique body arrived at the fake at least once;
* messages sent twice are no more than the rows in flight at the kill (claimed, `sending`, no
  provider reference yet: the worker may have handed them to Twilio but never wrote that down).

Recovery uses short settings: GATEWAY_JOB_TIMEOUT_SECONDS=5 (arq runs a SIGKILLed job again only after
job timeout + 10 s, as try 2), GATEWAY_SENDING_LEASE_SECONDS=3 (the sweeper takes an expired claim back
to `created`), and a sweep every second. Without PostgreSQL or Redis the test is skipped (a failure in
CI, GATEWAY_TEST_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from gateway.app import create_app
from gateway.crypto import Vault
from gateway.db import Notification
from gateway.db.engine import make_engine, session_factory
from gateway.domain import NotificationStatus
from tests.conftest import SECRET, fresh_postgres
from tests.conftest import test_settings as make_settings
from tests.factories import ServiceUnderTest, make_service
from tests.jobs.conftest import ACCOUNT, SMS_FROM, SMS_TEMPLATE, TOKEN, bearer

S = NotificationStatus
ROOT = Path(__file__).resolve().parents[2]
TOTAL = 1000
KILL_AFTER = TOTAL // 3  # messages arrived at the fake when the worker is killed
TWILIO_DELAY = 0.05
WORKER_SETTINGS = {
    "job_timeout_seconds": "5",
    "sending_lease_seconds": "3",
    "sweep_interval_seconds": "1",
    "sweep_grace_seconds": "1",
    "twilio_timeout": "2",
    "worker_max_jobs": "50",
    "log_level": "warning",
}
BODY = "Kill test {:04d}: your appointment is on Monday."
Client = TestClient[web.Request, web.Application]


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gateway_env(**values: str) -> dict[str, str]:
    """This environment without any GATEWAY_* variable, plus `values` as GATEWAY_<NAME>."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({f"GATEWAY_{k.upper()}": v for k, v in values.items()})
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.fixture
async def own_postgres() -> AsyncIterator[str]:
    """A fresh, migrated PostgreSQL database for this test alone (its worker's sweeper sees every row)."""
    async with fresh_postgres("gw_kill") as url:
        yield url


class Processes:
    """Subprocesses this test started, each logging to a file; stopped (or killed) at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.running: list[asyncio.subprocess.Process] = []

    async def start(self, name: str, *args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
        with (self.folder / f"{name}.log").open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable, *args, env=env, cwd=ROOT, stdout=log, stderr=asyncio.subprocess.STDOUT
            )
        self.running.append(process)
        return process

    async def run(self, name: str, *args: str, env: dict[str, str]) -> None:
        process = await self.start(name, *args, env=env)
        code = await asyncio.wait_for(process.wait(), 60)
        assert code == 0, self.log(name)

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    async def stop_all(self) -> None:
        for process in self.running:
            if process.returncode is None:
                process.terminate()
        for process in self.running:
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()


@pytest.fixture
async def processes(tmp_path: Path) -> AsyncIterator[Processes]:
    """Subprocesses started by the test, logging into its tmp_path; all stopped at the end."""
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        await started.stop_all()


class FakeTwilioProcess:
    """The fake Twilio in its own process, read through its `/_fake/messages` listing."""

    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.url = url
        self.http = http

    async def listing(self, since: int = 0) -> dict[str, Any]:
        async with self.http.get(f"{self.url}/_fake/messages", params={"since": str(since)}) as response:
            response.raise_for_status()
            result: dict[str, Any] = await response.json()
            return result

    async def release(self) -> None:
        """Let the requests held since `--hold-after` was reached through."""
        async with self.http.post(f"{self.url}/_fake/release") as response:
            response.raise_for_status()

    async def counts(self) -> tuple[int, int]:
        """(messages taken, requests received)."""
        listing = await self.listing(since=10**9)
        return int(listing["count"]), int(listing["requests"])


@pytest.fixture
async def twilio_process(processes: Processes) -> AsyncIterator[FakeTwilioProcess]:
    """The fake Twilio subprocess (slow answers, automatic signed receipts), once it answers."""
    port = free_port()
    await processes.start(
        "twilio",
        *("-m", "tests.fakes.twilio_server", "--port", str(port), "--delay", str(TWILIO_DELAY)),
        *("--account-sid", ACCOUNT, "--auth-token", TOKEN, "--auto-callbacks", "--hold-after", str(KILL_AFTER)),
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


async def count_by_status(engine_url: str, service_id: object) -> dict[str, int]:
    """How many of the service's notifications are in each status, read with a connection of its own."""
    engine = make_engine(engine_url)
    try:
        async with session_factory(engine)() as session:
            rows = await session.execute(
                select(Notification.status, func.count())
                .where(Notification.service_id == service_id)
                .group_by(Notification.status)
            )
            return {str(status): int(count) for status, count in rows.all()}
    finally:
        await engine.dispose()


async def test_sigkilled_worker_loses_nothing_and_resends_at_most_what_was_in_flight(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    aiohttp_client: Callable[..., Awaitable[Client]],
    own_postgres: str,
    live_redis: str,
    redis_prefix: str,
    processes: Processes,
    twilio_process: FakeTwilioProcess,
    vault: Vault,
    record_property: Callable[[str, object], None],
) -> None:
    web_port = free_port()
    public_url = f"http://127.0.0.1:{web_port}"
    shared = {
        "database_url": own_postgres,
        "redis_url": live_redis,
        "redis_prefix": redis_prefix,
        "secret_key": SECRET,
        "public_url": public_url,
        "twilio_account_sid": ACCOUNT,
        "twilio_auth_token": TOKEN,
        "twilio_api_base": twilio_process.url,
    }
    worker_env = gateway_env(**shared, **WORKER_SETTINGS)

    # The web app: scaled mode, so it commits and enqueues, and takes the fake's status callbacks.
    settings = make_settings(**shared, api_rate_limit_per_minute=10**6)
    client = await aiohttp_client(await aiohttp_server(create_app(settings), port=web_port))
    engine = make_engine(own_postgres)
    try:
        service: ServiceUnderTest = await make_service(session_factory(engine), vault)
    finally:
        await engine.dispose()
    await processes.run(
        "service-update",
        *("-m", "gateway", "service", "update", str(service.id), "--sms-sender", SMS_FROM),
        *("--sms-per-second", "100000"),
        env=worker_env,
    )

    # 1,000 notifications through the real API, committed and enqueued before any worker runs.
    limit = asyncio.Semaphore(32)

    async def create(i: int) -> str:
        payload: dict[str, Any] = {
            "phone_number": "+12025550143",
            "template_id": str(SMS_TEMPLATE),
            "personalisation": {"message": BODY.format(i)},
        }
        async with limit:
            answer = await client.post("/v2/notifications/sms", json=payload, headers=bearer(service))
            assert answer.status == 201, await answer.text()
            return str((await answer.json())["id"])

    ids = await asyncio.gather(*(create(i) for i in range(TOTAL)))
    body_of = {nid: BODY.format(i) for i, nid in enumerate(ids)}
    assert await count_by_status(own_postgres, service.id) == {"created": TOTAL}

    # Worker 1 sends until a third have arrived at the fake, and is SIGKILLed while requests are inside
    # the fake (held there, answer not yet back; taken once released): the case that can send twice.
    first = await processes.start("worker-1", "-m", "gateway", "worker", env=worker_env)
    deadline = time.monotonic() + 60
    while True:
        arrived, requested = await twilio_process.counts()
        if arrived >= KILL_AFTER and requested > arrived:
            break
        assert first.returncode is None, "worker 1 stopped:\n" + processes.log("worker-1")
        assert time.monotonic() < deadline, "worker 1 sent too little:\n" + processes.log("worker-1")
        await asyncio.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    await first.wait()
    await asyncio.sleep(0.3)  # let PostgreSQL finish (or roll back) what the dead connections had sent

    arrived_at_kill, requests_at_kill = await twilio_process.counts()
    await twilio_process.release()
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
            recorded = int(
                await session.scalar(
                    select(func.count()).where(
                        Notification.service_id == service.id, Notification.provider_ref.is_not(None)
                    )
                )
                or 0
            )
    finally:
        await engine.dispose()
    assert KILL_AFTER <= requests_at_kill < TOTAL, "the kill did not come in the middle of the sends"
    assert in_flight > 0, "nothing was in flight at the kill: the test proved nothing"

    # Worker 2 (and the sweeper it runs) finishes the job; every notification must reach `delivered`.
    second = await processes.start("worker-2", "-m", "gateway", "worker", env=worker_env)
    restarted_at = time.monotonic()
    deadline = restarted_at + 45
    statuses = await count_by_status(own_postgres, service.id)
    while statuses.get(S.DELIVERED.value, 0) < TOTAL and time.monotonic() < deadline:
        assert second.returncode is None, "worker 2 stopped:\n" + processes.log("worker-2")
        if sum(n for status, n in statuses.items() if S(status).is_final) == TOTAL:
            break  # all final, but not all delivered: the assertion below says which
        await asyncio.sleep(0.25)
        statuses = await count_by_status(own_postgres, service.id)
    recovered_after = time.monotonic() - restarted_at
    assert statuses == {S.DELIVERED.value: TOTAL}, (statuses, processes.log("worker-2"))

    # What arrived at the fake: every body at least once, duplicates only from the rows in flight.
    messages = (await twilio_process.listing())["messages"]
    sent_bodies = Counter(m["body"] for m in messages)
    assert set(sent_bodies) == set(body_of.values()), "a message never reached the provider, or a stranger did"
    duplicates = len(messages) - TOTAL
    # Each request worker 1 made whose provider reference it never committed is a row in flight; only
    # those can be sent twice (the fake takes a request that has arrived, as Twilio would).
    unrecorded = requests_at_kill - recorded
    assert duplicates <= unrecorded <= in_flight, (duplicates, unrecorded, in_flight)
    assert max(sent_bodies.values()) <= 2
    body_of_sid = {m["sid"]: m["body"] for m in messages}
    engine = make_engine(own_postgres)
    try:
        async with session_factory(engine)() as session:
            refs = (
                await session.execute(
                    select(Notification.id, Notification.provider_ref).where(Notification.service_id == service.id)
                )
            ).all()
    finally:
        await engine.dispose()
    assert len(refs) == TOTAL
    assert all(body_of_sid.get(str(ref)) == body_of[str(nid)] for nid, ref in refs)

    summary = {
        "arrived_at_kill": arrived_at_kill,
        "requests_at_kill": requests_at_kill,
        "recorded_at_kill": recorded,
        "unrecorded_requests_at_kill": unrecorded,
        "in_flight_at_kill": in_flight,
        "duplicates": duplicates,
        "recovered_after_s": round(recovered_after, 1),
        "kill_to_all_delivered_s": round(time.monotonic() - killed_at, 1),
    }
    for key, value in summary.items():
        record_property(key, value)
    print("worker kill:", summary)
