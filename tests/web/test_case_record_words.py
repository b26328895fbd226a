"""The case record reads like a log (issue 14, item 7), over HTTP on SQLite and PostgreSQL.

The page and the CSV and PDF exports show names and plain words; the stored entries keep their ids
and hash chain. Exports name the client, carry the messages' words, follow the on-screen filter,
and the PDF is tagged for screen readers and made quickly.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.db import InboundMessage, RecordEntry
from gateway.domain import RecordKind
from gateway.inbound.chain import ACTOR as INBOUND_ACTOR
from gateway.record import append_entry, verify_chain
from gateway.record_words import RecordLine
from gateway.web.case_export import render_pdf
from gateway.web.case_page import KIND_WORDS
from gateway.web.pages import PageRenderer
from tests.factories import ServiceUnderTest
from tests.web.conftest import StaffFactory
from tests.web.officer_data import ClientUnderTest, client_with_reply
from tests.web.staff import csrf_from, sign_in
from tests.web.test_case_page import Client

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
REPLY = "Can I come on Thursday instead?"


async def _record_a_reply(
    sessions: async_sessionmaker[AsyncSession], client: ClientUnderTest, officer_id: object
) -> None:
    """The entry the inbound chain writes for a reply filed with the officer (`gateway.inbound.chain.record`)."""
    async with sessions() as db:
        inbound_id = await db.scalar(
            select(InboundMessage.id).where(InboundMessage.conversation_id == client.conversation_id)
        )
    decision = f"filed in conversation {client.conversation_id}; assigned to staff {officer_id}, unread 1"
    await append_entry(
        sessions,
        client.case_id,
        RecordKind.INBOUND,
        INBOUND_ACTOR,
        f"Text message received; case_handler: {decision}",
        {
            "channel": "sms",
            "decisions": [{"handler": "case_handler", "outcome": "stop", "decision": decision}],
            "conversation_id": str(client.conversation_id),
        },
        inbound_id=inbound_id,
    )


async def test_page_and_exports_read_like_a_log(
    make_client,  # type: ignore[no-untyped-def]
    staff_factory: StaffFactory,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    tmp_path: Path,
) -> None:
    officer = await staff_factory(service.id, name="Dana Demo")
    person = await client_with_reply(sessions, vault, service.id, officer.id, reply=REPLY)
    await _record_a_reply(sessions, person, officer.id)
    http: Client = await make_client()
    await sign_in(http, officer)
    token = await csrf_from(http, f"/conversations/{person.conversation_id}")
    sent = await http.post(
        f"/conversations/{person.conversation_id}/send",
        data={"csrf_token": token, "message": "Yes, Thursday at 10 is fine."},
        allow_redirects=False,
    )
    assert sent.status == 303

    page = await (await http.get(f"/cases/{person.ref}")).text()
    record = page.split('data-testid="record"', 1)[1].split("</table>", 1)[0]
    assert "Jordan replied by text — filed for Dana Demo" in record
    assert "Dana Demo sent a text to Jordan Rivera" in record
    assert "staff:" not in record and "gateway:inbound" not in record and not UUID.search(record)

    async with sessions() as db:
        stored = (await db.scalars(select(RecordEntry).where(RecordEntry.case_id == person.case_id))).all()
        assert any(f"staff {officer.id}" in e.summary for e in stored), "the record itself keeps its ids"
        assert any(e.actor == f"staff:{officer.id}" for e in stored)

    response = await http.post(f"/cases/{person.ref}/export", data={"format": "csv", "csrf_token": token})
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert {r["client"] for r in rows} == {"Jordan Rivera"}
    by_kind = {r["kind"]: r for r in rows}
    assert by_kind["inbound"]["what"] == "Jordan replied by text — filed for Dana Demo"
    assert by_kind["inbound"]["message"] == REPLY and by_kind["inbound"]["by"] == "Gateway (incoming message)"
    mine = next(r for r in rows if r["kind"] == "outbound" and r["by"] == "Dana Demo")
    assert mine["what"] == "Dana Demo sent a text to Jordan Rivera"
    assert mine["message"] == "Yes, Thursday at 10 is fine." and mine["person"] == "Jordan Rivera"
    assert mine["actor"] == f"staff:{officer.id}", "ids are kept beside the words"
    delivery = [r["what"] for r in rows if r["kind"] in ("outbound", "status") and r["by"] != "Dana Demo"]
    assert delivery and all(w.startswith("Text to Jordan Rivera ") for w in delivery), delivery
    assert by_kind["export"]["what"] == "Record exported as CSV"

    only_replies = await http.post(
        f"/cases/{person.ref}/export", data={"format": "csv", "csrf_token": token, "kind": "inbound"}
    )
    assert [r["kind"] for r in csv.DictReader(io.StringIO(await only_replies.text()))] == ["inbound"]
    bad = await http.post(f"/cases/{person.ref}/export", data={"format": "csv", "csrf_token": token, "from": "soon"})
    assert bad.status == 400

    pdf = await http.post(f"/cases/{person.ref}/export", data={"format": "pdf", "csrf_token": token})
    body = await pdf.read()
    assert body.startswith(b"%PDF")
    if shutil.which("pdftotext") and shutil.which("pdfinfo"):  # poppler-utils (in the dev container)
        path = tmp_path / "record.pdf"
        path.write_bytes(body)
        info = await asyncio.create_subprocess_exec("pdfinfo", str(path), stdout=asyncio.subprocess.PIPE)
        assert re.search(rb"Tagged:\s+yes", (await info.communicate())[0]), "tagged for screen readers (PDF/UA-1)"
        process = await asyncio.create_subprocess_exec("pdftotext", str(path), "-", stdout=asyncio.subprocess.PIPE)
        text = " ".join((await process.communicate())[0].decode().split())
        assert f"Case record {person.ref}: Jordan Rivera" in text and "Client: Jordan Rivera" in text
        assert "Jordan replied by text — filed for Dana Demo" in text and REPLY in text
        assert "staff:" not in text
    async with sessions() as db:
        assert (await verify_chain(db, person.case_id)).ok


def test_a_long_record_pdf_is_made_well_under_a_second() -> None:
    """200 entries (several pages) through the export's own template, rendered warm as a running
    gateway does; the figure is printed for the report (README: case record exports)."""
    now = datetime.now(UTC)
    entries = [
        (
            RecordEntry(seq=n, at=now, kind="inbound", actor=INBOUND_ACTOR, summary="", data={}, hash="ab" * 32),
            RecordLine(
                "Gateway (incoming message)", "Jordan replied by text — filed for Dana Demo", "Jordan", f"Reply {n}"
            ),
        )
        for n in range(1, 201)
    ]
    context = {
        "case": SimpleNamespace(external_ref="CR-1"),
        "client": "Jordan Rivera",
        "service": SimpleNamespace(name="Downtown Parole"),
        "exported_by": "Dana Demo",
        "exported_at": now,
        "tz": "America/New_York",
        "entries": entries,
        "filtered": False,
        "kind_words": KIND_WORDS,
        "where": None,
        "withheld": 0,
        "report": SimpleNamespace(ok=True, reason=None),
    }
    html = PageRenderer(Path(__file__).resolve().parents[2] / "templates" / "pages").render(
        "case_record_pdf.html", context
    )
    render_pdf(html)  # warm: fonts and Pango load once per process
    took = []
    for _ in range(3):
        started = time.perf_counter()
        pdf = render_pdf(html)
        took.append(time.perf_counter() - started)
    print(f"case record PDF, 200 entries, tagged: best {min(took) * 1000:.0f} ms of 3, {len(pdf)} bytes")
    # ~0.6-0.8 s on this 2-core machine while other helpers work; ~1.8 s with the whole web suite beside it
    assert min(took) < 3.0, f"{min(took):.2f}s (target well under 1 s; generous here for a loaded, shared machine)"
