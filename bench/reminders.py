"""Reminders benchmark: 100,000 appointments planned, then 10,000 reminders falling due in one minute.

    .venv/bin/python bench/reminders.py [--appointments 100000] [--clients 10000] [--due 10000]
        [--workers 2] [--only arq|embedded]

1. Import and planning: the clients (people, mobile numbers, cases) are written first (not timed).
   Then a CSV of the appointments is imported by the real command, `gateway import appointments FILE`
   (a process of its own): every row read and checked as the API checks a body, written in chunks of
   1,000, each chunk planned by the hook (`appointments_changed`): reminders rendered, sealed and
   written in bulk, all in the import's one transaction. Kinds are mixed (office visits, drug tests,
   groups, court hearings, job interviews) over the next four weeks. Prints the time, the reminders
   written and the import process's peak RSS. Targets on this 2-core machine: <= 60 s and <= 400 MB.
2. The due minute: one more appointment per client (up to `--due`), all starting a day after the
   next whole minute, so their day-before reminders fall due together at that minute. With arq
   (Redis and PostgreSQL available, `--only arq`): `--workers` real `gateway worker` processes, whose
   cron runs the scheduler at second 0 of each minute; embedded: this process runs the scheduler at
   the due minute and delivers on the in-process queue. Prints the time from the due minute to the
   last message received by the fake Twilio (a separate process). Target: <= 60 s, capped only by
   the sender's rate (set to 100,000/s here).

The service's zone is one where it is midday now, so quiet hours do not hold the reminders; the
clients' numbers (+1 555 ...) have no zone of their own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import insert, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import ROOT, SECRET, database, free_port, gateway, gateway_env, postgres_available, wait_http
from gateway.appointments.scheduler import send_due_scheduled
from gateway.crypto import Vault
from gateway.db import Case, CaseParticipant, ContactPoint, Person, Service
from gateway.db.base import utcnow
from gateway.db.engine import make_engine
from gateway.jobs.context import close_job_context, open_job_context
from gateway.jobs.queue import LocalQueue
from gateway.logs import configure_logging
from gateway.settings import Settings
from tests.fakes.twilio_server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

REDIS = "redis://127.0.0.1:6379/0"
KINDS = ["office_visit"] * 14 + ["drug_test"] * 2 + ["group_session"] * 2 + ["court_hearing", "job_interview"]
MARK = "bench-due"


def midday_zone(now: datetime) -> str:
    """An Etc/GMT zone where it is about 12:00 now (POSIX signs: Etc/GMT+5 is UTC-5)."""
    offset = (12 - now.hour) % 24
    offset = offset - 24 if offset > 12 else offset
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


async def add_clients(url: str, vault: Vault, service_id: uuid.UUID, count: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """`count` clients (person, mobile number, open case): (person id, case id) each. Core inserts."""
    engine = make_engine(url)
    people, points, cases, parts, out = [], [], [], [], []
    now = utcnow()
    for n in range(count):
        person_id, case_id, phone = uuid.uuid4(), uuid.uuid4(), f"+1555{n:07d}"
        people.append(
            {
                "id": person_id,
                "service_id": service_id,
                "display_name": f"Client {n}",
                "first_name": f"Client{n}",
                "language": "es" if n % 10 == 0 else "en",
                "preferred_channels": ["sms"],
                "consent": {},
                "created_at": now,
                "updated_at": now,
            }
        )
        points.append(
            {
                "id": uuid.uuid4(),
                "service_id": service_id,
                "person_id": person_id,
                "kind": "phone",
                "value_enc": vault.seal(phone),
                "value_index": vault.blind_index(phone),
                "created_at": now,
            }
        )
        cases.append(
            {
                "id": case_id,
                "service_id": service_id,
                "external_ref": f"BENCH-{n}",
                "status": "open",
                "tags": [],
                "created_at": now,
                "updated_at": now,
            }
        )
        parts.append({"case_id": case_id, "person_id": person_id, "role": "client", "created_at": now})
        out.append((person_id, case_id))
    async with engine.begin() as conn:
        for table, rows in ((Person, people), (ContactPoint, points), (Case, cases), (CaseParticipant, parts)):
            for at in range(0, len(rows), 2000):
                await conn.execute(insert(table), rows[at : at + 2000])
    await engine.dispose()
    return out


def write_csv(
    path: Path, clients: int, starts: list[datetime], kinds: list[str], title: str = "", tag: str = "A"
) -> None:  # fmt: skip
    """The appointments as a court or case-management export: appointment i is client i % clients's."""
    with path.open("w", newline="") as out:
        sheet = csv.writer(out)
        sheet.writerow(["external_id", "case_reference", "kind", "title", "starts_at", "time_zone", "location_kind",
                        "location"])  # fmt: skip
        for i, (start, kind) in enumerate(zip(starts, kinds, strict=True)):
            sheet.writerow([f"{tag}{i}", f"BENCH-{i % clients}", kind, title, start.isoformat(), "America/Chicago",
                            "address", "Room 2, 100 Main Street"])  # fmt: skip


