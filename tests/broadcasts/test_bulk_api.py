"""GC Notify's bulk API: a job is accepted whole (its rows become notifications, delivered through the
pump), refused whole with GC Notify's messages (nothing stored), listed with `older_than` paging and read
back with per-status statistics; each of its notifications is an ordinary one."""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import keys
from gateway.broadcasts.lifecycle import Deps, audience_of
from gateway.broadcasts.takeover import take_over_write
from gateway.broadcasts.write import recipient_ids
from gateway.db import Broadcast, Notification, Template
from gateway.domain import Channel
from tests.broadcasts.test_pump import RecordingQueue
from tests.factories import ServiceUnderTest
from tests.jobs.conftest import bearer
from tests.web.cases import set_service

CLOSURE = "bedc3058-bd4b-441b-bd27-93425a6dd857"  # templates/sms/en/office_closure.txt
HEADER = ["phone number", "office_name", "closure_date", "reopening_date"]


def row(number: str, office: str = "Downtown") -> list[str]:
    return [number, office, "Friday 3 July", "Monday 6 July"]


async def stored(sessions: async_sessionmaker[AsyncSession], service_id: uuid.UUID) -> tuple[int, int]:
    async with sessions() as db:
        jobs = await db.scalar(select(func.count()).select_from(Broadcast).where(Broadcast.service_id == service_id))
        rows = await db.scalar(
            select(func.count()).select_from(Notification).where(Notification.service_id == service_id)
        )
    return int(jobs or 0), int(rows or 0)


async def post(client: TestClient, service: ServiceUnderTest, body: dict[str, Any], key: str | None = None) -> Any:  # type: ignore[type-arg]
    headers = bearer(service, key) | {"Content-Type": "application/json"}
    response = await client.post("/v2/notifications/bulk", data=io.BytesIO(orjson.dumps(body)), headers=headers)
    return response.status, await response.json()


async def test_accepted_job_is_written_delivered_and_read_back(
    client: TestClient,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],  # type: ignore[type-arg]
) -> None:
    await set_service(sessions, service.id, quiet_hours="00:00-23:59")  # whatever the hour the test runs at
    body = {
        "name": "Snow day",
        "template_id": CLOSURE,
        "rows": [HEADER, row("+12025550111"), row("2025550112", "North")],
    }
    status, answer = await post(client, service, body)
    assert status == 201, answer
    data = answer["data"]
    assert data["notification_count"] == 2 and data["template"] == CLOSURE and data["template_version"] >= 1
    assert (
        data["job_status"] == "pending" and data["scheduled_for"] is None and data["original_file_name"] == "Snow day"
    )
    job_id = data["id"]
    for _ in range(100):  # the pump hands them to the (sandbox) sender in this process
        detail = await (await client.get(f"/v2/notifications/bulk/{job_id}", headers=bearer(service))).json()
        stats = {s["status"]: s["count"] for s in detail["data"]["statistics"]}
        if stats.get("delivered") == 2:
            break
        await asyncio.sleep(0.05)
    assert stats == {"delivered": 2}
    async with sessions() as db:
        ids = (await db.scalars(select(Notification.id).where(Notification.broadcast_id == uuid.UUID(job_id)))).all()
    one = await (await client.get(f"/v2/notifications/{ids[0]}", headers=bearer(service))).json()
    assert one["status"] == "delivered" and "closed on Friday 3 July" in one["body"]
    assert one["phone_number"] in {"+12025550111", "+12025550112"}
    listing = await (await client.get("/v2/notifications/bulk", headers=bearer(service))).json()
    assert [j["id"] for j in listing["bulk_jobs"]] == [job_id]
    older = await (await client.get(f"/v2/notifications/bulk?older_than={job_id}", headers=bearer(service))).json()
    assert older["bulk_jobs"] == []


async def test_csv_and_scheduled_for(
    client: TestClient,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],  # type: ignore[type-arg]
) -> None:
    when = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    text = ",".join(HEADER) + "\n" + ",".join(row("+12025550113")) + "\n"
    body = {"name": "Later", "template_id": CLOSURE, "csv": text, "scheduled_for": when.strftime("%Y-%m-%dT%H:%M:%S")}
    status, answer = await post(client, service, body)
    assert status == 201, answer
    assert answer["data"]["job_status"] == "scheduled" and answer["data"]["scheduled_for"].startswith(
        when.strftime("%Y-%m-%dT%H:%M:%S")
    )
    await asyncio.sleep(0.3)
    async with sessions() as db:
        statuses = (await db.scalars(select(Notification.status).where(Notification.service_id == service.id))).all()
    assert statuses == ["created"]  # not before its time


