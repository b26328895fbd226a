"""The case pages over HTTP on SQLite and PostgreSQL: scoping, victim data, transfer, notes and exports."""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.db import Conversation, RecordEntry
from gateway.domain import RecordKind
from gateway.record import append_entry, verify_chain
from tests.factories import ServiceUnderTest, make_service
from tests.web.cases import add_participant, make_case, set_service, set_service_kind
from tests.web.conftest import StaffFactory
from tests.web.staff import audit_rows, csrf_from, sign_in

Client = Any


async def _record(sessions: async_sessionmaker[AsyncSession], case_id: Any) -> list[RecordEntry]:
    async with sessions() as db:
        return list(
            (
                await db.scalars(select(RecordEntry).where(RecordEntry.case_id == case_id).order_by(RecordEntry.seq))
            ).all()
        )


async def test_case_list_and_page_are_scoped_to_the_service(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    officer = await staff_factory(service.id)
    mine = await make_case(sessions, vault, service.id, assigned=officer.id)
    other_service = await make_service(sessions, vault)
    theirs = await make_case(sessions, vault, other_service.id, name="Someone Else")
    await sign_in(client, officer)

    listing = await (await client.get("/cases")).text()
    assert mine.ref in listing and theirs.ref not in listing
    found = await (await client.get("/cases", params={"q": mine.ref[-3:].lower()})).text()
    assert mine.ref in found

    page = await client.get(f"/cases/{mine.ref}")
    assert page.status == 200
    text = await page.text()
    assert "Jordan Rivera" in text and mine.phone in text and "Olive Officer" in text
    assert (await client.get(f"/cases/{theirs.ref}")).status == 404
    assert (await client.get("/cases/NO-SUCH-CASE")).status == 404
    token = await csrf_from(client, f"/cases/{mine.ref}")
    response = await client.post(f"/cases/{theirs.ref}/notes", data={"note": "x", "csrf_token": token})
    assert response.status == 404
    assert await _record(sessions, theirs.case_id) == []


async def test_victim_participant_hidden_from_officer_shown_and_audited_for_advocate(
    client: Client,
    make_client: Any,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    await set_service_kind(sessions, service.id, "victim_services")
    case = await make_case(sessions, vault, service.id)
    victim_id = await add_participant(sessions, vault, case, service.id, "Vera Victim", "victim")
    officer = await staff_factory(service.id, roles=("officer",))
    advocate = await staff_factory(service.id, roles=("victim_advocate",), name="Ada Advocate")

    await sign_in(client, officer)
    text = await (await client.get(f"/cases/{case.ref}")).text()
    assert "Vera Victim" not in text and "Victim (restricted)" in text
    assert await audit_rows(sessions, service.id, action="view.victim_participant") == []

    other = await make_client()
    await sign_in(other, advocate)
    text = await (await other.get(f"/cases/{case.ref}")).text()
    assert "Vera Victim" in text and "Victim (restricted)" not in text
    rows = await audit_rows(sessions, service.id, action="view.victim_participant")
    assert [(r.actor, r.target) for r in rows] == [(f"staff:{advocate.id}", str(victim_id))]


async def test_transfer_appends_assignment_and_moves_conversations(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    officer = await staff_factory(service.id)
    colleague = await staff_factory(service.id, name="Carl Colleague")
    outsider = await staff_factory((await make_service(sessions, vault)).id, name="Out Sider")
    case = await make_case(sessions, vault, service.id, assigned=officer.id, conversation=True)
    await sign_in(client, officer)
    token = await csrf_from(client, f"/cases/{case.ref}")

    refused = await client.post(f"/cases/{case.ref}/transfer", data={"staff_id": str(outsider.id), "csrf_token": token})
    assert refused.status == 400
    no_csrf = await client.post(f"/cases/{case.ref}/transfer", data={"staff_id": str(colleague.id)})
    assert no_csrf.status == 403

    move = {"staff_id": str(colleague.id), "csrf_token": token}
    no_reason = await client.post(f"/cases/{case.ref}/transfer", data=move)
    assert no_reason.status == 400 and "Say why you are transferring" in await no_reason.text()
    move["reason"] = "Officer moving to the north office"
    asked = await client.post(f"/cases/{case.ref}/transfer", data=move)
    text = await asked.text()
    assert asked.status == 200 and "Yes, transfer to Carl Colleague" in text and case.ref in text
    assert await _record(sessions, case.case_id) == [], "nothing moves before the confirmation"
    response = await client.post(f"/cases/{case.ref}/transfer", data=move | {"confirm": str(colleague.id)})
    assert response.status == 200 and "The case has been transferred." in await response.text()
    entries = await _record(sessions, case.case_id)
    assert [e.kind for e in entries] == ["assignment"]
    assert entries[0].data["to_staff_id"] == str(colleague.id)
    assert "Officer moving to the north office" in entries[0].summary + str(entries[0].data)
    async with sessions() as db:
        conversation = await db.scalar(select(Conversation).where(Conversation.person_id == case.person_id))
        assert conversation is not None and conversation.assigned_staff_id == colleague.id
        assert conversation.state == "claimed"
        assert (await verify_chain(db, case.case_id)).ok


async def test_only_the_handler_or_a_supervisor_may_transfer(
    client: Client,
    make_client: Any,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    handler = await staff_factory(service.id)
    colleague = await staff_factory(service.id, name="Carl Colleague", roles=("officer",))
    supervisor = await staff_factory(service.id, name="Sue Supervisor", roles=("supervisor",))
    case = await make_case(sessions, vault, service.id, assigned=handler.id)
    await sign_in(client, colleague)
    token = await csrf_from(client, f"/cases/{case.ref}")
    move = {"staff_id": str(colleague.id), "reason": "cover", "confirm": str(colleague.id)}
    taken = await client.post(f"/cases/{case.ref}/transfer", data=move | {"csrf_token": token})
    assert taken.status == 403
    assert await _record(sessions, case.case_id) == []

    boss = await make_client()
    await sign_in(boss, supervisor)
    token = await csrf_from(boss, f"/cases/{case.ref}")
    moved = await boss.post(f"/cases/{case.ref}/transfer", data=move | {"csrf_token": token})
    assert moved.status == 200
    assert [e.kind for e in await _record(sessions, case.case_id)] == ["assignment"]


async def test_note_is_added_and_timeline_filters_by_kind(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    officer = await staff_factory(service.id)
    case = await make_case(sessions, vault, service.id, assigned=officer.id)
    await append_entry(sessions, case.case_id, RecordKind.OUTBOUND, "gateway", "Text message sent")
    await sign_in(client, officer)
    token = await csrf_from(client, f"/cases/{case.ref}")
    empty = await client.post(f"/cases/{case.ref}/notes", data={"note": "  ", "csrf_token": token})
    assert empty.status == 400
    response = await client.post(f"/cases/{case.ref}/notes", data={"note": "Called, no answer", "csrf_token": token})
    assert response.status == 200
    entries = await _record(sessions, case.case_id)
    assert [(e.kind, e.summary, e.actor) for e in entries][-1] == ("note", "Called, no answer", f"staff:{officer.id}")

    notes_only = await (await client.get(f"/cases/{case.ref}", params={"kind": "note"})).text()
    assert "Called, no answer" in notes_only and "Text message sent" not in notes_only
    future = await (await client.get(f"/cases/{case.ref}", params={"from": "2999-01-01"})).text()
    assert "Called, no answer" not in future and "No record entries match this filter" in future


async def test_timeline_dates_are_days_on_the_services_clock(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    await set_service(sessions, service.id, timezone="America/Chicago")
    officer = await staff_factory(service.id)
    case = await make_case(sessions, vault, service.id, assigned=officer.id)
    await append_entry(sessions, case.case_id, RecordKind.OUTBOUND, "gateway", "Late evening text")
    async with sessions() as db:  # 03:00 UTC on 2 January is 21:00 on 1 January in Chicago
        entry = (await db.scalars(select(RecordEntry).where(RecordEntry.case_id == case.case_id))).all()[-1]
        entry.at = datetime(2026, 1, 2, 3, 0, tzinfo=UTC)
        await db.commit()
    await sign_in(client, officer)

    first = await (await client.get(f"/cases/{case.ref}", params={"from": "2026-01-01", "to": "2026-01-01"})).text()
    second = await (await client.get(f"/cases/{case.ref}", params={"from": "2026-01-02", "to": "2026-01-02"})).text()
    assert "Late evening text" in first and "2026-01-01 21:00:00" in first and "When (America/Chicago)" in first
    assert "Late evening text" not in second
    bad = await client.get(f"/cases/{case.ref}", params={"from": "1 Jan", "to": "2026-13-40"})
    assert bad.status == 400
    page = await bad.text()
    assert "The from date must be a date such as 2026-01-31." in page and "The to date must be" in page


async def test_csv_export_is_in_order_without_sealed_data_and_recorded(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    officer = await staff_factory(service.id)
    case = await make_case(sessions, vault, service.id, assigned=officer.id)
    for n in range(3):
        await append_entry(sessions, case.case_id, RecordKind.NOTE, "gateway", f"note {n}")
    await sign_in(client, officer)
    token = await csrf_from(client, f"/cases/{case.ref}")
    response = await client.post(f"/cases/{case.ref}/export", data={"format": "csv", "csrf_token": token})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    text = await response.text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["seq"] for r in rows] == ["1", "2", "3", "4"]
    assert [r["kind"] for r in rows] == ["note", "note", "note", "export"]
    assert case.phone not in text
    assert {r["client"] for r in rows} == {"Jordan Rivera"}, "the export names the client (issue 14)"
    async with sessions() as db:
        sealed = await db.scalar(select(RecordEntry.hash).where(RecordEntry.case_id == case.case_id).limit(1))
        assert sealed and sealed in text  # hashes are exported; nothing sealed is
        assert (await verify_chain(db, case.case_id)).ok
    assert vault.seal("x")[:6] not in text
    audit = await audit_rows(sessions, service.id, action="export.case_record")
    assert [(r.target, r.detail) for r in audit] == [(str(case.case_id), {"format": "csv"})]
    assert (await client.post(f"/cases/{case.ref}/export", data={"format": "doc", "csrf_token": token})).status == 400


async def test_pdf_export_is_a_pdf_that_reports_the_chain(
    client: Client,
    service: ServiceUnderTest,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    tmp_path: Any,
) -> None:
    try:
        import weasyprint  # noqa: F401  (loads Pango; fails with OSError where the system libraries are missing)
    except OSError as exc:
        from tests.services import require_services

        require_services(f"WeasyPrint cannot load Pango ({exc}); apt-get install -y libpango-1.0-0 libpangoft2-1.0-0")
    officer = await staff_factory(service.id)
    case = await make_case(sessions, vault, service.id, assigned=officer.id)
    await append_entry(sessions, case.case_id, RecordKind.NOTE, "gateway", "Home visit done")
    await sign_in(client, officer)
    token = await csrf_from(client, f"/cases/{case.ref}")
    response = await client.post(f"/cases/{case.ref}/export", data={"format": "pdf", "csrf_token": token})
    assert response.status == 200 and response.headers["Content-Type"] == "application/pdf"
    body = await response.read()
    assert body.startswith(b"%PDF")
    entries = await _record(sessions, case.case_id)
    assert [e.kind for e in entries] == ["note", "export"]
    async with sessions() as db:
        assert (await verify_chain(db, case.case_id)).ok
    if shutil.which("pdftotext"):
        path = tmp_path / "record.pdf"
        path.write_bytes(body)
        process = await asyncio.create_subprocess_exec("pdftotext", str(path), "-", stdout=asyncio.subprocess.PIPE)
        text = " ".join((await process.communicate())[0].decode().split())  # words, not line breaks
        assert f"Case record {case.ref}" in text
        assert "Integrity check passed" in text
        assert "Home visit done" in text and "Record exported as PDF" in text
