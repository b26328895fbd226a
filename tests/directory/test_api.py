"""`/v2/people` and `/v2/cases` through the real app on both databases: upserts, repeats that write
nothing, one error per bad field storing nothing, retirement refusing sends, filters and paging."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import keys
from gateway.api import paging
from gateway.db import AuditEntry, Case, Notification
from gateway.directory.contacts import NOT_A_MOBILE
from gateway.jobs.queue import LocalQueue
from tests.api.test_auth import bearer
from tests.directory.people import add_staff, counts, entries, person_body
from tests.factories import ServiceUnderTest

SMS = "91b96cb2-3bb9-4806-8eb8-cd401aba9c55"  # free_text: {{ message }}


def auth(s: ServiceUnderTest, key: str | None = None) -> dict[str, str]:
    return bearer(key or s.live_key, s.id)


async def put(client: TestClient, s: ServiceUnderTest, path: str, body: Any, key: str | None = None) -> Any:
    return await client.put(path, json=body, headers=auth(s, key))


def v(message: str) -> dict[str, str]:
    return {"error": "ValidationError", "message": message}


async def test_put_person_creates_then_the_same_put_writes_nothing(
    client: TestClient, service: ServiceUnderTest, sessions: async_sessionmaker[AsyncSession]
) -> None:
    first = await put(client, service, "/v2/people/P-100", person_body())
    assert first.status == 201, await first.text()
    created = await first.json()
    assert created["changed"] == ["created"] and created["external_id"] == "P-100"
    assert created["phone_numbers"] == ["+12025550143"]
    assert created["email_addresses"] == ["Jordan.Rivera@example.org"]
    assert created["postal_address"] == ["12 Main St", "Springfield, IL 62701"]
    assert created["consent"]["sms"]["source"] == "intake-form"
    case = await put(client, service, "/v2/cases/C-100", {"client": "P-100", "assigned_to": service.team_email})
    assert case.status == 201, await case.text()
    case_id = uuid.UUID((await case.json())["id"])
    async with sessions() as db:
        audits = await db.scalar(select(func.count()).where(AuditEntry.service_id == service.id))

    again = await put(client, service, "/v2/people/P-100", person_body())
    assert again.status == 200
    body = await again.json()
    assert body["changed"] == [] and body["updated_at"] == created["updated_at"]
    assert (
        await put(client, service, "/v2/cases/C-100", {"client": "P-100", "assigned_to": service.team_email})
    ).status == 200
    async with sessions() as db:
        assert await db.scalar(select(func.count()).where(AuditEntry.service_id == service.id)) == audits
    assert len(await entries(sessions, case_id)) == 1  # "opened", and nothing for the repeats

    changed = await put(client, service, "/v2/people/P-100", person_body(language="en", phone_numbers=["2025550101"]))
    assert changed.status == 200
    assert (await changed.json())["changed"] == ["language", "phone_numbers"]
    record = await entries(sessions, case_id)
    assert record[-1].summary == "Details of Jo changed: language, phone numbers"
    got = await client.get("/v2/people/P-100", headers=auth(service))
    assert (await got.json())["phone_numbers"] == ["+12025550101"]


async def test_every_bad_field_is_one_error_and_nothing_is_stored(
    client: TestClient, service: ServiceUnderTest, sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = person_body(phone_numbers=["+44 20 7946 0000"], language="klingon", timezone="Europe/Nowhere", nickname="x")
    resp = await put(client, service, "/v2/people/P-200", body)
    assert resp.status == 400
    assert await resp.json() == {
        "status_code": 400,
        "errors": [v("Additional properties are not allowed (nickname was unexpected)")],
    }
    del body["nickname"]
    resp = await put(client, service, "/v2/people/P-200", body)
    assert resp.status == 400
    assert (await resp.json())["errors"] == [
        v("language 'klingon' is not a language tag such as en or es"),
        v("timezone 'Europe/Nowhere' is not a time zone name such as America/Chicago"),
        v(f"phone_numbers {NOT_A_MOBILE}"),
    ]
    resp = await put(client, service, "/v2/cases/C-200", {"client": "P-200", "assigned_to": "nobody@agency.example"})
    assert resp.status == 400
    assert (await resp.json())["errors"] == [
        v("client no person with external id 'P-200' in this service"),
        v("assigned_to no active member of staff with email 'nobody@agency.example' in this service"),
    ]
    assert await counts(sessions, service.id) == (0, 0)
    async with sessions() as db:
        assert await db.scalar(select(func.count()).select_from(Case).where(Case.service_id == service.id)) == 0


async def test_a_test_key_checks_everything_and_stores_nothing(
    client: TestClient, service: ServiceUnderTest, sessions: async_sessionmaker[AsyncSession]
) -> None:
    resp = await put(client, service, "/v2/people/P-300", person_body(), key=service.test_key)
    assert resp.status == 201 and (await resp.json())["changed"] == ["created"]
    bad = await put(client, service, "/v2/people/P-300", person_body(language="fr"), key=service.test_key)
    assert bad.status == 400
    assert await counts(sessions, service.id) == (0, 0)
    team = await put(client, service, "/v2/people/P-300", person_body(), key=service.team_key)
    assert team.status == 201
    assert await counts(sessions, service.id) == (1, 3)


async def test_retired_person_is_kept_and_staff_sends_are_refused(
    client: TestClient, service: ServiceUnderTest, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await put(client, service, "/v2/people/P-400", person_body())
    gone = await client.delete("/v2/people/P-400", headers=auth(service))
    assert gone.status == 200
    body = await gone.json()
    assert body["retired_at"] is not None and body["changed"] == ["retired"]
    again = await client.delete("/v2/people/P-400", headers=auth(service))
    assert (await again.json())["changed"] == []
    assert (await client.get("/v2/people/P-400", headers=auth(service))).status == 200  # history kept
    assert (await client.delete("/v2/people/nobody", headers=auth(service))).status == 404
    # a Notify send to their number is accepted, then refused by the delivery job with the reason
    sms = {"phone_number": "+12025550143", "template_id": SMS, "personalisation": {"message": "Room 4"}}
    sent = await client.post("/v2/notifications/sms", json=sms, headers=auth(service))
    assert sent.status == 201
    queue = client.app[keys.QUEUE]
    assert isinstance(queue, LocalQueue)
    await queue.join()
    async with sessions() as db:
        n = await db.get(Notification, uuid.UUID((await sent.json())["id"]))
        assert n is not None and (n.status, n.failure_reason) == ("permanent-failure", "recipient retired")
    # a PUT reinstates (the agency's system says they are back)
    back = await put(client, service, "/v2/people/P-400", person_body())
    assert (await back.json())["changed"] == ["reinstated"]


async def test_cases_filter_and_page_with_older_than(
    client: TestClient,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(paging, "PAGE_SIZE", 2)
    ada = await add_staff(sessions, service.id, "Ada Officer")
    await put(client, service, "/v2/people/P-500", person_body())
    for i in range(5):
        fields = {
            "client": "P-500",
            "assigned_to": ada.email if i % 2 == 0 else service.team_email,
            "program": "CBT" if i < 3 else "Jobs",
            "tags": ["cohort-7", f"n{i}"],
            "status": "closed" if i == 4 else "open",
        }
        assert (await put(client, service, f"/v2/cases/C-5{i}", fields)).status == 201
    refs: list[str] = []
    url: str | None = "/v2/cases"
    while url:
        page = await (await client.get(url, headers=auth(service))).json()
        refs += [c["reference"] for c in page["cases"]]
        url = page["links"].get("next", "").split("://", 1)[-1].split("/", 1)[-1] if page["cases"] else None
        url = "/" + url if url else None
    assert refs == ["C-54", "C-53", "C-52", "C-51", "C-50"]

    async def refs_for(**params: str) -> list[str]:
        resp = await client.get("/v2/cases", params=params, headers=auth(service))
        assert resp.status == 200, await resp.text()
        return [c["reference"] for c in (await resp.json())["cases"]]

    monkeypatch.setattr(paging, "PAGE_SIZE", 250)
    assert await refs_for(officer=ada.email.upper()) == ["C-54", "C-52", "C-50"]
    assert await refs_for(status="closed") == ["C-54"]
    assert await refs_for(program="Jobs") == ["C-54", "C-53"]
    assert await refs_for(tag="n3") == ["C-53"]
    assert await refs_for(tag="cohort-7", status="open", officer=ada.email) == ["C-52", "C-50"]
    bad = await client.get("/v2/cases", params={"status": "pending", "sort": "x"}, headers=auth(service))
    assert (await bad.json())["errors"] == [v("sort is not a filter: use officer, status, tag, program, older_than")]
    bad = await client.get("/v2/cases", params={"status": "pending"}, headers=auth(service))
    assert (await bad.json())["errors"] == [v("status 'pending' is not one of open, closed")]
    got = await (await client.get("/v2/cases/C-51", headers=auth(service))).json()
    assert got["client"] == "P-500" and got["assigned_to"] == service.team_email and got["tags"] == ["cohort-7", "n1"]


async def test_every_route_needs_the_api_key(client: TestClient) -> None:
    for method, path in [
        ("PUT", "/v2/people/x"),
        ("GET", "/v2/people/x"),
        ("DELETE", "/v2/people/x"),
        ("PUT", "/v2/cases/x"),
        ("GET", "/v2/cases/x"),
        ("GET", "/v2/cases"),
    ]:
        resp = await client.request(method, path)
        assert resp.status == 401, (method, path)


def test_the_openapi_schemas_are_exactly_the_fields_accepted() -> None:
    from gateway.api.directory import CASE_FIELDS, CASE_SCHEMA, PERSON_FIELDS, PERSON_SCHEMA

    assert set(PERSON_SCHEMA["properties"]) == PERSON_FIELDS
    assert set(CASE_SCHEMA["properties"]) == CASE_FIELDS