async def test_a_job_stores_what_a_writer_needs_to_resume_it(
    client: TestClient,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],  # type: ignore[type-arg]
) -> None:
    """A job's rows are sealed with it and its content is its template's channel only, so a writer that
    stopped part-way is resumed (`gateway.broadcasts.takeover`) with the very ids already written."""
    when = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)  # scheduled: nothing sends meanwhile
    rows = [HEADER, row("+12025550114"), row("+12025550115", "North"), row("+12025550114")]
    body = {"name": "Resumable", "template_id": CLOSURE, "rows": rows, "scheduled_for": when.isoformat()}
    status, answer = await post(client, service, body)
    assert status == 201, answer
    bid, app = uuid.UUID(answer["data"]["id"]), client.app
    async with sessions() as db:
        ids = set((await db.scalars(select(Notification.id).where(Notification.broadcast_id == bid))).all())
        await db.execute(  # as its writer leaves it if it stops before the last chunk
            update(Broadcast)
            .where(Broadcast.id == bid)
            .values(written_at=None, writing_at=datetime.now(UTC) - timedelta(minutes=5))
        )
        await db.commit()
    ctx = {k: app[getattr(keys, k.upper())] for k in ("settings", "engine", "sessions", "vault", "clock")}
    deps = Deps.of(app)
    audience = await audience_of(deps, bid, service.id)
    assert set(audience.content.templates) == {Channel.SMS}
    assert {nid for nid, _ in recipient_ids(deps.vault, bid, audience.resolved.recipients)} == ids and len(ids) == 3
    ctx["queue"] = RecordingQueue()
    assert await take_over_write(ctx, str(bid)) == "written=0"  # type: ignore[arg-type]
    async with sessions() as db:
        job = await db.get(Broadcast, bid)
    assert job is not None and job.written_at is not None and job.status == "scheduled" and job.recipient_count == 3
    # its template archived while a writer was lost: what was written is all it gets, and it can finish
    async with sessions() as db:
        await db.execute(
            update(Broadcast)
            .where(Broadcast.id == bid)
            .values(written_at=None, writing_at=datetime.now(UTC) - timedelta(minutes=5))
        )
        await db.execute(update(Template).where(Template.id == uuid.UUID(CLOSURE)).values(archived=True))
        await db.commit()
    try:
        assert await take_over_write(ctx, str(bid)) == "abandoned: Template not found"  # type: ignore[arg-type]
    finally:
        async with sessions() as db:
            await db.execute(update(Template).where(Template.id == uuid.UUID(CLOSURE)).values(archived=False))
            await db.commit()
    async with sessions() as db:
        job = await db.get(Broadcast, bid)
    assert job is not None and job.written_at is not None


