"""`/v2/appointments` through the real app on both databases, on a ManualClock: upserts and repeats
that write nothing, moves (the case record says MOVED), one error per bad field storing nothing, DST,
cancel and outcome rules, filters and paging, test keys, the OpenAPI document."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from gateway.api.appointments import APPOINTMENT_SCHEMA
from gateway.appointments.fields import FIELDS, KINDS, STATUSES
from gateway.clock import ManualClock
from gateway.db import Appointment
from tests.appointments.records import (
    NOW,
    app_client,
    appointment_body,
    appointment_lines,
    auth,
    client_case,
    stored,
)
from tests.factories import ServiceUnderTest

EXAMPLE = "a date and time such as 2026-03-09T10:30:00-05:00, or 2026-03-09T10:30 with time_zone"


def v(message: str) -> dict[str, str]:
    return {"error": "ValidationError", "message": message}


async def put(client: TestClient, s: ServiceUnderTest, ext: str, body: Any, key: str | None = None) -> Any:  # type: ignore[type-arg]
    return await client.put(f"/v2/appointments/{ext}", json=body, headers=auth(s, key))


async def test_create_repeat_change_and_move(aiohttp_client, settings, sessions, service) -> None:  # type: ignore[no-untyped-def]
    client = await app_client(aiohttp_client, settings, ManualClock(NOW))
    case_id = await client_case(client, service)
    first = await put(client, service, "A-1", appointment_body())
    assert first.status == 201, await first.text()
    made = await first.json()
    assert made["changed"] == ["created"] and made["person"] == "P-1" and made["case_reference"] == "C-1"
    assert made["starts_at"] == "2026-03-09T15:30:00.000000Z"  # 10:30 CDT (the person's zone)
    assert made["local_starts_at"] == "2026-03-09T10:30:00-05:00" and made["time_zone"] == "America/Chicago"
    assert made["staff"] == service.team_email and made["status"] == "scheduled" and made["duration_minutes"] == 60
    assert made["notes"] == "Ask about the job search"
    async with sessions() as db:
        row = await db.scalar(select(Appointment).where(Appointment.service_id == service.id))
        assert row is not None and "job search" not in (row.notes_enc or "")  # sealed at rest
    [line] = await appointment_lines(sessions, case_id)
    assert line.summary == "Appointment added: office visit on Mon 09 Mar 2026 10:30 CDT"
    assert line.data["change"] == "created"

    again = await put(client, service, "A-1", appointment_body())
    assert again.status == 200 and (await again.json())["changed"] == []
    assert (await again.json())["updated_at"] == made["updated_at"]
    assert len(await appointment_lines(sessions, case_id)) == 1

    details = await put(client, service, "A-1", appointment_body(location="Room 4, 12 Main St", notes="secret words"))
    assert (await details.json())["changed"] == ["location", "notes"]
    line = (await appointment_lines(sessions, case_id))[-1]
    assert line.summary == "Appointment details changed (place, notes): office visit on Mon 09 Mar 2026 10:30 CDT"
    assert line.data["change"] == "updated" and "secret" not in str(line.data) + line.summary

    moved = await put(
        client,
        service,
        "A-1",
        appointment_body(starts_at="2026-03-10T09:00", location="Room 4, 12 Main St", notes="secret words"),
    )
    body = await moved.json()
    assert body["changed"] == ["starts_at"] and body["status"] == "scheduled"
    assert body["previous_starts_at"] == "2026-03-09T15:30:00.000000Z" and body["moved_at"] is not None
    assert body["sequence"] > made["sequence"]
    line = (await appointment_lines(sessions, case_id))[-1]
    assert line.data["change"] == "moved"  # what the reminders hook was told
    assert line.summary == (
        "Appointment moved: office visit from Mon 09 Mar 2026 10:30 CDT to Tue 10 Mar 2026 09:00 CDT"
    )
    got = await client.get("/v2/appointments/A-1", headers=auth(service))
    assert (await got.json())["starts_at"] == "2026-03-10T14:00:00.000000Z"


async def test_every_bad_field_is_one_error_and_nothing_is_stored(aiohttp_client, settings, sessions, service) -> None:  # type: ignore[no-untyped-def]
    client = await app_client(aiohttp_client, settings, ManualClock(NOW))
    await client_case(client, service)
    body = appointment_body(
        kind="picnic",
        starts_at="next tuesday",
        time_zone="Mars/Base",
        duration_minutes=0,
        location_kind="video",
        location="http://meet.example/room",
        status="done",
    )
    resp = await put(client, service, "A-2", body)
    assert resp.status == 400
    assert (await resp.json())["errors"] == [
        v(f"kind 'picnic' is not one of {', '.join(KINDS)}"),
        v("time_zone 'Mars/Base' is not a time zone name such as America/Chicago"),
        v(f"starts_at 'next tuesday' is not {EXAMPLE}"),
        v("duration_minutes must be a whole number of minutes from 1 to 720"),
        v("location must be an https:// link for a video appointment"),
        v(f"status 'done' is not one of {', '.join(STATUSES)}"),
    ]
    names = await put(client, service, "A-2", appointment_body(case_reference="C-404", staff="nobody@agency.example"))
    assert (await names.json())["errors"] == [
        v("case_reference no case with reference 'C-404' in this service"),
        v("staff no active member of staff with email 'nobody@agency.example' in this service"),
    ]
    extra = await put(client, service, "A-2", appointment_body(colour="red"))
    assert (await extra.json())["errors"] == [v("Additional properties are not allowed (colour was unexpected)")]
    for bad in ({"starts_at": "2026-03-09"}, {"location": None}, {"person": "P-404"}):
        resp = await put(client, service, "A-2", appointment_body(**bad))
        assert resp.status == 400, bad
    day_only = await put(client, service, "A-2", appointment_body(starts_at="2026-03-09"))
    assert (await day_only.json())["errors"] == [v(f"starts_at '2026-03-09' has no time of day: give {EXAMPLE}")]
    assert await stored(sessions, service.id) == []


async def test_a_closed_case_is_refused_and_another_participant_must_take_part(
    aiohttp_client, settings, sessions, service
) -> None:  # type: ignore[no-untyped-def]
    client = await app_client(aiohttp_client, settings, ManualClock(NOW))
    await client_case(client, service)
    await client_case(client, service, "C-2", "P-2")
    other = await put(client, service, "A-3", appointment_body(person="P-2"))
    assert (await other.json())["errors"] == [v("person 'P-2' does not take part in case 'C-1'")]
    closed = await client.put("/v2/cases/C-2", json={"client": "P-2", "status": "closed"}, headers=auth(service))
    assert closed.status == 200
    resp = await put(client, service, "A-3", appointment_body(case_reference="C-2"))
    assert (await resp.json())["errors"] == [v("case_reference case 'C-2' is closed: reopen it first")]
    assert await stored(sessions, service.id) == []


async def test_times_with_offsets_zones_and_dst_in_chicago(aiohttp_client, settings, sessions, service) -> None:  # type: ignore[no-untyped-def]
    client = await app_client(aiohttp_client, settings, ManualClock(NOW))
    await client_case(client, service, timezone=None)  # the person has no zone: the service's (UTC)
    utc = await (await put(client, service, "Z-1", appointment_body(starts_at="2026-03-09T10:30"))).json()
    assert utc["starts_at"] == "2026-03-09T10:30:00.000000Z" and utc["time_zone"] == "UTC"
    offset = await (
        await put(
            client, service, "Z-2", appointment_body(starts_at="2026-03-09T10:30:00-06:00", time_zone="America/Chicago")
        )
    ).json()
    assert (
        offset["starts_at"] == "2026-03-09T16:30:00.000000Z"
        and offset["local_starts_at"] == "2026-03-09T11:30:00-05:00"
    )

    chicago = {"time_zone": "America/Chicago"}
    skipped = await put(client, service, "Z-3", appointment_body(starts_at="2026-03-08T02:30", **chicago))
    assert skipped.status == 400
    assert (await skipped.json())["errors"] == [
        v(
            "starts_at 2026-03-08 02:30 does not exist in America/Chicago: "
            "the clocks go forward past it that night; choose another time"
        )
    ]
    before = await (await put(client, service, "Z-4", appointment_body(starts_at="2026-03-08T01:30", **chicago))).json()
    after = await (await put(client, service, "Z-5", appointment_body(starts_at="2026-03-08T03:30", **chicago))).json()
    assert before["starts_at"] == "2026-03-08T07:30:00.000000Z"  # CST, UTC-6
    assert after["starts_at"] == "2026-03-08T08:30:00.000000Z"  # CDT, UTC-5: an hour later in real time
    twice = await (await put(client, service, "Z-6", appointment_body(starts_at="2026-11-01T01:30", **chicago))).json()
    assert twice["starts_at"] == "2026-11-01T06:30:00.000000Z"  # the first 01:30 (CDT), not 07:30Z (CST)
    assert twice["local_starts_at"] == "2026-11-01T01:30:00-05:00"
    later = await (await put(client, service, "Z-7", appointment_body(starts_at="2026-11-01T09:00", **chicago))).json()
    assert later["starts_at"] == "2026-11-01T15:00:00.000000Z"  # CST after the change
    assert len(await stored(sessions, service.id)) == 6


async def test_cancel_and_outcome_follow_the_clock(aiohttp_client, settings, sessions, service) -> None:  # type: ignore[no-untyped-def]
    clock = ManualClock(NOW)
    client = await app_client(aiohttp_client, settings, clock)
    case_id = await client_case(client, service)
    assert (await put(client, service, "A-1", appointment_body())).status == 201
    assert (await put(client, service, "A-2", appointment_body())).status == 201
    early = await client.post("/v2/appointments/A-1/outcome", json={"outcome": "attended"}, headers=auth(service))
    assert early.status == 400
    assert (await early.json())["errors"] == [
        v("status can be attended only once the appointment has started (it starts 2026-03-09 15:30 UTC)")
    ]
    bad = await client.post("/v2/appointments/A-1/outcome", json={"outcome": "late"}, headers=auth(service))
    assert (await bad.json())["errors"] == [v("outcome must be one of attended, missed")]
    cancelled = await client.delete("/v2/appointments/A-2", headers=auth(service))
    assert cancelled.status == 200 and (await cancelled.json())["status"] == "cancelled"
    assert (await cancelled.json())["changed"] == ["status"]
    again = await client.delete("/v2/appointments/A-2", headers=auth(service))
    assert (await again.json())["changed"] == []
    lines = await appointment_lines(sessions, case_id)
    assert [line.data["change"] for line in lines] == ["created", "created", "cancelled"]

    clock.set(datetime(2026, 3, 9, 15, 45, tzinfo=UTC))
    attended = await client.post("/v2/appointments/A-1/outcome", json={"outcome": "attended"}, headers=auth(service))
    assert attended.status == 200 and (await attended.json())["status"] == "attended"
    assert (await appointment_lines(sessions, case_id))[-1].summary == (
        "Appointment marked attended: office visit on Mon 09 Mar 2026 10:30 CDT"
    )
    on_cancelled = await client.post("/v2/appointments/A-2/outcome", json={"outcome": "missed"}, headers=auth(service))
    assert (await on_cancelled.json())["errors"] == [
        v("status a cancelled appointment cannot be marked attended or missed")
    ]
    cancel_done = await client.delete("/v2/appointments/A-1", headers=auth(service))
    assert (await cancel_done.json())["errors"] == [
        v("status an appointment already marked attended cannot be cancelled")
    ]
    move_done = await put(client, service, "A-1", appointment_body(starts_at="2026-03-12T10:00"))
    assert (await move_done.json())["errors"] == [
        v("starts_at cannot change: the appointment is already marked attended")
    ]
    missing = await client.delete("/v2/appointments/A-404", headers=auth(service))
    assert missing.status == 404
    clock.set(NOW)
    back = await put(client, service, "A-2", appointment_body(status="scheduled"))
    assert (await back.json())["changed"] == ["status"] and (await back.json())["status"] == "scheduled"
    line = (await appointment_lines(sessions, case_id))[-1]
    assert line.summary == "Appointment scheduled again: office visit on Mon 09 Mar 2026 10:30 CDT"
    assert line.data["change"] == "created"  # reinstated: the hook plans its reminders from scratch


async def test_test_keys_store_nothing_and_other_services_see_nothing(
    aiohttp_client, settings, sessions, service, vault
) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import make_service

    client = await app_client(aiohttp_client, settings, ManualClock(NOW))
    await client_case(client, service)
    trial = await put(client, service, "A-1", appointment_body(), key=service.test_key)
    assert trial.status == 201 and (await trial.json())["changed"] == ["created"]
    assert await stored(sessions, service.id) == []
    assert (await put(client, service, "A-1", appointment_body())).status == 201
    other = await make_service(sessions, vault)
    assert (await client.get("/v2/appointments/A-1", headers=auth(other))).status == 404
    assert (await client.delete("/v2/appointments/A-1", headers=auth(other))).status == 404
    listed = await client.get("/v2/appointments", headers=auth(other))
    assert (await listed.json())["appointments"] == []


async def test_list_filters_and_paging(aiohttp_client, settings, sessions, service) -> None:  # type: ignore[no-untyped-def]
    client = await app_client(aiohttp_client, settings, ManualClock(NOW))
    await client_case(client, service)
    await client_case(client, service, "C-2", "P-2")
    for i in range(5):
        day = f"2026-03-{10 + i:02d}T09:00"
        assert (await put(client, service, f"A-{i}", appointment_body(starts_at=day))).status == 201
    assert (await put(client, service, "B-1", appointment_body(case_reference="C-2"))).status == 201
    await client.delete("/v2/appointments/A-4", headers=auth(service))

    async def ids(query: str) -> list[str]:
        resp = await client.get(f"/v2/appointments?{query}", headers=auth(service))
        assert resp.status == 200, await resp.text()
        return sorted(a["external_id"] for a in (await resp.json())["appointments"])

    assert await ids("case_reference=C-2") == ["B-1"]
    assert await ids("from=2026-03-11&to=2026-03-12") == ["A-1", "A-2"]
    assert await ids("from=2026-03-12T14:00:00Z") == ["A-2", "A-3", "A-4"]
    assert await ids("status=cancelled") == ["A-4"]
    assert len(await ids(f"officer={service.team_email}")) == 6
    bad = await client.get("/v2/appointments?status=gone&from=soon&colour=red", headers=auth(service))
    assert (await bad.json())["errors"] == [
        v("colour is not a filter: use case_reference, officer, from, to, status, older_than"),
    ]
    bad = await client.get("/v2/appointments?status=gone&from=soon&case_reference=C-9", headers=auth(service))
    assert [e["message"] for e in (await bad.json())["errors"]] == [
        "case_reference no case with reference 'C-9' in this service",
        "from 'soon' is not a date such as 2026-03-09 or a time such as 2026-03-09T10:30Z",
        f"status 'gone' is not one of {', '.join(STATUSES)}",
    ]
    from gateway.api import paging

    paging.PAGE_SIZE, size = 4, paging.PAGE_SIZE
    try:
        first = await (await client.get("/v2/appointments", headers=auth(service))).json()
        assert len(first["appointments"]) == 4
        nxt = first["links"]["next"].split("/v2/", 1)[1]
        second = await (await client.get(f"/v2/{nxt}", headers=auth(service))).json()
        seen = [a["external_id"] for a in first["appointments"] + second["appointments"]]
        assert sorted(seen) == ["A-0", "A-1", "A-2", "A-3", "A-4", "B-1"]
    finally:
        paging.PAGE_SIZE = size
    async with sessions() as db:
        assert await db.scalar(select(func.count()).where(Appointment.service_id == service.id)) == 6


async def test_the_openapi_document_lists_every_route_and_field(client) -> None:  # type: ignore[no-untyped-def]
    doc = await (await client.get("/v2/openapi.json")).json()
    paths = doc["paths"]
    assert set(paths["/v2/appointments/{external_id}"]) == {"put", "get", "delete"}
    assert set(paths["/v2/appointments/{external_id}/outcome"]) == {"post"}
    assert "get" in paths["/v2/appointments"]
    assert set(doc["components"]["schemas"]["AppointmentRequest"]["properties"]) == set(FIELDS)
    assert APPOINTMENT_SCHEMA["required"] == ["case_reference", "kind", "starts_at"]


async def test_two_first_puts_at_once_make_one_appointment(aiohttp_client, settings, sessions, service) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    client = await app_client(aiohttp_client, settings, ManualClock(NOW))
    case_id = await client_case(client, service)
    first, second = await asyncio.gather(
        put(client, service, "A-1", appointment_body()), put(client, service, "A-1", appointment_body())
    )
    assert sorted([first.status, second.status]) == [200, 201]
    assert len(await stored(sessions, service.id)) == 1
    assert len(await appointment_lines(sessions, case_id)) == 1


async def test_a_victims_appointment_is_not_there_for_an_offender_facing_service(
    aiohttp_client, settings, sessions, service, vault
) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from tests.appointments.records import add_appointment
    from tests.web.cases import add_participant, make_case

    client = await app_client(aiohttp_client, settings, ManualClock(NOW))
    case = await make_case(sessions, vault, service.id)
    victim = await add_participant(sessions, vault, case, service.id, "Vic Tim", "victim")
    when = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    await add_appointment(sessions, service.id, case.case_id, victim, when, external_id="V-1")
    assert (await client.get("/v2/appointments/V-1", headers=auth(service))).status == 404
    assert (await client.delete("/v2/appointments/V-1", headers=auth(service))).status == 404
    listed = await (await client.get("/v2/appointments", headers=auth(service))).json()
    assert listed["appointments"] == []
    [row] = await stored(sessions, service.id)
    assert row.status == "scheduled"
