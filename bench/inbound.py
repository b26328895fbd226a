"""Inbound benchmark: Twilio webhook -> handler chain -> case record, at a steady request rate.

A fresh database; `gateway serve` in its own process (embedded mode by default: SQLite and the
in-process queue); `--people` clients, each with a phone number and an open case with an officer.
A Python load generator sends Twilio-signed inbound SMS webhooks at a fixed rate (open loop: the
schedule does not wait for answers), round-robin over the clients. Afterwards, for every message,
the latency from the webhook's commit (`InboundMessage.received_at`) to its case record entry
(`RecordEntry.at`) is read from the database.

Prints: webhook answer latency (client side), webhook -> record latency p50/p95/p99/max, and the
throughput the record kept up with. Target: p99 under 100 ms at 200 requests/s.

    .venv/bin/python bench/inbound.py [--rate 200] [--seconds 20] [--people 100] [--db sqlite|postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
import uuid
from pathlib import Path

import aiohttp
from sqlalchemy import func, select, update
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._harness import ROOT, database, free_port, gateway, gateway_env, postgres_available, serve
from gateway.crypto import Vault
from gateway.db import Case, CaseParticipant, ContactPoint, InboundMessage, Person, RecordEntry, Service, StaffUser
from gateway.db.engine import make_engine, session_factory

TOKEN = "bench-twilio-auth-token"
ACCOUNT = "AC" + "be" * 16
NUMBER = "+15005550006"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def populate(url: str, secret: str, service: str, people: int) -> list[str]:
    """`people` clients with phones and open cases, each case with an officer; returns the phones."""
    service_id = uuid.UUID(service)
    engine = make_engine(url)
    vault = Vault(secret)
    phones = [f"+1202555{1000 + i:04d}" for i in range(people)]
    async with session_factory(engine)() as session:
        await session.execute(update(Service).where(Service.id == service_id).values(sms_sender=NUMBER))
        officer = StaffUser(service_id=service_id, email="officer@bench.example.org", name="Bench Officer")
        session.add(officer)
        await session.flush()
        for i, phone in enumerate(phones):
            person = Person(service_id=service_id, display_name=f"Client {i}")
            session.add(person)
            await session.flush()
            session.add(
                ContactPoint(
                    service_id=service_id,
                    person_id=person.id,
                    kind="phone",
                    value_enc=vault.seal(phone),
                    value_index=vault.blind_index(phone),
                )
            )
            case = Case(service_id=service_id, external_ref=f"BENCH-{i}", assigned_staff_id=officer.id)
            session.add(case)
            await session.flush()
            session.add(CaseParticipant(case_id=case.id, person_id=person.id, role="client"))
        await session.commit()
    await engine.dispose()
    return phones


async def load(base: str, public: str, phones: list[str], rate: float, seconds: float) -> tuple[list[float], int]:
    """Send signed webhooks at `rate` per second; returns answer latencies (ms) and failures."""
    validator = RequestValidator(TOKEN)
    url = public + "/webhooks/twilio/sms"
    total = int(rate * seconds)
    latencies: list[float] = []
    failures = 0

    async def one(session: aiohttp.ClientSession, i: int, at: float) -> None:
        nonlocal failures
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        sid = "SM" + secrets.token_hex(16)
        form = {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": ACCOUNT,
            "From": phones[i % len(phones)],
            "To": NUMBER,
            "Body": f"Bench message {i}: running a few minutes late for my appointment",
            "NumMedia": "0",
        }
        headers = {"X-Twilio-Signature": validator.compute_signature(url, form)}
        started = time.perf_counter()
        try:
            async with session.post(base + "/webhooks/twilio/sms", data=form, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    failures += 1
        except aiohttp.ClientError:
            failures += 1
        latencies.append((time.perf_counter() - started) * 1000)

    connector = aiohttp.TCPConnector(limit=128)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter() + 0.2
        await asyncio.gather(*(one(session, i, start + i / rate) for i in range(total)))
    return latencies, failures


async def measure(url: str, expected: int, wait_seconds: float = 120.0) -> tuple[list[float], float, int]:
    """Wait until every message has its record entry; webhook->record latencies (ms), throughput, failed."""
    engine = make_engine(url)
    deadline = time.monotonic() + wait_seconds
    try:
        async with session_factory(engine)() as session:
            while time.monotonic() < deadline:
                done = await session.scalar(select(func.count()).select_from(RecordEntry))
                if (done or 0) >= expected:
                    break
                await asyncio.sleep(0.5)
            rows = (
                await session.execute(
                    select(InboundMessage.received_at, RecordEntry.at).join(
                        RecordEntry, RecordEntry.inbound_id == InboundMessage.id
                    )
                )
            ).all()
            failed = await session.scalar(
                select(func.count()).select_from(InboundMessage).where(InboundMessage.state != "processed")
            )
    finally:
        await engine.dispose()
    latencies = [(at - received).total_seconds() * 1000 for received, at in rows]
    span = (max(at for _, at in rows) - min(received for received, _ in rows)).total_seconds() if rows else 0.0
    return latencies, len(rows) / span if span else 0.0, int(failed or 0)


def run(kind: str, rate: float, seconds: float, people: int) -> None:
    with database(kind) as url:
        port = free_port()
        public = f"http://127.0.0.1:{port}"
        env = gateway_env(
            url,
            port,
            GATEWAY_PUBLIC_URL=public,
            GATEWAY_TWILIO_ACCOUNT_SID=ACCOUNT,
            GATEWAY_TWILIO_AUTH_TOKEN=TOKEN,
            GATEWAY_TWILIO_API_BASE="http://127.0.0.1:9",  # nothing is sent in this run
        )
        gateway(env, "migrate")
        service_id = gateway(env, "service", "create", f"Bench office {secrets.token_hex(3)}")
        phones = asyncio.run(populate(url, env["GATEWAY_SECRET_KEY"], service_id, people))
        with serve([sys.executable, "-m", "gateway", "serve"], env, port) as server:
            cpu_before = cpu_seconds(server.process.pid)
            answers, failures = asyncio.run(load(server.url, public, phones, rate, seconds))
            latencies, throughput, failed = asyncio.run(measure(url, len(answers)))
            cpu = cpu_seconds(server.process.pid) - cpu_before
    total = len(answers)
    print(f"\n{kind}: {total} webhooks at {rate:g}/s for {seconds:g} s, {people} clients (cwd {ROOT.name})")
    print(
        f"  webhook answer     p50 {statistics.median(answers):6.1f} ms   p99 {percentile(answers, 99):6.1f} ms"
        f"   failures {failures}"
    )
    if not latencies:
        print("  no record entries were written")
        return
    print(
        f"  webhook -> record  p50 {statistics.median(latencies):6.1f} ms   p95 {percentile(latencies, 95):6.1f} ms"
        f"   p99 {percentile(latencies, 99):6.1f} ms   max {max(latencies):6.1f} ms"
    )
    print(f"  recorded {len(latencies)} of {total}; not processed: {failed}; record throughput {throughput:.0f}/s")
    print(f"  server CPU {cpu * 1000 / total:.2f} ms per message (webhook + handler chain + record)")
    verdict = "meets" if percentile(latencies, 99) < 100 else "misses"
    print(f"  p99 target (< 100 ms): {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0, help="webhooks per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--people", type=int, default=100, help="clients the messages come from")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    options = parser.parse_args()
    kinds = ["sqlite", "postgres"] if options.db == "both" else [options.db]
    for kind in kinds:
        if kind == "postgres" and not postgres_available():
            print("postgres: not reachable; skipped")
            continue
        run(kind, options.rate, options.seconds, options.people)


if __name__ == "__main__":
    main()
