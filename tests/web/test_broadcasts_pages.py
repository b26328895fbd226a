"""The Broadcasts pages: compose and preview (counts, left out and why, quiet hours on a ManualClock),
the approval rule, uploads with bad rows, roles, CSRF and the service boundary, send and progress, the
report, cancel."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import FormData
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.app import create_app
from gateway.clock import ManualClock
from gateway.crypto import Vault
from gateway.db import Broadcast, Notification
from gateway.settings import Settings
from tests.broadcasts.directory import add_client, opt_out
from tests.factories import ServiceUnderTest
from tests.web.cases import set_service
from tests.web.staff import audit_rows, csrf_from, sign_in

Client = TestClient  # type: ignore[type-arg]
StaffFactory = Callable[..., Awaitable[Any]]


DAYTIME = datetime(2030, 3, 4, 15, 30, tzinfo=UTC)  # 10:30 in New York, where the test numbers (202) are


async def signed_in(aiohttp_client: Any, settings: Settings, staff: Any, clock: ManualClock | None = None) -> Any:
    """A signed-in client of an app whose clock is a weekday morning (quiet hours never hold its texts)."""
    client = await aiohttp_client(create_app(settings, clock=clock or ManualClock(DAYTIME)))
    await sign_in(client, staff)
    return client


async def draft(client: Any, **fields: Any) -> uuid.UUID:
    """Create a draft through the form; its id."""
    token = await csrf_from(client, "/broadcasts/new")
    form = FormData()
    for name, value in ({"csrf_token": token, "name": "Snow day"} | fields).items():
        if name == "file":
            form.add_field("file", value[1], filename=value[0], content_type="text/csv")
        else:
            form.add_field(name, value)
    response = await client.post("/broadcasts", data=form, allow_redirects=False)
    assert response.status == 303, await response.text()
    return uuid.UUID(response.headers["Location"].rsplit("/", 1)[1])


async def post_form(client: Any, path: str, page: str, **fields: str) -> Any:
    token = await csrf_from(client, page)
    return await client.post(path, data={"csrf_token": token, **fields}, allow_redirects=False)


def cell(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}">([^<]*)<', html)
    assert found, testid
    return found.group(1).strip()


async def wait_finished(sessions: async_sessionmaker[AsyncSession], bid: uuid.UUID) -> Broadcast:
    for _ in range(200):
        async with sessions() as db:
            b = await db.get(Broadcast, bid)
        assert b is not None
        if b.status == "finished":
            return b
        await asyncio.sleep(0.05)
    raise AssertionError(f"broadcast still {b.status}")


async def test_preview_counts_opted_out_retired_quiet_hours_then_send(
    aiohttp_client: Any,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
) -> None:
    officer = await staff_factory(service.id)
    await set_service(sessions, service.id, timezone="America/New_York")
    mine = dict(assigned=officer.id)
    ana = await add_client(sessions, vault, service.id, "Ana Alvarez", **mine)
    ben = await add_client(sessions, vault, service.id, "Ben Brown", **mine)
    await add_client(sessions, vault, service.id, "Cy Coast", timezone="America/Los_Angeles", **mine)
    await add_client(sessions, vault, service.id, "Dee Email", phone=False, email=True, **mine)
    await add_client(sessions, vault, service.id, "Eve Retired", retired=True, **mine)
    await add_client(sessions, vault, service.id, "Fay Nothing", phone=False, **mine)
    assert ben.phone
    await opt_out(sessions, vault, service.id, ben.phone)
    # 10:30 in New York is 07:30 in Los Angeles: Cy's text waits for 08:00 there
    clock = ManualClock(datetime(2030, 3, 4, 15, 30, tzinfo=UTC))
    client = await signed_in(aiohttp_client, settings, officer, clock)
    bid = await draft(
        client, audience="caseload", content="free_text", message="Hi ((first_name)), the office is closed today."
    )
    html = await (await client.get(f"/broadcasts/{bid}")).text()
    assert cell(html, "preview-total") == "3"  # Ana, Cy (texts), Dee (email)
    assert cell(html, "preview-sms") == "2" and cell(html, "preview-email") == "1"
    assert cell(html, "preview-fragments") == "2"
    assert cell(html, "preview-left-out") == "3"
    assert (
        "opted out (replied STOP)" in html and "retired from the service" in html and "no usable phone number" in html
    )
    assert cell(html, "preview-deferred").startswith("1")
    assert "Hi Ana, the office is closed today." in html
    response = await post_form(client, f"/broadcasts/{bid}/send", f"/broadcasts/{bid}")
    assert response.status == 303, await response.text()
    for _ in range(100):  # Ana's and Dee's go now; Cy's waits for the morning, so it is still sending
        progress = await (await client.get(f"/broadcasts/{bid}/progress")).json()
        if progress["delivered"] == 2:
            break
        await asyncio.sleep(0.05)
    assert (progress["status"], progress["total"], progress["queued"], progress["delivered"]) == ("sending", 3, 1, 2), (
        progress
    )
    assert progress["quiet"] == 1  # the queued one is Cy's, held for quiet hours
    page = await (await client.get(f"/broadcasts/{bid}")).text()
    assert re.search(r'held for quiet hours</th><td data-count="quiet">1<', page)
    async with sessions() as db:
        b = await db.get(Broadcast, bid)
        assert b is not None and (b.recipient_count, b.left_out_count) == (3, 3)
        rows = (await db.execute(select(Notification).where(Notification.broadcast_id == bid))).scalars().all()
    assert {n.person_id for n in rows if n.status == "delivered"} == {ana.person_id} | {
        n.person_id for n in rows if n.channel == "email"
    }
    held = [n for n in rows if n.status == "created"]  # Cy's text, held to 08:00 Pacific, with its broadcast's pump
    assert [(n.quiet_until, n.next_attempt_at) for n in held] == [(datetime(2030, 3, 4, 16, 0, tzinfo=UTC), None)]
    assert all(n.automatic and n.case_id for n in rows)
    report = await (await client.get(f"/broadcasts/{bid}/report.csv")).text()
    assert report.count("\n") == 4 and "Ana Alvarez" in report
    assert [
        r.action
        for r in await audit_rows(sessions, service.id, actor=f"staff:{officer.id}")
        if r.action.startswith("broadcast.")
    ] == [
        "broadcast.create",
        "broadcast.sent",
        "broadcast.report",
    ]


async def test_approval_rule(
    aiohttp_client: Any,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
) -> None:
    await set_service(sessions, service.id, broadcast_approval_threshold=2)
    author = await staff_factory(service.id, roles=("supervisor",), name="Sam Supervisor")
    for name in ("Ana A", "Ben B", "Cy C"):
        await add_client(sessions, vault, service.id, name, office="North")
    client = await signed_in(aiohttp_client, settings, author)
    bid = await draft(client, audience="office", office="North", content="free_text", message="Closed today.")
    html = await (await client.get(f"/broadcasts/{bid}")).text()
    assert "Ask for approval" in html
    refused = await post_form(client, f"/broadcasts/{bid}/send", f"/broadcasts/{bid}")
    assert refused.status == 400 and "must approve it first" in await refused.text()
    asked = await post_form(client, f"/broadcasts/{bid}/send", f"/broadcasts/{bid}", ask_approval="yes")
    assert asked.status == 303
    own = await post_form(client, f"/broadcasts/{bid}/approve", f"/broadcasts/{bid}")
    assert own.status == 400 and "someone else" in await own.text()
    officer = await staff_factory(service.id, name="Olive Officer")
    officer_client = await signed_in(aiohttp_client, settings, officer)
    forbidden = await post_form(officer_client, f"/broadcasts/{bid}/approve", f"/broadcasts/{bid}")
    assert forbidden.status == 403
    approver = await staff_factory(service.id, roles=("admin",), name="Ada Admin")
    approver_client = await signed_in(aiohttp_client, settings, approver)
    approved = await post_form(approver_client, f"/broadcasts/{bid}/approve", f"/broadcasts/{bid}")
    assert approved.status == 303, await approved.text()
    b = await wait_finished(sessions, bid)
    assert b.approved_by_staff_id == approver.id and b.recipient_count == 3
    again = await post_form(approver_client, f"/broadcasts/{bid}/approve", f"/broadcasts/{bid}")
    assert again.status == 400  # approved once: a second approval sends nothing
    actions = [r.action for r in await audit_rows(sessions, service.id) if r.action.startswith("broadcast.")]
    assert actions == [
        "broadcast.create",
        "broadcast.approval_requested",
        "broadcast.approve_refused",  # the author's own try
        "broadcast.approved",
        "broadcast.approve_refused",  # the second approval
    ]


async def test_upload_with_bad_rows_needs_agreement(
    aiohttp_client: Any,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
) -> None:
    officer = await staff_factory(service.id)
    client = await signed_in(aiohttp_client, settings, officer)
    text = "Phone Number,first_name\n+12025550101,Ana\nnot a number,Ben\n+12025550103,\n+12025550104,Dee\n"
    bid = await draft(
        client, audience="upload", content="free_text", message="Hi ((first_name))", file=("list.csv", text)
    )
    html = await (await client.get(f"/broadcasts/{bid}")).text()
    assert "row 3" in html and "invalid recipient" in html and "row 4" in html and "Missing" in html
    assert cell(html, "preview-total") == "2"
    refused = await post_form(client, f"/broadcasts/{bid}/send", f"/broadcasts/{bid}")
    assert refused.status == 400 and "Leave out the rows with errors" in await refused.text()
    sent = await post_form(client, f"/broadcasts/{bid}/send", f"/broadcasts/{bid}", leave_out_bad_rows="yes")
    assert sent.status == 303
    b = await wait_finished(sessions, bid)
    assert (b.recipient_count, b.left_out_count) == (2, 2)
    async with sessions() as db:
        sealed = await db.scalar(select(Broadcast.upload_enc).where(Broadcast.id == bid))
    assert sealed and "Ana" not in sealed and "2025550101" not in sealed  # the list is sealed at rest


async def test_header_problem_stores_nothing(
    aiohttp_client: Any,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
) -> None:
    officer = await staff_factory(service.id)
    client = await signed_in(aiohttp_client, settings, officer)
    token = await csrf_from(client, "/broadcasts/new")
    form = FormData()
    for k, v in {
        "csrf_token": token,
        "name": "x",
        "audience": "upload",
        "content": "free_text",
        "message": "Hi ((first_name))",
    }.items():
        form.add_field(k, v)
    form.add_field("file", "phone,name\n+12025550101,Ana\n", filename="l.csv", content_type="text/csv")
    response = await client.post("/broadcasts", data=form)
    assert response.status == 400 and "Missing column headers: first_name" in await response.text()
    async with sessions() as db:
        assert (await db.scalars(select(Broadcast).where(Broadcast.service_id == service.id))).all() == []


async def test_roles_csrf_and_service_boundary(
    aiohttp_client: Any,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
) -> None:
    from tests.factories import make_service

    officer = await staff_factory(service.id)
    await add_client(sessions, vault, service.id, "Ana A", assigned=officer.id)
    client = await signed_in(aiohttp_client, settings, officer)
    bid = await draft(client, audience="caseload", content="free_text", message="Hello")
    # an officer may not choose another officer's caseload
    other_officer = await staff_factory(service.id, name="Pat")
    token = await csrf_from(client, "/broadcasts/new")
    response = await client.post(
        "/broadcasts",
        data={
            "csrf_token": token,
            "name": "x",
            "audience": "caseload",
            "officer": str(other_officer.id),
            "content": "free_text",
            "message": "Hi",
        },
    )
    assert response.status == 403
    no_token = await client.post(f"/broadcasts/{bid}/send", data={}, allow_redirects=False)
    assert no_token.status in (400, 403)
    advocate = await staff_factory(service.id, roles=("victim_advocate",), name="Vic")
    assert (await (await signed_in(aiohttp_client, settings, advocate)).get("/broadcasts")).status == 403
    elsewhere = await make_service(sessions, vault)
    stranger = await staff_factory(elsewhere.id, roles=("admin",), name="Stranger")
    stranger_client = await signed_in(aiohttp_client, settings, stranger)
    assert (await stranger_client.get(f"/broadcasts/{bid}")).status == 404
    assert (await stranger_client.get(f"/broadcasts/{bid}/report.csv")).status == 404
    cancel = await post_form(stranger_client, f"/broadcasts/{bid}/cancel", "/broadcasts/new")
    assert cancel.status == 404
    async with sessions() as db:
        assert (await db.get(Broadcast, bid)).status == "draft"  # type: ignore[union-attr]


async def test_cancel_while_sending_stops_sends(
    aiohttp_client: Any,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
) -> None:
    await set_service(sessions, service.id, sms_per_second=4)  # 40 texts take ~10 s
    officer = await staff_factory(service.id)
    for i in range(40):
        await add_client(sessions, vault, service.id, f"Person {i:02d}", office="East")
    client = await signed_in(aiohttp_client, settings, officer)
    bid = await draft(client, audience="office", office="East", content="free_text", message="Closed.")
    assert (await post_form(client, f"/broadcasts/{bid}/send", f"/broadcasts/{bid}")).status == 303
    await asyncio.sleep(1.0)
    assert (await post_form(client, f"/broadcasts/{bid}/cancel", f"/broadcasts/{bid}")).status == 303
    async with sessions() as db:
        at_cancel = {
            n.id: n.status
            for n in (await db.scalars(select(Notification).where(Notification.broadcast_id == bid))).all()
        }
    gone = {nid for nid, s in at_cancel.items() if s not in ("created", "cancelled")}
    assert 0 < len(gone) < 40 and "created" not in at_cancel.values()
    await asyncio.sleep(2.0)
    async with sessions() as db:
        after = {
            n.id: n.status
            for n in (await db.scalars(select(Notification).where(Notification.broadcast_id == bid))).all()
        }
    assert {nid for nid, s in after.items() if s != "cancelled"} == gone  # nothing sent after the cancel
