"""Victims belong to a victim-services service: an offender-facing service's directory API never
returns, counts or changes a person who is a victim participant of one of its cases."""

from __future__ import annotations

import uuid

from aiohttp.test_utils import TestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.db import CaseParticipant, Service
from gateway.directory.importer import ImportOptions, import_table
from tests.api.test_auth import bearer
from tests.directory.people import person_body
from tests.factories import ServiceUnderTest, make_service


async def _victim_on_a_case(
    client: TestClient, s: ServiceUnderTest, sessions: async_sessionmaker[AsyncSession]
) -> None:
    auth = bearer(s.live_key, s.id)
    assert (await client.put("/v2/people/V-1", json=person_body(), headers=auth)).status == 201
    person_id = uuid.UUID((await (await client.get("/v2/people/V-1", headers=auth)).json())["id"])
    case = await client.put("/v2/cases/C-V1", json={"status": "open"}, headers=auth)
    async with sessions() as db:
        db.add(CaseParticipant(case_id=uuid.UUID((await case.json())["id"]), person_id=person_id, role="victim"))
        await db.commit()


async def test_an_offender_facing_service_never_returns_a_victim(
    client: TestClient, service: ServiceUnderTest, sessions: async_sessionmaker[AsyncSession], vault: Vault
) -> None:
    await _victim_on_a_case(client, service, sessions)
    auth = bearer(service.live_key, service.id)
    assert (await client.get("/v2/people/V-1", headers=auth)).status == 404
    assert (await client.delete("/v2/people/V-1", headers=auth)).status == 404
    changed = await client.put("/v2/people/V-1", json=person_body(first_name="X"), headers=auth)
    assert changed.status == 400 and "V-1" in await changed.text() and "victim" not in await changed.text()
    # a case cannot name them as its client: "no person with external id" — as if they did not exist
    named = await client.put("/v2/cases/C-V2", json={"client": "V-1"}, headers=auth)
    assert named.status == 400 and "no person with external id 'V-1'" in await named.text()
    engine = sessions.kw["bind"]
    data = b"external_id,first_name,last_name\nV-1,X,Y\n"
    report = await import_table(sessions, engine, vault, service.id, "people", data, "p.csv", ImportOptions(), "t")
    assert not report.written and report.errors[0].message == "'V-1' cannot be written through this service"


async def test_a_victim_services_service_sees_its_own_victims(
    client: TestClient, sessions: async_sessionmaker[AsyncSession], vault: Vault
) -> None:
    vsu = await make_service(sessions, vault)
    async with sessions() as db:
        await db.execute(update(Service).where(Service.id == vsu.id).values(kind="victim_services"))
        await db.commit()
    await _victim_on_a_case(client, vsu, sessions)
    got = await client.get("/v2/people/V-1", headers=bearer(vsu.live_key, vsu.id))
    assert got.status == 200 and (await got.json())["external_id"] == "V-1"
