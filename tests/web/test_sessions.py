"""Sessions and request safety: CSRF, idle and absolute expiry, sign-out, cookie flags, headers.

Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from http.cookies import SimpleCookie

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.db import StaffSession, StaffUser
from gateway.db.base import utcnow
from tests.factories import ServiceUnderTest
from tests.web.conftest import StaffFactory
from tests.web.staff import audit_rows, csrf_from, sign_in

Client = TestClient  # type: ignore[type-arg]
Sessions = async_sessionmaker[AsyncSession]
NEW_PERSON = {"name": "New Person", "email": "new.person@agency.example", "roles": "officer", "password": "x" * 16}


async def staff_count(sessions: Sessions, service: ServiceUnderTest) -> int:
    async with sessions() as db:
        return int(await db.scalar(select(func.count()).where(StaffUser.service_id == service.id)) or 0)


async def session_rows(sessions: Sessions, staff_id: object) -> list[StaffSession]:
    async with sessions() as db:
        return list((await db.scalars(select(StaffSession).where(StaffSession.staff_id == staff_id))).all())


async def test_a_post_without_the_right_csrf_token_changes_nothing(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions
) -> None:
    admin = await staff_factory(service.id, roles=("admin",))
    await sign_in(client, admin)
    before = await staff_count(sessions, service)
    token = await csrf_from(client, "/admin/staff")

    for data, headers in [
        (NEW_PERSON, {}),  # no token
        (NEW_PERSON | {"csrf_token": token[:-2] + "AA"}, {}),  # a wrong token
        (NEW_PERSON, {"X-CSRF-Token": "nonsense"}),  # a wrong header
    ]:
        response = await client.post("/admin/staff", data=data, headers=headers, allow_redirects=False)
        assert response.status == 403
        assert "This form has expired" in await response.text()
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert await staff_count(sessions, service) == before

    # Sign-out needs the token too (otherwise any site could sign staff out).
    assert (await client.post("/logout", allow_redirects=False)).status == 403
    assert len(await session_rows(sessions, admin.id)) == 1

    # The right token in the header (as scripts send it) is accepted.
    response = await client.post(
        "/admin/staff", data=NEW_PERSON, headers={"X-CSRF-Token": token}, allow_redirects=False
    )
    assert response.status == 303
    assert await staff_count(sessions, service) == before + 1


async def test_the_sign_in_form_needs_its_token_too(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions
) -> None:
    staff = await staff_factory(service.id)
    response = await client.post("/login", data={"email": staff.email, "password": staff.password})
    assert response.status == 403
    assert await audit_rows(sessions, service.id, action="login.password") == []  # the password was never checked


async def test_an_idle_session_ends(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions
) -> None:
    staff = await staff_factory(service.id)
    await sign_in(client, staff)
    assert (await client.get("/inbox")).status == 200
    async with sessions() as db:
        await db.execute(
            update(StaffSession)
            .where(StaffSession.staff_id == staff.id)
            .values(last_seen_at=utcnow() - timedelta(minutes=31))
        )
        await db.commit()
    response = await client.get("/inbox", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/login")
    assert response.cookies["gw_session"].value == ""  # the browser is told to forget it
    assert await session_rows(sessions, staff.id) == []


async def test_a_session_ends_after_twelve_hours_however_busy(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions
) -> None:
    staff = await staff_factory(service.id)
    await sign_in(client, staff)
    async with sessions() as db:
        await db.execute(
            update(StaffSession)
            .where(StaffSession.staff_id == staff.id)
            .values(created_at=utcnow() - timedelta(hours=12), expires_at=utcnow() - timedelta(seconds=1))
        )
        await db.commit()
    response = await client.get("/inbox", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/login")
    assert await session_rows(sessions, staff.id) == []


async def test_browsing_keeps_a_session_alive(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions
) -> None:
    staff = await staff_factory(service.id)
    await sign_in(client, staff)
    async with sessions() as db:
        await db.execute(
            update(StaffSession)
            .where(StaffSession.staff_id == staff.id)
            .values(last_seen_at=utcnow() - timedelta(minutes=29))
        )
        await db.commit()
    assert (await client.get("/inbox")).status == 200
    [row] = await session_rows(sessions, staff.id)
    assert utcnow() - row.last_seen_at < timedelta(seconds=10)


async def test_sign_out_deletes_the_session(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions
) -> None:
    staff = await staff_factory(service.id)
    await sign_in(client, staff)
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))["gw_session"].value
    token = await csrf_from(client, "/inbox")
    response = await client.post("/logout", data={"csrf_token": token}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/login?done=signed_out"
    assert await session_rows(sessions, staff.id) == []
    [row] = await audit_rows(sessions, service.id, action="logout")
    assert row.actor == f"staff:{staff.id}"
    # The old cookie, sent again, signs nobody in.
    again = await client.get("/inbox", cookies={"gw_session": cookie}, allow_redirects=False)
    assert again.status == 303 and again.headers["Location"].startswith("/login")


async def test_cookies_are_secure_behind_https(
    make_client: Callable[..., Awaitable[Client]], service: ServiceUnderTest, staff_factory: StaffFactory
) -> None:
    client = await make_client(public_url="https://gateway.agency.example")
    staff = await staff_factory(service.id)
    form = await client.get("/login")
    pre = form.cookies["gw_pre"]
    assert pre["secure"] and pre["httponly"] and pre["samesite"] == "Lax"
    token = (await form.text()).split('name="csrf_token" value="')[1].split('"')[0]
    # The test client speaks plain http, so it would not send a Secure cookie back: send it by hand.
    response = await client.post(
        "/login",
        data={"email": staff.email, "password": staff.password, "csrf_token": token},
        headers={"Cookie": f"gw_pre={pre.value}"},
        allow_redirects=False,
    )
    assert response.status == 303
    header = next(h for h in response.headers.getall("Set-Cookie") if h.startswith("gw_session="))
    morsel = SimpleCookie(header)["gw_session"]
    assert morsel["secure"] and morsel["httponly"] and morsel["samesite"] == "Lax" and morsel["path"] == "/"


async def test_security_headers(client: Client) -> None:
    for path in ("/login", "/static/gateway.css", "/no-such-page"):
        response = await client.get(path, allow_redirects=False)
        headers = response.headers
        csp = headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["X-Content-Type-Options"] == "nosniff"
    assert (await client.get("/login")).headers["Cache-Control"] == "no-store"
    # The Notify API keeps its own JSON answers.
    assert (await client.get("/v2/notifications")).headers["Content-Type"].startswith("application/json")
