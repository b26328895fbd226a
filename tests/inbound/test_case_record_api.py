"""`GET /v2/cases/{ref}/record`: the entries of a case, for the caller's service only."""

from __future__ import annotations

from sqlalchemy import update

from gateway.db import RecordEntry
from tests.factories import make_service
from tests.inbound.conftest import Gateway, add_person, bearer

PHONE = "+12025550143"


async def test_the_record_lists_entries_with_their_chain(gw: Gateway) -> None:
    person = await add_person(gw, PHONE)
    await gw.text(PHONE, "I will be there at 9")
    await gw.text(PHONE, "STOP")
    await gw.settle()
    response = await gw.client.get(f"/v2/cases/{person.case_ref}/record", headers=bearer(gw.service))
    assert response.status == 200
    body = await response.json()
    assert body["case"] == {"id": str(person.case_id), "reference": person.case_ref, "status": "open"}
    assert body["verified"] == {"ok": True, "first_bad_seq": None, "reason": None}
    entries = body["entries"]
    assert [e["seq"] for e in entries] == [1, 2] and {e["kind"] for e in entries} == {"inbound"}
    assert entries[1]["prev_hash"] == entries[0]["hash"]
    assert {e["inbound_id"] for e in entries} == {str(m.id) for m in await gw.inbound()}
    assert "I will be there" not in str(body) and PHONE not in str(body)

    async with gw.sessions() as session:
        await session.execute(
            update(RecordEntry)
            .where(RecordEntry.case_id == person.case_id, RecordEntry.seq == 1)
            .values(actor="someone else")
        )
        await session.commit()
    tampered = await (await gw.client.get(f"/v2/cases/{person.case_ref}/record", headers=bearer(gw.service))).json()
    assert tampered["verified"]["first_bad_seq"] == 1


async def test_another_services_case_is_not_found(gw: Gateway) -> None:
    person = await add_person(gw, PHONE)
    other = await make_service(gw.sessions, gw.vault)
    assert (await gw.client.get(f"/v2/cases/{person.case_ref}/record", headers=bearer(other))).status == 404
    assert (await gw.client.get(f"/v2/cases/{person.case_ref}/record")).status == 401
    assert (await gw.client.get("/v2/cases/NOPE/record", headers=bearer(gw.service))).status == 404
