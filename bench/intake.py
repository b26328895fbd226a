"""Intake benchmark: durable accepted notifications per second through the real API.

For SQLite and PostgreSQL: a fresh database, `gateway serve` in its own process, wrk with 64
keep-alive connections POSTing `/v2/notifications/sms` with a Notify JWT. A 201 means the row is
committed; afterwards the rows in the database are counted to prove it. Beside it, in the same
run, a minimal aiohttp JSON endpoint gives the machine's ceiling. Prints both and their ratio.

    .venv/bin/python bench/intake.py [--seconds 10] [--sms-per-second 100000]

`--sms-per-second 10` (the default for a new service) holds the sandbox deliveries that follow in
the same process to one sender's rate, so a backlog of thousands builds behind one number during
the run: the figure then says what waiting messages cost intake.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.request

from sqlalchemy import func, select

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent))

from bench._harness import (
    ROOT,
    database,
    free_port,
    gateway,
    gateway_env,
    postgres_available,
    serve,
    wrk,
)
from gateway.db import Notification
from gateway.db.engine import make_engine


def _sms_template(url: str, token: str) -> str:
    request = urllib.request.Request(f"{url}/v2/templates?type=sms", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request) as response:
        templates = json.load(response)["templates"]
    return next(t["id"] for t in templates if t["body"].strip() == "{{ message }}")


async def _count(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(Notification))).scalar_one())
    finally:
        await engine.dispose()


def run_gateway(kind: str, seconds: int, sms_per_second: int) -> dict[str, float]:
    from notifications_python_client.authentication import create_jwt_token

    with database(kind) as url:
        port = free_port()
        env = gateway_env(url, port)
        gateway(env, "migrate")
        service_id = gateway(env, "service", "create", "Bench office")
        key = gateway(env, "key", "create", service_id, "--name", "bench", "--type", "live")
        # This measures intake: the sandbox deliveries that follow in the same process are not held back
        # by the per-sender rate (default 10/s) unless --sms-per-second asks for it, nor the daily limit.
        rate = str(sms_per_second)
        gateway(env, "service", "update", service_id, "--sms-per-second", rate, "--daily-limit", "100000000")
        with serve([sys.executable, "-m", "gateway", "serve"], env, port) as server:
            template_id = _sms_template(server.url, create_jwt_token(key[-36:], service_id))
            body = {
                "phone_number": "+12025550143",
                "template_id": template_id,
                "personalisation": {"message": "Your appointment is at 10:00 on Monday."},
            }
            # Notify tokens are valid for 30 s: a fresh one per run (each run is shorter than that).
            wrk(
                f"{server.url}/v2/notifications/sms",
                body,
                {"Authorization": f"Bearer {create_jwt_token(key[-36:], service_id)}"},
                3,
            )  # warm-up
            before = asyncio.run(_count(url))
            result = wrk(
                f"{server.url}/v2/notifications/sms",
                body,
                {"Authorization": f"Bearer {create_jwt_token(key[-36:], service_id)}"},
                seconds,
            )
        stored = asyncio.run(_count(url)) - before
    accepted = result.requests - result.errors
    return {
        "per_second": result.ok_per_second,
        "p50": result.p50_ms,
        "p99": result.p99_ms,
        "accepted": accepted,
        "stored": stored,
        "errors": result.errors,
    }


def run_bare(seconds: int) -> dict[str, float]:
    port = free_port()
    with serve([sys.executable, str(ROOT / "bench" / "bare_server.py"), str(port)], {}, port) as server:
        body = {"phone_number": "+12025550143", "template_id": "x", "personalisation": {"message": "hi"}}
        wrk(f"{server.url}/v2/notifications/sms", body, {}, 2)
        result = wrk(f"{server.url}/v2/notifications/sms", body, {}, seconds)
    return {"per_second": result.ok_per_second, "p50": result.p50_ms, "p99": result.p99_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--sms-per-second", type=int, default=100000, help="the sender's rate for the deliveries")
    args = parser.parse_args()
    bare = run_bare(args.seconds)
    print(
        f"bare aiohttp JSON endpoint: {bare['per_second']:8.0f} req/s  p50 {bare['p50']:.1f} ms  "
        f"p99 {bare['p99']:.1f} ms"
    )
    kinds = ["sqlite"] + (["postgres"] if postgres_available() else [])
    for kind in kinds:
        r = run_gateway(kind, args.seconds, args.sms_per_second)
        print(
            f"gateway intake ({kind:8}):  {r['per_second']:8.0f} accepted/s  p50 {r['p50']:.1f} ms  "
            f"p99 {r['p99']:.1f} ms  ratio {r['per_second'] / bare['per_second']:.2f} of bare  "
            f"(201s {r['accepted']:.0f}, rows stored {r['stored']:.0f}, errors {r['errors']:.0f})"
        )
    if "postgres" not in kinds:
        print("PostgreSQL not reachable: its figure was not measured")


if __name__ == "__main__":
    main()
