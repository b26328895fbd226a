"""The victim API: registrations (VSU keys only), offender events (idempotent, the same answer whoever
follows the case), bad input on every endpoint, and test keys that store nothing."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from gateway.db import AuditEntry, OffenderEvent, VictimNotice, VictimRegistration
from tests.victims.conftest import World, bearer


async def count(world: World, model: Any, *where: Any) -> int:
    async with world.sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_register_read_update_unregister(world: World) -> None:
    body = world.victim("Ana", phone_numbers=["(202) 555-0143"], channels=["sms", "letter"],
                        postal_address=["Ana Example", "12 Elm Street", "Boston, MA 02118"], language="es")  # fmt: skip
    first = await world.put_victim("V-1", body)
    assert first.status == 201, await first.text()
    view = await first.json()
    assert view["changed"] == ["created"] and view["channels"] == ["sms", "letter"] and view["language"] == "es"
    assert view["phone_numbers"] == ["+12025550143"] and view["cases"][0]["reference"] == world.case_ref
    again = await world.put_victim("V-1", body)
    assert again.status == 200 and (await again.json())["changed"] == []
    moved = await world.put_victim("V-1", {**body, "channels": ["letter", "sms"]})
    assert (await moved.json())["changed"] == ["channels"]
    got = await world.client.get("/v2/victims/V-1", headers=bearer(world.vsu.live_key, world.vsu.id))
    assert got.status == 200 and (await got.json())["channels"] == ["letter", "sms"]
    gone = await world.client.delete("/v2/victims/V-1", headers=bearer(world.vsu.live_key, world.vsu.id))
    assert gone.status == 200 and (await gone.json())["status"] == "unregistered"
    await world.settle()
    [confirmation] = [n for n in await world.notices() if n.kind == "unregistered"]
    assert confirmation.state == "info"
    again_gone = await world.client.delete("/v2/victims/V-1", headers=bearer(world.vsu.live_key, world.vsu.id))
    assert (await again_gone.json())["changed"] == []
    assert len([n for n in await world.notices() if n.kind == "unregistered"]) == 1  # no second confirmation
    assert await count(world, AuditEntry, AuditEntry.action == "view.victim_registration") >= 1


async def test_offender_facing_keys_get_404_for_every_victim_url(world: World) -> None:
    assert (await world.put_victim("V-2", world.victim("Bo", phone_numbers=["+12025550144"]))).status == 201
    for key in (world.parole.live_key, world.parole.team_key, world.parole.test_key):
        headers = bearer(key, world.parole.id)
        for method in ("GET", "DELETE"):
            for external_id in ("V-2", "V-unknown"):
                response = await world.client.request(method, f"/v2/victims/{external_id}", headers=headers)
                assert response.status == 404, (method, external_id)
                assert await response.json() == {
                    "status_code": 404,
                    "errors": [{"error": "NoResultFound", "message": "No result found"}],
                }
        put = await world.client.put("/v2/victims/V-2", json=world.victim("X"), headers=headers)
        assert put.status == 404
    # the parole service's people API does not show the VSU's victim either (another service)
    people = await world.client.get("/v2/people/V-2", headers=bearer(world.parole.live_key, world.parole.id))
    assert people.status == 404


async def test_bad_registrations_store_nothing(world: World) -> None:
    cases = [{"service_id": str(world.parole.id), "reference": world.case_ref, "offender_name": "C"}]
    bad: list[tuple[Any, str]] = [
        ({"first_name": "A", "last_name": "B", "channels": ["fax"], "cases": cases}, "channels has fax"),
        ({"first_name": "A", "last_name": "B", "channels": ["sms"], "cases": cases}, "sms is listed but no phone"),
        ({"first_name": "A", "last_name": "B", "channels": [], "cases": cases}, "channels must be"),
        ({"first_name": "A", "last_name": "B", "channels": ["letter"], "cases": cases, "address_confidential": True},
         "substitute_address is required"),
        ({"first_name": "A", "last_name": "B", "channels": ["email"], "email_addresses": ["x@y.example"],
          "cases": [{"service_id": str(uuid.uuid4()), "reference": "R", "offender_name": "C"}]},
         "not a service this unit follows"),
        ({"first_name": "A", "last_name": "B", "channels": ["email"], "email_addresses": ["x@y.example"],
          "cases": []}, "cases must be a list"),
        ({"first_name": "A", "last_name": "B", "channels": ["email"], "email_addresses": ["x@y.example"],
          "cases": cases, "events": ["parties"]}, "events has parties"),
        ({"first_name": "A", "channels": ["email"], "email_addresses": ["x@y.example"], "cases": cases}, "last_name"),
        ({**world.victim("A"), "phone_numbers": ["+12025550145"], "colour": "red"}, "colour was unexpected"),
        ([1, 2], "request body is not of type object"),
    ]  # fmt: skip
    for body, expected in bad:
        response = await world.put_victim("V-bad", body)
        assert response.status == 400, (body, await response.text())
        messages = " ".join(e["message"] for e in (await response.json())["errors"])
        assert expected in messages, (expected, messages)
    raw = await world.client.put("/v2/victims/V-bad", data=b"{nope", headers=bearer(world.vsu.live_key, world.vsu.id))
    assert raw.status == 400
    assert await count(world, VictimRegistration, VictimRegistration.service_id == world.vsu.id) == 0


async def test_test_key_registers_nothing(world: World) -> None:
    body = world.victim("T", phone_numbers=["+12025550146"])
    response = await world.put_victim("V-test", body, key=world.vsu.test_key)
    assert response.status == 201
    assert await count(world, VictimRegistration, VictimRegistration.service_id == world.vsu.id) == 0


async def test_event_answer_is_the_same_for_no_victims_and_many(world: World) -> None:
    other_ref = "P-empty"
    async with world.sessions() as db:
        from gateway.directory.cases import upsert_case

        await upsert_case(db, world.parole.id, other_ref, {"status": "open"}, "test")
        await db.commit()
    for i in range(3):
        assert (
            await world.put_victim(f"V-many-{i}", world.victim(f"N{i}", phone_numbers=[f"+1202555017{i}"]))
        ).status == 201
    answers = []
    for ref in (world.case_ref, other_ref):
        response = await world.event({"event_id": f"ev-{ref}", "kind": "escaped", "details": {}}, reference=ref)
        body = await response.read()
        event_id = (await response.json())["id"]
        assert body == b'{"id":"' + event_id.encode() + b'"}'
        answers.append((response.status, sorted(k for k in response.headers if k.lower() != "date"), len(body)))
    assert answers[0] == answers[1]
    await world.settle()
    assert len([n for n in await world.notices() if n.kind == "escaped"]) == 3


async def test_events_are_idempotent_and_checked(world: World) -> None:
    body = {"event_id": "ev-1", "kind": "released", "details": {"date": "2026-12-09", "town": "Springfield"}}
    first, second = await world.event(body), await world.event(body)
    assert first.status == second.status == 201
    assert (await first.json()) == (await second.json())
    changed = await world.event({**body, "details": {"date": "2026-12-10"}})
    assert changed.status == 409
    bad: list[tuple[dict[str, Any], str]] = [
        ({"event_id": "e", "kind": "paroled"}, "kind must be one of"),
        ({"event_id": "e", "kind": "released", "details": {}}, "details.date is required"),
        ({"event_id": "e", "kind": "released", "details": {"date": "2026-02-30"}}, "not a real date"),
        ({"event_id": "e", "kind": "address_changed", "details": {"town": "X", "street": "1 Main St"}},
         "details.street is not a field"),
        ({"event_id": "e", "kind": "classification", "details": {"level": 4, "status": "final"}}, "details.level"),
        ({"event_id": "e", "kind": "hearing_result", "details": {"hearing_type": "bail", "result": "x"}},
         "hearing_type"),
        ({"event_id": "", "kind": "escaped"}, "event_id must be"),
        ({"event_id": "e", "kind": "escaped", "victims": 3}, "victims was unexpected"),
        ({"event_id": "e", "kind": "escaped", "details": "now"}, "details must be an object"),
    ]  # fmt: skip
    for payload, expected in bad:
        response = await world.event(payload)
        assert response.status == 400, payload
        messages = " ".join(e["message"] for e in (await response.json())["errors"])
        assert expected in messages, (expected, messages)
    unknown = await world.event({"event_id": "e2", "kind": "escaped"}, reference="P-nope")
    assert unknown.status == 404
    from_vsu = await world.event({"event_id": "e3", "kind": "escaped"}, service=world.vsu)
    assert from_vsu.status in (400, 404)
    test_key = await world.event({"event_id": "e4", "kind": "escaped"}, key=world.parole.test_key)
    assert test_key.status == 201
    assert await count(world, OffenderEvent, OffenderEvent.service_id == world.parole.id) == 1
    await world.settle()
    assert await count(world, VictimNotice, VictimNotice.service_id == world.vsu.id) == 0  # nobody registered
