"""Staff pages refuse a NUL character in any form field or query parameter with a 400 page naming
the field, before any handler runs (PostgreSQL cannot store or search one: it was a 500)."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.db import AuditEntry
from tests.factories import ServiceUnderTest
from tests.web.conftest import StaffFactory
from tests.web.staff import csrf_from, sign_in

Client = TestClient  # type: ignore[type-arg]


@pytest.mark.parametrize("path", ["/inbox?q=%2B1202%005550143", "/cases?q=CASE%00-1", "/admin/audit?action=login%00"])
async def test_a_nul_in_a_search_is_a_400_page(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, path: str
) -> None:
    admin = await staff_factory(service.id, roles=("admin", "officer"))
    await sign_in(client, admin)
    response = await client.get(path)
    assert response.status == 400
    field = path.split("?")[1].split("=")[0]
    assert f"The field &#39;{field}&#39; contains a NUL character" in await response.text()


async def test_a_nul_in_a_posted_form_is_a_400_and_changes_nothing(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    admin = await staff_factory(service.id, roles=("admin",))
    await sign_in(client, admin)
    token = await csrf_from(client, "/admin/staff")
    form = {"csrf_token": token, "name": "Vera\x00", "email": "vera@agency.example", "roles": "officer"}
    response = await client.post("/admin/staff", data=form | {"password": "a long first password"})
    assert response.status == 400 and "The field &#39;name&#39; contains a NUL character" in await response.text()
    async with sessions() as db:
        created = await db.scalar(
            select(AuditEntry).where(AuditEntry.action == "staff.create", AuditEntry.service_id == service.id)
        )
    assert created is None


async def test_a_nul_in_the_sign_in_form_is_a_400(client: Client) -> None:
    token = await csrf_from(client, "/login")
    response = await client.post("/login", data={"csrf_token": token, "email": "a\x00@b.example", "password": "x"})
    assert response.status == 400
