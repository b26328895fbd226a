"""The admin reminders page: each kind's plan (the research default until changed), saved with checked
steps, CSRF-checked and audited; a bad step is refused with its reason and stores nothing; officers get 403.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.db import ReminderPlan
from tests.factories import ServiceUnderTest
from tests.web.conftest import StaffFactory
from tests.web.staff import audit_rows, csrf_from, sign_in

Client = TestClient  # type: ignore[type-arg]
Sessions = async_sessionmaker[AsyncSession]


async def plan_rows(sessions: Sessions, service_id: object) -> list[tuple[str, list[dict[str, object]], bool]]:
    async with sessions() as db:
        rows = await db.scalars(select(ReminderPlan).where(ReminderPlan.service_id == service_id))
        return [(r.kind, r.steps, r.enabled) for r in rows]


async def test_an_admin_sees_the_defaults_and_changes_one_plan(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions
) -> None:
    admin = await staff_factory(service.id, roles=("admin",))
    await sign_in(client, admin)
    page = await (await client.get("/admin/reminders")).text()
    assert "The default: <strong>7d, 1d, 0d@08:00</strong>" in page and "New York City 2020" in page
    assert page.count("The default: <strong>1d</strong>") == 5

    token = await csrf_from(client, "/admin/reminders")
    bad = await client.post(
        "/admin/reminders/court_hearing", data={"csrf_token": token, "steps": "7d, 1w", "enabled": "yes"}
    )
    assert bad.status == 400
    assert "Court hearing: step 2: &#34;before&#34; must be a number and d, h or m" in await bad.text()
    assert await plan_rows(sessions, service.id) == []
    no_csrf = await client.post("/admin/reminders/court_hearing", data={"steps": "3d"}, allow_redirects=False)
    assert no_csrf.status == 403

    done = await client.post(
        "/admin/reminders/court_hearing",
        data={"csrf_token": token, "steps": "0d@07:30, 3d", "enabled": "yes"},
        allow_redirects=False,
    )
    assert done.status == 303 and done.headers["Location"] == "/admin/reminders?done=plan_saved"
    assert await plan_rows(sessions, service.id) == [
        ("court_hearing", [{"before": "3d"}, {"days_before": 0, "at": "07:30"}], True)
    ]
    [row] = await audit_rows(sessions, service.id, action="reminder_plan.update")
    assert (row.actor, row.target, row.detail) == (
        f"staff:{admin.id}",
        "court_hearing",
        {"kind": "court_hearing", "steps": "3d, 0d@07:30", "enabled": "True"},
    )
    assert "This service's plan: <strong>3d, 0d@07:30</strong>" in await (await client.get("/admin/reminders")).text()

    off = await client.post("/admin/reminders/drug_test", data={"csrf_token": token, "steps": "1d"})
    assert off.status == 200  # followed to the page
    assert ("drug_test", [{"before": "1d"}], False) in await plan_rows(sessions, service.id)
    reset = await client.post("/admin/reminders/drug_test", data={"csrf_token": token, "action": "reset"})
    assert reset.status == 200 and [k for k, _, _ in await plan_rows(sessions, service.id)] == ["court_hearing"]
    assert len(await audit_rows(sessions, service.id, action="reminder_plan.reset")) == 1


async def test_only_admins_may_see_or_change_plans(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory
) -> None:
    officer = await staff_factory(service.id, roles=("officer",))
    await sign_in(client, officer)
    assert (await client.get("/admin/reminders")).status == 403
    token = await csrf_from(client, "/inbox")
    refused = await client.post("/admin/reminders/court_hearing", data={"csrf_token": token, "steps": "1d"})
    assert refused.status == 403
