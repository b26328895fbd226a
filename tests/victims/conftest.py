"""Fixtures for victim notification: a parole service and a victim services unit that follows it, the real
app on a real port (Twilio's fake calls back into it), a fake Twilio, and a ManualClock.

`world.put_victim(...)`, `world.event(...)` call the API as the agency's systems would;
`world.settle()` runs every queued job (the in-process queue); `world.sweep()` runs the sweeper once,
as its timer would, on the world's clock.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import keys
from gateway.app import create_app
from gateway.clock import ManualClock
from gateway.crypto import Vault
from gateway.db import Notification, Service, VictimNotice
from gateway.directory.cases import upsert_case
from gateway.jobs.queue import LocalQueue
from gateway.jobs.sweeper import sweep
from gateway.victims.links import follow
from tests.conftest import test_settings
from tests.factories import ServiceUnderTest, make_service
from tests.fakes.twilio_server import FAKE_TWILIO, FakeTwilio, make_fake_twilio

ACCOUNT = "AC" + "5e" * 16
TOKEN = "victims-test-twilio-auth-token"
START = datetime(2026, 12, 8, 15, 0, tzinfo=UTC)  # a Tuesday afternoon: inside the default sending window
Client = TestClient  # type: ignore[type-arg]


def bearer(key: str, service_id: uuid.UUID) -> dict[str, str]:
    token = jwt.encode({"iss": str(service_id), "iat": int(time.time())}, key[-36:], "HS256")
    return {"Authorization": f"Bearer {token}"}


def number() -> str:
    return f"+1202555{secrets.randbelow(10000):04d}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class World:
    client: Client
    parole: ServiceUnderTest
    vsu: ServiceUnderTest
    clock: ManualClock
    twilio: FakeTwilio
    sessions: async_sessionmaker[AsyncSession]
    vault: Vault
    case_ref: str
    vsu_number: str
    parole_number: str
    victim_phone: str = ""

    async def put_victim(self, external_id: str, body: dict[str, Any], key: str | None = None) -> ClientResponse:
        return await self.client.put(
            f"/v2/victims/{external_id}", json=body, headers=bearer(key or self.vsu.live_key, self.vsu.id)
        )

    async def event(
        self, body: dict[str, Any], reference: str | None = None, key: str | None = None, service: Any = None
    ) -> ClientResponse:
        who = service or self.parole
        return await self.client.post(
            f"/v2/cases/{reference or self.case_ref}/events", json=body, headers=bearer(key or who.live_key, who.id)
        )

    def victim(self, name: str, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "first_name": name,
            "last_name": "Example",
            "channels": ["sms"],
            "cases": [{"service_id": str(self.parole.id), "reference": self.case_ref, "offender_name": "Chris Doe"}],
        }
        body.update(fields)
        return body

    async def calls_finished(self, to: str, count: int = 1) -> None:
        """Wait (10 s at most) until `count` calls to `to` have run their whole script at the fake (the
        sweeper may be calling other tests' victims meanwhile: the shared database holds their calls too)."""
        voice = self.twilio.voice
        async with asyncio.timeout(10):
            while True:
                voice.done.clear()
                done = [c for c in voice.calls if c.to == to]
                if len(done) >= count and all(c.finished for c in done):
                    break
                await voice.done.wait()  # set whenever any call finishes
        await self.settle()

    async def settle(self) -> None:
        queue = self.client.app[keys.QUEUE]
        assert isinstance(queue, LocalQueue)
        await queue.join(horizon=5)

    async def sweep(self) -> str:
        result = await sweep(self.client.app[keys.JOB_CONTEXT])
        await self.settle()
        return result

    async def notices(self) -> list[VictimNotice]:
        async with self.sessions() as db:
            rows = await db.scalars(select(VictimNotice).where(VictimNotice.service_id == self.vsu.id))
            return list(rows.all())

    async def notification(self, notification_id: uuid.UUID) -> Notification:
        async with self.sessions() as db:
            found = await db.get(Notification, notification_id)
            assert found is not None
            return found


WorldFactory = Callable[..., Awaitable[World]]


@pytest.fixture
async def fake_twilio(aiohttp_server: Any) -> tuple[FakeTwilio, str]:
    app = make_fake_twilio(account_sid=ACCOUNT, auth_token=TOKEN)
    server = await aiohttp_server(app)
    return app[FAKE_TWILIO], str(server.make_url("")).rstrip("/")


async def make_units(
    sessions: async_sessionmaker[AsyncSession], vault: Vault
) -> tuple[ServiceUnderTest, ServiceUnderTest, str, str]:
    parole, vsu = await make_service(sessions, vault), await make_service(sessions, vault)
    parole_number, vsu_number = number(), number()
    async with sessions() as db:
        await db.execute(
            update(Service)
            .where(Service.id == parole.id)
            .values(sms_sender=parole_number, email_from="parole@parole.example", sms_per_second=1000)
        )
        await db.execute(
            update(Service)
            .where(Service.id == vsu.id)
            .values(
                kind="victim_services",
                sms_sender=vsu_number,
                email_from="Victim Services <vsu@vsu.example>",
                letter_contact_block="Victim Services Unit\n1 State House\nBoston, MA 02133",
                sms_per_second=1000,
            )
        )
        await follow(db, vsu.id, parole.id)
        await db.commit()
    return parole, vsu, parole_number, vsu_number


@pytest.fixture
async def make_world(
    aiohttp_server: Any,
    database_url: str,
    fake_twilio: tuple[FakeTwilio, str],
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    tmp_path: Any,
) -> WorldFactory:
    async def make(**overrides: Any) -> World:
        parole, vsu, parole_number, vsu_number = await make_units(sessions, vault)
        case_ref = f"P-{secrets.token_hex(3)}"
        async with sessions() as db:
            await upsert_case(db, parole.id, case_ref, {"status": "open"}, "test")
            await db.commit()
        port = free_port()
        values: dict[str, Any] = {
            "public_url": f"http://127.0.0.1:{port}",
            "twilio_account_sid": ACCOUNT,
            "twilio_auth_token": TOKEN,
            "twilio_api_base": fake_twilio[1],
            "sweep_interval_seconds": 3600.0,
            "sweep_grace_seconds": 0.0,
            "letters_dir": tmp_path / "letters",
        }
        values.update(overrides)
        clock = ManualClock(START)
        app: web.Application = create_app(test_settings(database_url, **values), clock=clock)
        server = TestServer(app, port=port)
        client = TestClient(server)
        await client.start_server()
        worlds.append(client)
        return World(client, parole, vsu, clock, fake_twilio[0], sessions, vault, case_ref, vsu_number, parole_number)

    worlds: list[Client] = []
    yield make  # type: ignore[misc]
    for client in worlds:
        await client.close()


@pytest.fixture
async def world(make_world: WorldFactory) -> World:
    return await make_world()
