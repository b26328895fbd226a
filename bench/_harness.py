"""Shared benchmark plumbing: fresh databases, a gateway server subprocess, wrk runs.

Benchmarks print figures; they are not tests and assert nothing about speed.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SECRET = "bench-secret-" + "y" * 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


@contextmanager
def database(kind: str) -> Iterator[str]:
    """A fresh database URL of `kind` ('sqlite' or 'postgres'), removed afterwards."""
    if kind == "sqlite":
        folder = tempfile.mkdtemp(prefix="gw-bench-")
        try:
            yield f"sqlite+aiosqlite:///{folder}/bench.db"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    import asyncpg

    name = f"gw_bench_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def postgres_available() -> bool:
    import asyncpg

    async def probe() -> None:
        conn = await asyncpg.connect(PG_ADMIN, timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
        return True
    except Exception:
        return False


def gateway_env(database_url: str, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_DATABASE_URL=database_url,
        GATEWAY_PORT=str(port),
        GATEWAY_SECRET_KEY=SECRET,
        GATEWAY_LOG_LEVEL="warning",
        # benchmarks measure throughput, not Notify's per-key limit of 3,000 a minute
        GATEWAY_API_RATE_LIMIT_PER_MINUTE="100000000",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def gateway(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


@contextmanager
def serve(argv: list[str], env: dict[str, str], port: int) -> Iterator[Server]:
    process = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    server = Server(process, f"http://127.0.0.1:{port}")
    try:
        wait_http(f"{server.url}/healthz")
        yield server
    finally:
        server.stop()


@dataclass
class WrkResult:
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def ok_per_second(self) -> float:
        return (self.requests - self.errors) / self.seconds


_LUA = """
wrk.method = "POST"
wrk.body = [[%(body)s]]
wrk.headers["Content-Type"] = "application/json"
%(headers)s
done = function(summary, latency, requests)
  io.write(string.format("RESULT %%d %%d %%f %%f %%f\\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def wrk(url: str, body: dict[str, object], headers: dict[str, str], seconds: int, connections: int = 64) -> WrkResult:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed for this benchmark: apt-get install -y wrk")
    header_lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_LUA % {"body": json.dumps(body), "headers": header_lines})
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", script.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    match = re.search(r"RESULT (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+)", out)
    if not match:
        raise RuntimeError(f"could not read wrk output:\n{out}")
    req, err, dur, p50, p99 = match.groups()
    return WrkResult(int(req), int(err), float(dur), float(p50), float(p99))