def import_file(env: dict[str, str], service_id: uuid.UUID, path: Path) -> tuple[float, float]:
    """`gateway import appointments FILE` in a process of its own: (seconds, its peak RSS in MB)."""
    started = time.perf_counter()
    argv = [sys.executable, "-m", "gateway", "import", "appointments", str(path), "--service", str(service_id)]
    child = subprocess.Popen([*argv, "--quiet"], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None and child.stderr is not None
    out, err = child.stdout.read(), child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    took = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        sys.exit(f"the import failed ({child.returncode}):\n{out.decode()}{err.decode()}")
    return took, usage.ru_maxrss / 1024


async def count_reminders(url: str) -> int:
    from sqlalchemy import func, select

    from gateway.db import Notification

    engine = make_engine(url)
    async with engine.connect() as conn:
        found = await conn.scalar(select(func.count()).where(Notification.appointment_step.is_not(None)))
    await engine.dispose()
    return int(found or 0)


async def arrivals(fake_url: str, expected: int, wait_seconds: float) -> list[float]:
    """Poll the fake until `expected` reminders marked MARK arrived; their arrival times."""
    seen: list[float] = []
    since = 0
    deadline = time.monotonic() + wait_seconds
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline and len(seen) < expected:
            async with http.get(f"{fake_url}/_fake/messages", params={"since": str(since)}) as response:
                data = await response.json()
            since += len(data["messages"])
            seen += [m["received_at"] for m in data["messages"] if MARK in m["body"]]
            await asyncio.sleep(0.25)
    return seen


def next_minute(after: datetime) -> datetime:
    return (after + timedelta(minutes=1)).replace(second=0, microsecond=0)


async def setup(env: dict[str, str], db_url: str, clients: int) -> tuple[uuid.UUID, list[tuple[uuid.UUID, uuid.UUID]]]:
    sid = uuid.UUID(gateway(env, "service", "create", "Bench office"))
    engine = make_engine(db_url)
    async with engine.begin() as conn:  # the sender's rate set high: the due minute is not capped by it
        await conn.execute(
            update(Service)
            .where(Service.id == sid)
            .values(sms_sender="+12025550100", sms_per_second=100_000, daily_limit=100_000_000,
                    timezone=midday_zone(utcnow()))
        )  # fmt: skip
    await engine.dispose()
    return sid, await add_clients(db_url, Vault(SECRET), sid, clients)


def run(args: argparse.Namespace, scaled: bool) -> None:
    configure_logging("error")
    fake_port = free_port()
    fake_url = f"http://127.0.0.1:{fake_port}"
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.twilio_server", "--port", str(fake_port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    procs: list[subprocess.Popen[bytes]] = [fake]
    label = f"arq + PostgreSQL, {args.workers} workers" if scaled else "embedded"
    try:
        wait_http(f"{fake_url}/_fake/messages")
        with database("postgres" if postgres_available() else "sqlite") as db_url:
            extra = {
                "GATEWAY_TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
                "GATEWAY_TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
                "GATEWAY_TWILIO_API_BASE": fake_url,
                "GATEWAY_WORKER_MAX_JOBS": "200",
                "GATEWAY_DELIVERY_CONCURRENCY": "400",
                "GATEWAY_LOG_LEVEL": "error",
            }
            if scaled:
                extra |= {"GATEWAY_REDIS_URL": REDIS, "GATEWAY_REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:8]}"}
            env = gateway_env(db_url, free_port(), **extra)
            gateway(env, "migrate")
            sid, clients = asyncio.run(setup(env, db_url, args.clients))
            rng = random.Random(7)
            base = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
            starts = [base + timedelta(days=rng.randrange(26), hours=rng.randrange(8), minutes=15 * rng.randrange(4))
                      for _ in range(args.appointments)]  # fmt: skip
            kinds = [rng.choice(KINDS) for _ in range(args.appointments)]
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "appointments.csv"
                write_csv(path, len(clients), starts, kinds)
                took, peak = import_file(env, sid, path)
            reminders = asyncio.run(count_reminders(db_url))
            rate = args.appointments / took
            print(f"{label}: imported and planned {args.appointments} appointments of {len(clients)} clients "
                  f"in {took:.1f} s ({rate:.0f}/s), {reminders} reminders written; the import's peak RSS "
                  f"{peak:.0f} MB")  # fmt: skip

            for _ in range(args.workers if scaled else 0):
                procs.append(subprocess.Popen([sys.executable, "-m", "gateway", "worker"], env=env, cwd=ROOT,
                                              stdout=subprocess.DEVNULL))  # fmt: skip
            due_count = min(args.due, len(clients))
            due = next_minute(utcnow() + timedelta(seconds=30 + due_count / 400))  # after the import
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "due.csv"
                write_csv(path, due_count, [due + timedelta(days=1)] * due_count, ["office_visit"] * due_count,
                          title=MARK, tag="D")  # fmt: skip
                import_file(env, sid, path)
            if scaled:
                got = asyncio.run(arrivals(fake_url, due_count, (due - utcnow()).total_seconds() + 300))
            else:
                got = asyncio.run(embedded_due_minute(env, db_url, fake_url, due, due_count))
            if len(got) < due_count:
                print(f"{label}: only {len(got)} of {due_count} reminders arrived")
            if got:
                print(f"{label}: {len(got)} reminders due at {due:%H:%M:%S} UTC; the last reached the fake Twilio "
                      f"{max(got) - due.timestamp():.1f} s after the due minute "
                      f"({len(got) / max(max(got) - due.timestamp(), 0.001):.0f}/s)")  # fmt: skip
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            with contextlib.suppress(Exception):
                p.wait(timeout=15)


async def embedded_due_minute(
    env: dict[str, str], db_url: str, fake_url: str, due: datetime, expected: int
) -> list[float]:
    """Embedded mode: at the due minute run the scheduler in this process and deliver on its queue."""
    settings = Settings(
        _env_file=None, database_url=db_url, secret_key=SECRET, twilio_account_sid=DEFAULT_ACCOUNT_SID,
        twilio_auth_token=DEFAULT_AUTH_TOKEN, twilio_api_base=fake_url, worker_max_jobs=200,
        delivery_concurrency=400, scheduler_interval_seconds=86_400, sweep_interval_seconds=86_400,
        log_level="error",  # type: ignore[call-arg]
    )  # fmt: skip
    ctx: Any = await open_job_context(settings)
    try:
        await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
        await send_due_scheduled(ctx)
        queue = ctx["queue"]
        assert isinstance(queue, LocalQueue)
        await queue.join()
        return await arrivals(fake_url, expected, 60)
    finally:
        await close_job_context(ctx)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--appointments", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--due", type=int, default=10_000, help="reminders falling due in the same minute")
    parser.add_argument("--workers", type=int, default=2, help="arq worker processes")
    parser.add_argument("--only", choices=["arq", "embedded"])
    args = parser.parse_args()
    redis_ok = subprocess.run(["redis-cli", "ping"], capture_output=True, text=True).stdout.strip() == "PONG"
    scaled = args.only != "embedded" and redis_ok and postgres_available()
    if args.only == "arq" and not scaled:
        sys.exit("arq needs Redis and PostgreSQL on 127.0.0.1")
    run(args, scaled)


if __name__ == "__main__":
    main()
