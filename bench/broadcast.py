"""Broadcast benchmark: an uploaded list of N recipients → every message handed to the (fake) provider.

Real processes, as in production: PostgreSQL (a database of its own), Redis, the fake Twilio (answering at
once), and two `gateway worker` processes. This process plays the web app's part of a staff upload: it
runs the same code the Broadcasts page runs (`read_sheet` of a CSV of N rows, the draft with the list
sealed, then `gateway.broadcasts.lifecycle.send`: the list checked row by row, screened for opt-outs and
retirement, rendered and written in bulk; the pump enqueued) — everything but the HTTP upload and the
sign-in. The service's sender rate is set high (100,000/s) so the workers, not the rate, are the limit.

It prints: the time to check and write the recipients (a chunk at a time, while the first ones send),
the time from the upload to the first and to the last message at the fake (end to end),
messages/s, the largest RSS of each process (sampled every 0.2 s), CPU ms per
message per process role, and — on a second broadcast at 2,000 texts/s — how long after a cancel
returned the last message arrived at the fake (target ≤ 1 s).

    .venv/bin/python bench/broadcast.py [--recipients 100000] [--workers 2] [--window N]

Targets (issue 13): 100,000 recipients ≤ 60 s end to end, RSS ≤ 300 MB for every process, cancel ≤ 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import aiohttp
from sqlalchemy import update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import ROOT, SECRET, database, free_port, gateway, gateway_env, postgres_available, wait_http
from bench.delivery import CpuMeter, processes_matching
from gateway.broadcasts import control
from gateway.broadcasts.audience import AudienceKind, describe
from gateway.broadcasts.lifecycle import Deps, seal_upload, send
from gateway.cli import tune_gc
from gateway.clock import SYSTEM_CLOCK
from gateway.crypto import Vault
from gateway.db import Broadcast, Service
from gateway.db.engine import make_engine, session_factory
from gateway.directory.sheets import read_sheet
from gateway.jobs.queue import ArqQueue
from gateway.settings import Settings
from gateway.template_store import TemplateStore
from gateway.templating import Renderer
from tests.fakes.twilio_server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

REDIS = "redis://127.0.0.1:6379/0"
AREAS = ("202", "212", "312", "415", "617", "718", "917", "646", "305", "404", "503", "206")


def upload_csv(count: int, tag: str) -> bytes:
    out = io.StringIO()
    out.write("phone number,first_name\n")
    for i in range(count):
        out.write(f"+1{AREAS[i // 10000]}555{i % 10000:04d},P{i}\n")
    return out.getvalue().encode()


class RssWatch:
    """The largest resident set size seen per process role, sampled every 0.2 s in a thread."""

    def __init__(self, roles: dict[str, list[int]]) -> None:
        self.roles, self.peak = roles, dict.fromkeys(roles, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss_mb(pid: int) -> float:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def _run(self) -> None:
        while not self._stop.is_set():
            for role, pids in self.roles.items():
                self.peak[role] = max(self.peak[role], *(self.rss_mb(p) for p in pids), 0)
            time.sleep(0.2)

    def __enter__(self) -> RssWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def arrived(http: aiohttp.ClientSession, fake: str, since: int = 0) -> list[dict[str, object]]:
    async with http.get(f"{fake}/_fake/messages", params={"since": str(since)}) as response:
        return list((await response.json())["messages"])


async def wait_for(http: aiohttp.ClientSession, fake: str, expected: int, within: float) -> tuple[int, float, float]:
    """Poll the fake until `expected` messages have arrived; (count, times of the first and last arrival)."""
    seen, first, last = 0, 0.0, 0.0
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        new = await arrived(http, fake, seen)
        seen += len(new)
        if new:
            first = first or min(float(str(m["received_at"])) for m in new)
            last = max(float(str(m["received_at"])) for m in new)
        if seen >= expected:
            break
        await asyncio.sleep(0.2)
    return seen, first, last


async def broadcast(deps: Deps, service_id: uuid.UUID, data: bytes, name: str) -> tuple[uuid.UUID, int]:
    """What the Broadcasts page does with an upload, then Send: the draft, then `send`."""
    sheet = read_sheet(data, f"{name}.csv")
    bid = uuid.uuid4()
    async with deps.sessions() as db:
        db.add(
            Broadcast(
                id=bid,
                service_id=service_id,
                name=name,
                audience=describe(AudienceKind.UPLOAD, f"{name}.csv"),
                audience_spec={"kind": "upload", "value": f"{name}.csv", "common": {}},
                upload_enc=seal_upload(deps.vault, sheet.header, sheet.rows, f"{name}.csv"),
                message_enc=deps.vault.seal("Hi ((first_name)), the office is closed today."),
                status="draft",
            )
        )
        await db.commit()
    del sheet
    return bid, await send(deps, bid, service_id)


def start(
    db_url: str, workers: int, window: int | None
) -> tuple[Settings, uuid.UUID, str, list[subprocess.Popen[bytes]]]:
    """The database migrated, the service, the fake Twilio and the workers (setup, not measured)."""
    fake_port = free_port()
    fake = f"http://127.0.0.1:{fake_port}"
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    extra = {
        "GATEWAY_TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
        "GATEWAY_TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
        "GATEWAY_TWILIO_API_BASE": fake,
        "GATEWAY_REDIS_URL": REDIS,
        "GATEWAY_REDIS_PREFIX": prefix,
        "GATEWAY_WORKER_MAX_JOBS": "50",
        "GATEWAY_DELIVERY_CONCURRENCY": "400",
    }
    if window is not None:
        extra["GATEWAY_BROADCAST_WINDOW"] = str(window)
    env = gateway_env(db_url, free_port(), **extra)
    gateway(env, "migrate")
    sid = uuid.UUID(gateway(env, "service", "create", "Bench office"))
    # the senders' rate set high; a sending window of the whole day, so the hour it runs at does not matter
    gateway(
        env,
        "service",
        "update",
        str(sid),
        "--sms-sender",
        "+12025550100",
        "--sms-per-second",
        "100000",
        "--quiet-hours",
        "00:00-23:59",
    )
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=db_url,
        secret_key=SECRET,
        redis_url=REDIS,
        redis_prefix=prefix,
        log_level="warning",
    )
    fake_cmd = [sys.executable, "-m", "tests.fakes.twilio_server", "--port", str(fake_port)]
    procs = [subprocess.Popen(fake_cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    procs += [
        subprocess.Popen([sys.executable, "-m", "gateway", "worker"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
        for _ in range(workers)
    ]
    wait_http(f"{fake}/_fake/messages")
    time.sleep(4.0)  # the workers import and connect before the clock starts (their start-up is not per message)
    return settings, sid, fake, procs


async def measure(
    settings: Settings, sid: uuid.UUID, fake: str, procs: list[subprocess.Popen[bytes]], count: int
) -> None:
    db_url = settings.database_url
    engine = make_engine(db_url)
    queue = await ArqQueue.connect(settings)
    sessions = session_factory(engine)
    try:
        async with sessions() as db:
            await db.execute(update(Service).where(Service.id == sid).values(broadcast_approval_threshold=10**9))
            await db.commit()
        deps = Deps(settings, engine, sessions, Vault(SECRET), Renderer(), TemplateStore(sessions), queue, SYSTEM_CLOCK)
        data = upload_csv(count, "bench")
        database_pids = processes_matching(f"postgres {db_url.rsplit('/', 1)[-1]} ")
        roles = {
            "upload (this process)": [os.getpid()],
            "worker": [p.pid for p in procs[1:]],
            "fake twilio": [procs[0].pid],
            "postgres": database_pids,
        }
        meter = CpuMeter(
            {
                "upload": lambda: [os.getpid()],
                "worker": lambda: [p.pid for p in procs[1:]],
                "fake": lambda: [procs[0].pid],
                "postgres": lambda: processes_matching(f"postgres {db_url.rsplit('/', 1)[-1]} "),
                "redis": lambda: processes_matching("redis-server"),
            }
        )
        async with aiohttp.ClientSession() as http:
            with RssWatch(roles) as rss:
                meter.start()
                began = time.time()
                _, written = await broadcast(deps, sid, data, "bench")
                written_at = time.time()
                seen, first, last = await wait_for(http, fake, written, within=600)
                meter.stop()
            print(
                f"broadcast of {count}: written {written} in {written_at - began:.1f} s "
                f"({written / max(written_at - began, 1e-9):.0f}/s); {seen} at the fake {last - began:.1f} s after "
                f"the upload began: {seen / max(last - began, 1e-9):.0f} messages/s end to end "
                "(target: 100,000 in 60 s)"
            )
            print(f"    the first message reached the fake {first - began:.1f} s after the upload began")
            print(f"    {meter.report(max(seen, 1))}")
            print(
                "    peak RSS MB: " + ", ".join(f"{role} {mb:.0f}" for role, mb in rss.peak.items()) + " (target ≤ 300)"
            )

            # cancel: a second broadcast at 2,000 texts/s, cancelled after a second of sending
            async with sessions() as db:
                await db.execute(update(Service).where(Service.id == sid).values(sms_per_second=2000))
                await db.commit()
            cancel_count = min(count, 20_000)
            cancel_id, _ = await broadcast(deps, sid, upload_csv(cancel_count, "cancel"), "cancel")
            await asyncio.sleep(1.0)
            asked = time.time()
            cancelled = await control.cancel(sessions, cancel_id, sid, "bench")
            returned = time.time()
            await asyncio.sleep(3.0)
            after = await arrived(http, fake, seen)
            last_after = max((float(str(m["received_at"])) for m in after), default=asked)
            print(
                f"cancel: {len(after)} of {cancel_count} sent, {cancelled} cancelled; cancel took "
                f"{(returned - asked) * 1000:.0f} ms; the last message arrived {(last_after - asked) * 1000:.0f} ms "
                "after the cancel was asked (target ≤ 1000 ms)"
            )
    finally:
        await queue.close()
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--window", type=int, help="GATEWAY_BROADCAST_WINDOW (default: the gateway's own)")
    args = parser.parse_args()
    if args.recipients > 10_000 * len(AREAS):
        parser.error(f"at most {10_000 * len(AREAS)} recipients")
    if not postgres_available():
        print("broadcast benchmark: PostgreSQL is not reachable; skipped")
        return
    with database("postgres") as db_url:
        settings, sid, fake, procs = start(db_url, args.workers, args.window)
        try:
            tune_gc()  # as `gateway serve`, whose part this process plays, does
            asyncio.run(measure(settings, sid, fake, procs, args.recipients))
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                with contextlib.suppress(Exception):
                    p.wait(timeout=15)


if __name__ == "__main__":
    main()
