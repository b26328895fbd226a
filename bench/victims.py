"""Victim notification benchmark: an offender event on a case with N registrations while a broadcast is sending.

Real processes, scaled mode: the fake Twilio (`tests/fakes/twilio_server.py`, answering after
`--provider-ms`), `gateway serve` and `gateway worker` on PostgreSQL and Redis. A parole service and a
victim services unit that follows it; `--victims` registrations (text first) follow one parole case.
A third service sends a real broadcast of `--bulk` texts (an uploaded list, as the Broadcasts page
sends it: `bench.broadcast.broadcast`, its pump in the workers); once the fake has taken
`--head-start` of them, parole posts `released`. Figures: the time from the event's 201 to the last
victim text handed to the provider (arrival at the fake; target <= 10 s), the median, and how much of
the broadcast was still unsent at that moment (so the victims went ahead).

    .venv/bin/python bench/victims.py [--victims 1000] [--bulk 50000] [--provider-ms 20] [--workers 1]

`BENCH_WORKER_LOG=FILE` keeps the workers' job log (arq's start and end of each job) for a look inside.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import jwt
from sqlalchemy import update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import ROOT, SECRET, database, free_port, gateway, gateway_env, postgres_available, serve, wait_http
from bench.broadcast import broadcast, upload_csv
from gateway.broadcasts.lifecycle import Deps
from gateway.clock import SYSTEM_CLOCK
from gateway.crypto import Vault
from gateway.db import Service
from gateway.db.engine import make_engine, session_factory
from gateway.directory.cases import upsert_case
from gateway.jobs.queue import ArqQueue
from gateway.settings import Settings
from gateway.template_store import TemplateStore
from gateway.templating import Renderer
from tests.fakes.twilio_server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

REDIS = "redis://127.0.0.1:6379/0"
CASE = "P-BENCH-1"
VSU_NUMBER = "+12025550999"


def victim_number(i: int) -> str:
    return f"+1773555{i:04d}"  # an area code the broadcast's list (bench.broadcast.AREAS) does not use


async def setup(db_url: str, parole: str, vsu: str, victims: int) -> None:
    """The case and the registrations."""
    from gateway.victims.registrations import upsert_registration

    vault = Vault(SECRET)
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    try:
        async with sessions() as db:
            await upsert_case(db, uuid.UUID(parole), CASE, {"status": "open"}, "bench")
            await db.commit()
        for start in range(0, victims, 100):
            async with sessions() as db:
                for i in range(start, min(victims, start + 100)):
                    body = {
                        "first_name": f"Victim{i}", "last_name": "Bench", "phone_numbers": [victim_number(i)],
                        "channels": ["sms", "letter"], "postal_address": ["V Bench", "1 Main St", "Boston, MA 02118"],
                        "cases": [{"service_id": parole, "reference": CASE, "offender_name": "Chris Doe"}],
                    }  # fmt: skip
                    await upsert_registration(db, vault, uuid.UUID(vsu), f"V-{i}", body, "bench")
                await db.commit()
    finally:
        await engine.dispose()


async def start_broadcast(settings: Settings, service_id: str, count: int) -> int:
    """The bulk service's broadcast to `count` uploaded numbers, written and its pump queued; how many."""
    engine = make_engine(settings.database_url)
    sessions = session_factory(engine)
    queue = await ArqQueue.connect(settings)
    try:
        async with sessions() as db:
            await db.execute(
                update(Service).where(Service.id == uuid.UUID(service_id)).values(broadcast_approval_threshold=10**9)
            )
            await db.commit()
        deps = Deps(settings, engine, sessions, Vault(SECRET), Renderer(), TemplateStore(sessions), queue, SYSTEM_CLOCK)
        _, written = await broadcast(deps, uuid.UUID(service_id), upload_csv(count, "bulk"), "bulk")
        return written
    finally:
        await queue.close()
        await engine.dispose()


async def fake_count(fake_url: str, http: aiohttp.ClientSession) -> tuple[int, list[dict[str, object]]]:
    async with http.get(f"{fake_url}/_fake/messages") as response:
        data = await response.json()
    return int(data["count"]), list(data["messages"])


async def measure(
    server_url: str, fake_url: str, key: str, parole: str, victims: int, head_start: int, bulk: int
) -> float:
    wanted = {victim_number(i) for i in range(victims)}
    async with aiohttp.ClientSession() as http:
        sent = 0
        while sent < head_start:  # the broadcast is under way before the event
            sent = (await fake_count(fake_url, http))[0]
            await asyncio.sleep(0.05)
        token = jwt.encode({"iss": parole, "iat": int(time.time())}, key[-36:], "HS256")
        body = {"event_id": "bench-1", "kind": "released", "details": {"date": "2026-12-08", "town": "Worcester"}}
        async with http.post(
            f"{server_url}/v2/cases/{CASE}/events", json=body, headers={"Authorization": f"Bearer {token}"}
        ) as response:
            assert response.status == 201, await response.text()
        t0 = time.time()
        deadline = t0 + 300
        arrivals: dict[str, float] = {}
        bulk_sent_at_last = 0
        while len(arrivals) < len(wanted) and time.time() < deadline:
            count, messages = await fake_count(fake_url, http)
            for m in messages:
                if m["to"] in wanted and m["to"] not in arrivals:
                    arrivals[str(m["to"])] = float(m["received_at"])  # type: ignore[arg-type]
            bulk_sent_at_last = count - len(arrivals)
            await asyncio.sleep(0.2)
    times = sorted(t - t0 for t in arrivals.values())
    print(f"victims: {len(arrivals)} of {len(wanted)} first-channel texts handed to the provider")
    if times:
        print(
            f"event 201 -> last hand-off: {times[-1]:.2f} s (target <= 10 s); median {statistics.median(times):.2f} s"
        )
    print(f"broadcast: {bulk:,} recipients; about {bulk_sent_at_last:,} sent by the last victim hand-off"
          f" ({bulk - bulk_sent_at_last:,} still waiting behind the priority lane)")  # fmt: skip
    return t0


