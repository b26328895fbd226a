"""Compartments and roles: sign-in required, 404 across services, 403 for other roles, victim data.

Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.admin import create_service
from gateway.crypto import Vault
from gateway.db import AuditEntry, Service, StaffUser, Template
from gateway.db.base import utcnow
from gateway.domain import Role, ServiceKind
from gateway.web.access import audit_view, can_see_victim_data, open_victim_data
from gateway.web.context import ServiceInfo, StaffContext, Stage, WebSession
from tests.factories import ServiceUnderTest, make_service
from tests.web.conftest import StaffFactory
from tests.web.staff import csrf_from, sign_in

Client = TestClient  # type: ignore[type-arg]
Sessions = async_sessionmaker[AsyncSession]


async def test_pages_need_a_signed_in_person(client: Client) -> None:
    for path in ("/", "/inbox", "/templates", "/admin/staff", "/account", "/cases", f"/admin/staff/{uuid.uuid4()}"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 303, path
        assert response.headers["Location"].startswith("/login?next="), path
    assert (await client.get("/login")).status == 200
    assert (await client.get("/static/sms-length.js")).status == 200


async def test_another_services_objects_are_not_found(
    make_client: Callable[..., Awaitable[Client]],
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: Sessions,
    vault: Vault,
) -> None:
    other = await make_service(sessions, vault)
    admin_a = await staff_factory(service.id, roles=("admin",))
    person_a = await staff_factory(service.id, name="Person In A")
    admin_b = await staff_factory(other.id, roles=("admin",))
    template_a = uuid.uuid4()
    async with sessions() as db:
        db.add(
            Template(
                id=template_a,
                service_id=service.id,
                name="A only",
                slug=f"a-{template_a.hex[:6]}",
                channel="sms",
                language="en",
                body="Hello from A",
                content_hash="x",
                source_path="test",
            )
        )
        await db.commit()
        await db.execute(StaffUser.__table__.update().where(StaffUser.id == person_a.id).values(locked_until=utcnow()))
        await db.commit()

    client_a, client_b = await make_client(), await make_client()
    await sign_in(client_a, admin_a)
    await sign_in(client_b, admin_b)
    assert (await client_a.get(f"/admin/staff/{person_a.id}")).status == 200
    assert (await client_a.get(f"/templates/{template_a}")).status == 200

    for path in (f"/admin/staff/{person_a.id}", f"/templates/{template_a}", "/admin/staff/not-a-uuid"):
        response = await client_b.get(path)
        assert response.status == 404, path
        assert "Page not found" in await response.text()
    token = await csrf_from(client_b, "/admin/staff")
    for action in ("unlock", "reset-totp"):
        response = await client_b.post(f"/admin/staff/{person_a.id}/{action}", data={"csrf_token": token})
        assert response.status == 404
    async with sessions() as db:
        untouched = await db.get(StaffUser, person_a.id)
        audit = (await db.scalars(select(AuditEntry).where(AuditEntry.target == str(person_a.id)))).all()
    assert untouched is not None and untouched.locked_until is not None and untouched.totp_secret_enc is not None
    assert audit == []
    # B's staff list shows only B's people.
    listing = await (await client_b.get("/admin/staff")).text()
    assert "Person In A" not in listing and admin_a.email not in listing


async def test_admin_pages_are_for_admins(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions
) -> None:
    officer = await staff_factory(service.id, roles=("officer", "supervisor"))
    someone = await staff_factory(service.id)
    await sign_in(client, officer)
    nav = await (await client.get("/inbox")).text()
    assert 'href="/admin/staff"' not in nav  # not offered ...
    for path in ("/admin/staff", f"/admin/staff/{someone.id}"):  # ... and refused
        response = await client.get(path)
        assert response.status == 403 and "does not have access" in await response.text()
    token = await csrf_from(client, "/inbox")
    response = await client.post(
        "/admin/staff",
        data={
            "name": "Sneaky",
            "email": "sneaky@agency.example",
            "roles": "admin",
            "password": "p" * 20,
            "csrf_token": token,
        },
    )
    assert response.status == 403
    async with sessions() as db:
        assert await db.scalar(select(StaffUser.id).where(StaffUser.email == "sneaky@agency.example")) is None


def _staff(roles: set[Role], service_id: uuid.UUID, kind: ServiceKind) -> StaffContext:
    session = WebSession("h", uuid.uuid4(), service_id, Stage.FULL, "t", None)
    return StaffContext(
        session, session.staff_id, "N", "n@agency.example", frozenset(roles), ServiceInfo(service_id, "S", kind)
    )


@pytest.mark.parametrize(
    ("kind", "roles", "allowed"),
    [
        (ServiceKind.VICTIM_SERVICES, {Role.VICTIM_ADVOCATE}, True),
        (ServiceKind.VICTIM_SERVICES, {Role.SUPERVISOR}, True),
        (ServiceKind.VICTIM_SERVICES, {Role.ADMIN}, True),
        (ServiceKind.VICTIM_SERVICES, {Role.OFFICER}, False),
        (ServiceKind.SUPERVISION, {Role.VICTIM_ADVOCATE, Role.ADMIN}, False),
        (ServiceKind.REENTRY, {Role.SUPERVISOR}, False),
    ],
)
def test_who_may_see_victim_data(kind: ServiceKind, roles: set[Role], allowed: bool) -> None:
    service_id = uuid.uuid4()
    staff = _staff(roles, service_id, kind)
    assert can_see_victim_data(staff, staff.service) is allowed
    # Never for another service's data, whatever the roles.
    other = ServiceInfo(uuid.uuid4(), "Other", ServiceKind.VICTIM_SERVICES)
    assert can_see_victim_data(staff, other) is False


async def test_views_of_victim_data_are_audited(sessions: Sessions, vault: Vault) -> None:
    async with sessions() as db:
        victim_unit = await create_service(db, f"Victim unit {uuid.uuid4().hex[:6]}", ServiceKind.VICTIM_SERVICES)
        await db.commit()
    request = make_mocked_request("GET", "/cases/x")
    advocate = _staff({Role.VICTIM_ADVOCATE}, victim_unit.id, ServiceKind.VICTIM_SERVICES)
    officer = _staff({Role.OFFICER}, victim_unit.id, ServiceKind.VICTIM_SERVICES)
    async with sessions() as db:
        assert await db.get(Service, victim_unit.id) is not None
        open_victim_data(db, request, advocate, "victim_registration", "reg-1")
        audit_view(db, request, advocate, "victim_contact", "person-2")
        with pytest.raises(web.HTTPNotFound):
            open_victim_data(db, request, officer, "victim_registration", "reg-1")
        await db.commit()
        rows = (
            await db.scalars(
                select(AuditEntry).where(AuditEntry.service_id == victim_unit.id, AuditEntry.action.like("view.%"))
            )
        ).all()
    assert [(r.action, r.target, r.actor) for r in rows] == [
        ("view.victim_registration", "reg-1", f"staff:{advocate.user_id}"),
        ("view.victim_contact", "person-2", f"staff:{advocate.user_id}"),
    ]
