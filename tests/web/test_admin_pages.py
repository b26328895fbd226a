"""The admin staff pages and the account page: create, unlock, reset two-factor, change password.

Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiohttp.test_utils import TestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.db import StaffSession, StaffUser
from gateway.db.base import utcnow
from gateway.web.passwords import Passwords
from tests.factories import ServiceUnderTest
from tests.web.conftest import StaffFactory
from tests.web.staff import StaffUnderTest, audit_rows, csrf_from, sign_in

Client = TestClient  # type: ignore[type-arg]
Sessions = async_sessionmaker[AsyncSession]


async def test_an_admin_adds_a_member_of_staff(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions, passwords: Passwords
) -> None:
    admin = await staff_factory(service.id, roles=("admin",))
    await sign_in(client, admin)
    token = await csrf_from(client, "/admin/staff")
    email = f"new.{admin.id.hex[:8]}@Agency.Example"
    form = [
        ("csrf_token", token),
        ("name", "  Vera   Advocate "),
        ("email", email),
        ("roles", "victim_advocate"),
        ("roles", "officer"),
        ("password", "a long first password"),
    ]
    response = await client.post("/admin/staff", data=form, allow_redirects=False)
    assert response.status == 303
    async with sessions() as db:
        user = await db.scalar(select(StaffUser).where(StaffUser.email == email.lower()))
    assert user is not None and user.service_id == service.id
    assert (user.name, user.roles, user.totp_secret_enc) == ("Vera Advocate", ["officer", "victim_advocate"], None)
    assert user.password_hash and (await passwords.verify(user.password_hash, "a long first password")).ok
    assert response.headers["Location"] == f"/admin/staff/{user.id}?done=created"
    page = await (await client.get(response.headers["Location"])).text()
    assert "The account has been created" in page and "Not set up" in page
    [row] = await audit_rows(sessions, service.id, action="staff.create")
    assert (row.actor, row.target, row.detail) == (
        f"staff:{admin.id}",
        str(user.id),
        {"roles": ["officer", "victim_advocate"]},
    )


async def test_bad_new_accounts_are_refused_with_reasons(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions
) -> None:
    admin = await staff_factory(service.id, roles=("admin",))
    await sign_in(client, admin)
    token = await csrf_from(client, "/admin/staff")
    response = await client.post(
        "/admin/staff",
        data={"csrf_token": token, "name": "", "email": "not an email", "password": "short"},
    )
    assert response.status == 400
    text = await response.text()
    for message in ("valid email address", "Enter a name", "at least one role", "at least 12 characters"):
        assert message in text
    response = await client.post(
        "/admin/staff",
        data={"csrf_token": token, "name": "Dup", "email": admin.email, "roles": "officer", "password": "p" * 14},
    )
    assert response.status == 400 and "already exists" in await response.text()
    assert await audit_rows(sessions, service.id, action="staff.create") == []


async def _lock(sessions: Sessions, staff: StaffUnderTest) -> None:
    async with sessions() as db:
        await db.execute(
            update(StaffUser)
            .where(StaffUser.id == staff.id)
            .values(locked_until=utcnow() + timedelta(minutes=10), failed_logins=3)
        )
        await db.commit()


async def test_unlock_and_reset_two_factor(
    make_client: Callable[..., Awaitable[Client]],
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: Sessions,
) -> None:
    admin = await staff_factory(service.id, roles=("admin",))
    person = await staff_factory(service.id, name="Pat Person")
    admin_client, person_client = await make_client(), await make_client()
    await sign_in(admin_client, admin)
    await sign_in(person_client, person)
    await _lock(sessions, person)

    token = await csrf_from(admin_client, f"/admin/staff/{person.id}")
    response = await admin_client.post(
        f"/admin/staff/{person.id}/unlock", data={"csrf_token": token}, allow_redirects=False
    )
    assert response.status == 303 and response.headers["Location"].endswith("?done=unlocked")
    async with sessions() as db:
        user = await db.get(StaffUser, person.id)
    assert user is not None and (user.locked_until, user.failed_logins) == (None, 0)
    assert (await person_client.get("/inbox")).status == 200  # unlocking does not sign anyone out

    response = await admin_client.post(
        f"/admin/staff/{person.id}/reset-totp", data={"csrf_token": token}, allow_redirects=False
    )
    assert response.status == 303
    async with sessions() as db:
        user = await db.get(StaffUser, person.id)
        left = (await db.scalars(select(StaffSession).where(StaffSession.staff_id == person.id))).all()
    assert user is not None and user.totp_secret_enc is None and user.totp_last_step is None
    assert left == []
    assert (await person_client.get("/inbox", allow_redirects=False)).status == 303  # signed out everywhere

    rows = await audit_rows(sessions, service.id, target=str(person.id))
    assert [(r.action, r.actor) for r in rows] == [
        ("staff.unlock", f"staff:{admin.id}"),
        ("staff.totp_reset", f"staff:{admin.id}"),
    ]
    # At the next sign-in they set up a new authenticator.
    token = await csrf_from(person_client, "/login")
    response = await person_client.post(
        "/login", data={"email": person.email, "password": person.password, "csrf_token": token}, allow_redirects=False
    )
    assert response.headers["Location"].startswith("/account/totp/enrol")


async def test_changing_your_password(
    make_client: Callable[..., Awaitable[Client]],
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: Sessions,
) -> None:
    staff = await staff_factory(service.id)
    here, elsewhere = await make_client(), await make_client()
    await sign_in(here, staff)
    await sign_in(elsewhere, staff)
    token = await csrf_from(here, "/account")

    async def change(current: str, new: str, confirm: str) -> tuple[int, str]:
        response = await here.post(
            "/account/password",
            data={"current": current, "new": new, "confirm": confirm, "csrf_token": token},
            allow_redirects=False,
        )
        return response.status, await response.text()

    status, text = await change(staff.password, "new password 123", "new password 124")
    assert status == 400 and "are not the same" in text
    status, text = await change(staff.password, "short", "short")
    assert status == 400 and "at least 12 characters" in text
    status, text = await change("not my password", "new password 123", "new password 123")
    assert status == 400 and "current password is not right" in text
    status, _ = await change(staff.password, "new password 123", "new password 123")
    assert status == 303

    assert (await here.get("/inbox")).status == 200  # this browser stays signed in
    assert (await elsewhere.get("/inbox", allow_redirects=False)).status == 303  # others are signed out
    rows = await audit_rows(sessions, service.id, actor=f"staff:{staff.id}", action="staff.password_change")
    assert [r.outcome for r in rows] == ["failure", "ok"]

    # The new password passes the password step (the code step is as ever).
    fresh = await make_client()
    for password, status in ((staff.password, 400), ("new password 123", 303)):
        token = await csrf_from(fresh, "/login")
        response = await fresh.post(
            "/login", data={"email": staff.email, "password": password, "csrf_token": token}, allow_redirects=False
        )
        assert response.status == status