async def stages(db_url: str, vsu: str, t0: float) -> None:
    """Where the time went: the fan-out's commit, and the victims' texts claimed and sent (database clocks)."""
    from sqlalchemy import func, select

    from gateway.db import Notification, OffenderEvent

    engine = make_engine(db_url)
    try:
        async with session_factory(engine)() as db:
            fanned = await db.scalar(select(func.max(OffenderEvent.fanned_out_at)))
            claimed = (
                await db.execute(
                    select(
                        func.min(Notification.claimed_at),
                        func.max(Notification.claimed_at),
                        func.max(Notification.sent_at),
                    ).where(Notification.service_id == uuid.UUID(vsu))
                )
            ).one()
    finally:
        await engine.dispose()
    at = [None if t is None else t.timestamp() - t0 for t in (fanned, *claimed)]
    shown = [f"{x:.2f}" if x is not None else "?" for x in at]
    print(f"after the 201: fan-out started {shown[0]} s; victims' texts claimed {shown[1]}-{shown[2]} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--victims", type=int, default=1000)
    parser.add_argument("--bulk", type=int, default=50_000)
    parser.add_argument("--provider-ms", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--head-start", type=int, default=0, help="bulk texts sent before the event (default: 2%%)")
    args = parser.parse_args()
    if not postgres_available():
        raise SystemExit("PostgreSQL is needed (GATEWAY_TEST_POSTGRES_URL)")
    fake_port, port = free_port(), free_port()
    fake_url = f"http://127.0.0.1:{fake_port}"
    argv = [sys.executable, "-m", "tests.fakes.twilio_server", "--port", str(fake_port)]
    procs = [subprocess.Popen([*argv, "--delay", str(args.provider_ms / 1000)], cwd=ROOT, stdout=subprocess.DEVNULL)]
    try:
        wait_http(f"{fake_url}/_fake/messages")
        with database("postgres") as db_url:
            env = gateway_env(
                db_url,
                port,
                GATEWAY_TWILIO_ACCOUNT_SID=DEFAULT_ACCOUNT_SID,
                GATEWAY_TWILIO_AUTH_TOKEN=DEFAULT_AUTH_TOKEN,
                GATEWAY_TWILIO_API_BASE=fake_url,
                GATEWAY_REDIS_URL=REDIS,
                GATEWAY_REDIS_PREFIX=f"bench-{uuid.uuid4().hex[:8]}",
                GATEWAY_WORKER_MAX_JOBS="50",
                GATEWAY_DELIVERY_CONCURRENCY="200",
            )
            gateway(env, "migrate")
            parole = gateway(env, "service", "create", "Bench parole")
            vsu = gateway(env, "service", "create", "Bench VSU", "--kind", "victim_services")
            bulk_service = gateway(env, "service", "create", "Bench bulk office")
            for sid, number in ((parole, "+12025550101"), (vsu, VSU_NUMBER), (bulk_service, "+13125550100")):
                gateway(env, "service", "update", sid, "--sms-sender", number, "--sms-per-second", "100000",
                        "--daily-limit", "100000000")  # fmt: skip
            gateway(env, "service", "update", vsu, "--follows", parole)
            # texts may go at any hour the bench runs (quiet hours would hold the broadcast and the notices)
            for sid in (vsu, bulk_service):
                gateway(env, "service", "update", sid, "--quiet-hours", "00:00-23:59")
            key = gateway(env, "key", "create", parole, "--name", "bench", "--type", "live")
            started = time.monotonic()
            asyncio.run(setup(db_url, parole, vsu, args.victims))
            print(f"setup: {args.victims} registrations in {time.monotonic() - started:.1f} s")
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None, database_url=db_url, secret_key=SECRET, redis_url=REDIS,
                redis_prefix=env["GATEWAY_REDIS_PREFIX"],
            )  # fmt: skip
            worker_env = {**env, "GATEWAY_LOG_LEVEL": "info"} if os.environ.get("BENCH_WORKER_LOG") else env
            for _ in range(args.workers):
                log = Path(os.environ.get("BENCH_WORKER_LOG", os.devnull))
                with log.open("ab") as out:  # the child keeps its own copy of the descriptor
                    procs.append(
                        subprocess.Popen(
                            [sys.executable, "-m", "gateway", "worker"],
                            cwd=ROOT,
                            stdout=out,
                            stderr=out,
                            env=worker_env,
                        )
                    )
            with serve([sys.executable, "-m", "gateway", "serve"], env, port) as server:
                started = time.monotonic()
                written = asyncio.run(start_broadcast(settings, bulk_service, args.bulk))
                print(f"broadcast: {written:,} recipients written in {time.monotonic() - started:.1f} s")
                head_start = args.head_start or max(1, args.bulk // 50)
                t0 = asyncio.run(measure(server.url, fake_url, key, parole, args.victims, head_start, args.bulk))
                asyncio.run(stages(db_url, vsu, t0))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=15)


if __name__ == "__main__":
    main()