ERRORS = [
    ({"template_id": CLOSURE, "rows": [HEADER, row("+12025550111")]}, "ValidationError", "name is a required property"),
    ({"name": "x", "template_id": CLOSURE}, "BadRequestError", "You should specify either rows or csv"),
    (
        {"name": "x", "template_id": CLOSURE, "rows": [HEADER, row("+12025550111")], "csv": "a"},
        "BadRequestError",
        "You should specify either rows or csv",
    ),
    (
        {"name": "x", "template_id": CLOSURE, "rows": [HEADER[:2], ["+12025550111", "A"]]},
        "BadRequestError",
        "Missing column headers: closure_date, reopening_date",
    ),
    (
        {"name": "x", "template_id": CLOSURE, "rows": [[*HEADER, "OFFICE_NAME"], [*row("+12025550111"), "B"]]},
        "BadRequestError",
        "Duplicate column headers: office_name, OFFICE_NAME",
    ),
    (
        {"name": "x", "template_id": CLOSURE, "rows": [["name"], ["Ana"]]},
        "BadRequestError",
        "Missing column headers: phone number",
    ),
    (
        {
            "name": "x",
            "template_id": CLOSURE,
            "rows": [HEADER, ["+12025550111", "", "Fri", "Mon"], ["12", "A", "Fri", "Mon"]],
        },
        "BadRequestError",
        "Some rows have errors. Row 1 - office_name: Missing. Row 2 - phone number: invalid recipient.",
    ),
    (
        {"name": "x", "template_id": str(uuid.uuid4()), "rows": [HEADER, row("+12025550111")]},
        "BadRequestError",
        "Template not found",
    ),
    (
        {"name": "x", "template_id": CLOSURE, "rows": [HEADER, row("+12025550111")], "scheduled_for": 42},
        "ValidationError",
        "scheduled_for 42 is not of type string, null",
    ),
    (
        {"name": "x", "template_id": CLOSURE, "rows": [HEADER, row("+12025550111")], "scheduled_for": "soon"},
        "ValidationError",
        "scheduled_for datetime format is invalid. It must be a valid ISO8601 date time format, https://en.wikipedia.org/wiki/ISO_8601",
    ),
    (
        {
            "name": "x",
            "template_id": CLOSURE,
            "rows": [HEADER, row("+12025550111")],
            "scheduled_for": "2020-01-01T00:00:00",
        },
        "ValidationError",
        "scheduled_for datetime cannot be in the past",
    ),
    (
        {
            "name": "x",
            "template_id": CLOSURE,
            "rows": [HEADER, row("+12025550111")],
            "scheduled_for": "2099-01-01T00:00:00",
        },
        "ValidationError",
        "scheduled_for datetime can only be up to 96 hours in the future",
    ),
    (
        {"name": "x", "template_id": CLOSURE, "rows": [HEADER, row("+12025550111")], "reply_to_id": "foo"},
        "ValidationError",
        "reply_to_id is not a valid UUID",
    ),
]


@pytest.mark.parametrize(("body", "error", "message"), ERRORS, ids=[m[:40] for _, _, m in ERRORS])
async def test_refused_with_gc_notify_errors_and_nothing_stored(
    client: TestClient,  # type: ignore[type-arg]
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],
    body: dict[str, Any],
    error: str,
    message: str,
) -> None:
    status, answer = await post(client, service, body)
    assert status == 400, answer
    assert answer["errors"] == [{"error": error, "message": message}]
    assert await stored(sessions, service.id) == (0, 0)


async def test_too_many_rows_and_daily_limit(
    client: TestClient,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],  # type: ignore[type-arg]
) -> None:
    rows = [HEADER] + [row(f"+1202555{i % 10000:04d}") for i in range(50_001)]
    status, answer = await post(client, service, {"name": "big", "template_id": CLOSURE, "rows": rows})
    assert (status, answer["errors"][0]["message"]) == (400, "Too many rows. Maximum number of rows allowed is 50000")
    await set_service(sessions, service.id, daily_limit=1)
    from gateway import keys

    client.app[keys.KEYRING].forget()
    status, answer = await post(
        client,
        service,
        {"name": "two", "template_id": CLOSURE, "rows": [HEADER, row("+12025550111"), row("+12025550112")]},
    )
    assert status == 400
    assert (
        answer["errors"][0]["message"]
        == "You only have 1 remaining messages before you reach your daily limit. You've tried to send 2 messages."
    )
    assert await stored(sessions, service.id) == (0, 0)


async def test_team_key_only_to_the_team_and_other_services_cannot_see_a_job(
    client: TestClient,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],
    vault: Any,  # type: ignore[type-arg]
) -> None:
    status, answer = await post(
        client, service, {"name": "t", "template_id": CLOSURE, "rows": [HEADER, row("+12025550199")]}, service.team_key
    )
    assert (
        answer["errors"][0]["message"]
        == "You cannot send to these recipients because you used a team and safelist API key."
    )
    status, answer = await post(
        client,
        service,
        {"name": "t", "template_id": CLOSURE, "rows": [HEADER, row(service.team_mobile)]},
        service.team_key,
    )
    assert status == 201
    from tests.factories import make_service

    other = await make_service(sessions, vault)
    response = await client.get(f"/v2/notifications/bulk/{answer['data']['id']}", headers=bearer(other))
    assert response.status == 404
    listing = await (await client.get("/v2/notifications/bulk", headers=bearer(other))).json()
    assert listing["bulk_jobs"] == []
