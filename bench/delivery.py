"""Delivery benchmark: accepted by the API → received by the (fake) provider, end to end.

Each configuration runs in real processes: the fake Twilio (`tests/fakes/twilio_server.py`, answering at
once or after 200 ms), `gateway serve`, and for arq `gateway worker` processes on Redis, with PostgreSQL.
This process offers SMS to the API at a fixed rate for a fixed time, then waits for the fake to have
received every accepted message (arrivals are counted at the fake). It prints the rate the API accepted
at, messages/s delivered (first acceptance → last arrival), the p50/p95 latency (acceptance → arrival at
the provider, both clocks on this machine), and the CPU each process used per delivered message (user +
system time from /proc, from the first offer to the last arrival): robust to other load on the
machine, unlike messages/s. "load" is this process (the load generator); "postgres" the server
processes of the benchmark's own database; "redis" the Redis server (shared: other users' commands
count too); "machine" how many cores were busy on average, whoever used them. "Messages per claim"
is how many notifications a delivery job claimed at once (distinct `claimed_at`s).

The gateway runs with GATEWAY_WORKER_MAX_JOBS=200 and GATEWAY_DELIVERY_CONCURRENCY=400 (sends in flight
per process), so a 200 ms provider is not what limits the rate.

    .venv/bin/python bench/delivery.py [--seconds 15] [--rate 1000] [--workers 1] [--only arq|embedded]
        [--provider-ms 0 200] [--event-loop auto|uvloop|asyncio]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import aiohttp
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import (
    ROOT,
    database,
    free_port,
    gateway,
    gateway_env,
    postgres_available,
    serve,
    wait_http,
)
from gateway.db.engine import make_engine
from tests.fakes.twilio_server import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

SMS_TEMPLATE = "91b96cb2-3bb9-4806-8eb8-cd401aba9c55"  # templates/sms/en/free_text.txt
REDIS = "redis://127.0.0.1:6379/0"


async def offer(url: str, key: str, rate: float, seconds: float) -> dict[int, float]:
    """POST at a fixed rate; returns message number → time the 201 arrived."""
    from notifications_python_client.authentication import create_jwt_token

    accepted: dict[int, float] = {}
    service_id, secret = key[-73:-37], key[-36:]
    token = {"value": create_jwt_token(secret, service_id), "at": time.monotonic()}
    limit = asyncio.Semaphore(256)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=128)) as http:

        async def one(i: int) -> None:
            async with limit:
                if time.monotonic() - token["at"] > 10:  # Notify tokens are good for 30 s
                    token.update(value=create_jwt_token(secret, service_id), at=time.monotonic())
                body = {
                    "phone_number": "+12025550143",
                    "template_id": SMS_TEMPLATE,
                    "personalisation": {"message": f"bench {i}"},
                }
                headers = {"Authorization": f"Bearer {token['value']}"}
                async with http.post(f"{url}/v2/notifications/sms", json=body, headers=headers) as response:
                    await response.read()
                    if response.status == 201:
                        accepted[i] = time.time()

        tasks = []
        start = time.monotonic()
        total = int(rate * seconds)
        for i in range(total):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return accepted


async def arrivals(fake_url: str, expected: int, wait_seconds: float) -> dict[int, float]:
    """Poll the fake until `expected` messages arrived (or time runs out); message number → arrival."""
    seen: dict[int, float] = {}
    deadline = time.monotonic() + wait_seconds
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            async with http.get(f"{fake_url}/_fake/messages", params={"since": str(len(seen))}) as response:
                data = await response.json()
            for m in data["messages"]:
                if m["body"].startswith("bench "):
                    seen[int(m["body"].split()[1])] = m["received_at"]
            if len(seen) >= expected:
                break
            await asyncio.sleep(0.5)
    return seen


async def claims_made(db_url: str) -> int:
    """How many claims (conditional UPDATEs) the delivery jobs made: one `claimed_at` per claim."""
    engine = make_engine(db_url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(text("SELECT count(DISTINCT claimed_at) FROM notifications")) or 0)
    finally:
        await engine.dispose()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux /proc); 0 once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def processes_matching(*needles: str) -> list[int]:
    """Processes whose command line contains one of `needles`."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if any(needle in text for needle in needles):
                pids.append(int(cmdline.parent.name))
    return pids


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy (not idle or waiting for I/O) since boot, from /proc/stat."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU time per role between `start()` and `stop()`. A role is a function that lists its processes,
    asked at both ends: a process that appears meanwhile (a new database connection) counts from 0."""

    def __init__(self, roles: dict[str, Callable[[], list[int]]]) -> None:
        self.roles = roles
        self.used: dict[str, float] = {}

    def _now(self) -> dict[str, dict[int, float]]:
        return {role: {pid: cpu_seconds(pid) for pid in pids()} for role, pids in self.roles.items()}

    def start(self) -> None:
        self._start, self._started = self._now(), (machine_busy_seconds(), time.monotonic())

    def stop(self) -> None:
        end = self._now()
        for role, pids in end.items():
            self.used[role] = sum(cpu - self._start[role].get(pid, 0.0) for pid, cpu in pids.items() if cpu)
        self.busy = (machine_busy_seconds() - self._started[0]) / (time.monotonic() - self._started[1])

    def report(self, messages: int) -> str:
        roles = ", ".join(f"{role} {used * 1000 / messages:.2f}" for role, used in self.used.items() if used)
        return f"CPU ms per message: {roles}; machine: {self.busy:.2f} of {os.cpu_count()} cores busy on average"


def run(label: str, *, scaled: bool, delay: float, rate: float, seconds: float, workers: int, event_loop: str) -> None:
    fake_port, port = free_port(), free_port()
    fake_url = f"http://127.0.0.1:{fake_port}"
    procs = []
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.twilio_server", "--port", str(fake_port), "--delay", str(delay)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    procs.append(fake)
    kind = "postgres" if scaled else "sqlite"
    try:
        wait_http(f"{fake_url}/_fake/messages")
        with database(kind) as db_url:
            extra = {
                "GATEWAY_TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
                "GATEWAY_TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
                "GATEWAY_TWILIO_API_BASE": fake_url,
                "GATEWAY_API_RATE_LIMIT_PER_MINUTE": "100000000",
                "GATEWAY_WORKER_MAX_JOBS": "200",
                # 200 ms x 400 sends in flight = 2,000/s per process: the provider's latency is not the limit
                "GATEWAY_DELIVERY_CONCURRENCY": "400",
                "GATEWAY_EVENT_LOOP": event_loop,
            }
            if scaled:
                extra |= {"GATEWAY_REDIS_URL": REDIS, "GATEWAY_REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:8]}"}
            env = gateway_env(db_url, port, **extra)
            gateway(env, "migrate")
            sid = gateway(env, "service", "create", "Bench office")
            gateway(
                env,
                "service",
                "update",
                sid,
                "--sms-sender",
                "+12025550100",
                "--sms-per-second",
                "100000",
                "--daily-limit",
                "100000000",
            )
            key = gateway(env, "key", "create", sid, "--name", "bench", "--type", "live")
            for _ in range(workers if scaled else 0):
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "gateway", "worker"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL
                    )
                )
            with serve([sys.executable, "-m", "gateway", "serve"], env, port) as server:
                meter = CpuMeter(
                    {
                        "web": lambda: [server.process.pid],
                        "worker": lambda: [p.pid for p in procs[1:]],
                        "fake": lambda: [fake.pid],
                        "load": lambda: [os.getpid()],
                        "postgres": lambda: processes_matching(f"postgres {db_url.rsplit('/', 1)[-1]} "),
                        "redis": lambda: processes_matching("redis-server") if scaled else [],
                    }
                )
                meter.start()
                accepted = asyncio.run(offer(server.url, key, rate, seconds))
                arrived = asyncio.run(arrivals(fake_url, len(accepted), wait_seconds=120 + seconds))
                meter.stop()
                claims = asyncio.run(claims_made(db_url))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            with contextlib.suppress(Exception):
                p.wait(timeout=15)
    latencies = sorted((arrived[i] - accepted[i]) * 1000 for i in accepted if i in arrived)
    if not latencies:
        print(f"{label}: nothing arrived ({len(accepted)} accepted)")
        return
    first, last = min(accepted.values()), max(arrived.values())
    q = statistics.quantiles(latencies, n=100)
    print(
        f"{label}: offered {rate:.0f}/s for {seconds:.0f}s; accepted {len(accepted)} "
        f"({len(accepted) / (max(accepted.values()) - first):.0f}/s), arrived {len(arrived)}; "
        f"{len(arrived) / (last - first):.0f} messages/s end to end; latency p50 {q[49]:.0f} ms, "
        f"p95 {q[94]:.0f} ms, max {latencies[-1]:.0f} ms"
    )
    print(f"    {meter.report(len(arrived))}; {len(arrived) / max(claims, 1):.1f} messages per claim")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rate", type=float, default=1000, help="messages offered per second")
    parser.add_argument("--workers", type=int, default=1, help="arq worker processes")
    parser.add_argument("--only", choices=["arq", "embedded"], help="run one mode only")
    parser.add_argument("--event-loop", choices=["auto", "uvloop", "asyncio"], default="auto")
    parser.add_argument(
        "--provider-ms", type=float, nargs="+", default=[0.0, 200.0], help="fake Twilio answer delays to run"
    )
    args = parser.parse_args()
    if args.only != "embedded":
        if not postgres_available():
            print("PostgreSQL not reachable: arq figures not measured")
        else:
            for delay in (ms / 1000 for ms in args.provider_ms):
                run(
                    f"arq + PostgreSQL, {args.workers} worker(s), provider {delay * 1000:.0f} ms",
                    scaled=True,
                    delay=delay,
                    rate=args.rate,
                    seconds=args.seconds,
                    workers=args.workers,
                    event_loop=args.event_loop,
                )
    if args.only != "arq":
        for delay in (ms / 1000 for ms in args.provider_ms):
            run(
                f"embedded (SQLite, in-process), provider {delay * 1000:.0f} ms",
                scaled=False,
                delay=delay,
                rate=args.rate,
                seconds=args.seconds,
                workers=0,
                event_loop=args.event_loop,
            )


if __name__ == "__main__":
    main()
