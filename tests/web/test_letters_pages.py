"""The staff letter pages over HTTP, on SQLite and PostgreSQL: the Letters page (batches, downloads,
cancel with confirmation, returned mail typed or uploaded), letter PDFs (service boundary, the victim
rule, audited), letters on the case page and in the conversation thread, and the sandbox mailroom."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path
from typing import Any

from aiohttp import FormData
from sqlalchemy import select, update

from gateway import keys
from gateway.db import Notification
from gateway.db.base import utcnow
from gateway.letters import batch as batches
from gateway.letters.cancel import cancel_letter
from tests.api.test_auth import bearer
from tests.factories import make_service
from tests.letters.helpers import LETTER_PATH, letter, settle
from tests.web.cases import make_case, set_service_kind
from tests.web.staff import audit_rows, csrf_from, sign_in

Client = Any


async def send(client: Client, service: Any, **changes: Any) -> uuid.UUID:
    resp = await client.post(LETTER_PATH, json=letter(**changes), headers=bearer(service.live_key, service.id))
    assert resp.status == 201, await resp.text()
    return uuid.UUID((await resp.json())["id"])


async def status_of(sessions: Any, nid: uuid.UUID) -> str:
    async with sessions() as db:
        return str(await db.scalar(select(Notification.status).where(Notification.id == nid)))


async def test_letters_page_batches_cancel_and_returned_mail(  # type: ignore[no-untyped-def]
    make_client, service, staff_factory, sessions, tmp_path: Path
) -> None:
    client = await make_client(letters_dir=tmp_path / "batches")
    supervisor = await staff_factory(service.id, roles=("supervisor",), name="Sue Supervisor")
    officer = await staff_factory(service.id)
    printed = await send(client, service, postage="certified", reference="cert-7")
    first = await send(client, service)
    await settle(client)
    ctx = client.app[keys.JOB_CONTEXT]
    [report] = await batches.run_batch(ctx, service.id, now=utcnow())
    waiting = await send(client, service, reference="wait-1")
    kept = await send(client, service)
    await settle(client)

    await sign_in(client, officer)
    assert (await client.get("/letters")).status == 403  # the mailroom's page: supervisors and admins
    other = await make_client(letters_dir=tmp_path / "batches")
    await sign_in(other, supervisor)

    page = await other.get("/letters")
    text = await page.text()
    assert page.status == 200
    assert f"/letters/batches/{report.batch_id}/pdf" in text
    assert "Certified Mail: 1" in text and "First-Class: 1" in text and "2 (2 sheets)" in text
    assert "wait-1" in text and f"/letters/{waiting}/cancel" in text and f"/letters/{printed}/cancel" not in text

    pdf = await other.get(f"/letters/batches/{report.batch_id}/pdf")
    assert pdf.status == 200 and (await pdf.read()).startswith(b"%PDF")
    manifest = await other.get(f"/letters/batches/{report.batch_id}/manifest")
    rows = list(csv.DictReader(io.StringIO(await manifest.text())))
    assert sorted(r["notification_id"] for r in rows) == sorted([str(printed), str(first)])
    downloads = await audit_rows(sessions, service.id, action="letters.batch_download")
    assert [(a.target, a.detail) for a in downloads] == [
        (str(report.batch_id), {"file": "pdf"}),
        (str(report.batch_id), {"file": "manifest"}),
    ]
    assert (await other.get(f"/letters/batches/{uuid.uuid4()}/pdf")).status == 404

    # cancel: a confirmation page, then the cancel rule; too late once the batch is cut
    confirm = await other.get(f"/letters/{waiting}/cancel")
    assert confirm.status == 200 and "Yes, cancel the letter" in await confirm.text()
    token = await csrf_from(other, "/letters")
    assert (await other.post(f"/letters/{waiting}/cancel", data={})).status == 403  # no CSRF token
    done = await other.post(f"/letters/{waiting}/cancel", data={"csrf_token": token}, allow_redirects=False)
    assert done.status == 303 and done.headers["Location"] == "/letters?letters_done=cancelled"
    assert await status_of(sessions, waiting) == "cancelled"
    assert await batches.cut(ctx, service.id, now=utcnow(), accepted_before=utcnow()) is not None
    late = await other.post(f"/letters/{kept}/cancel", data={"csrf_token": token}, allow_redirects=False)
    assert (
        late.headers["Location"] == "/letters?letters_done=too_late" and await status_of(sessions, kept) != "cancelled"
    )
    assert not await cancel_letter(ctx, service.id, kept, actor="test")

    # returned mail: typed and uploaded, the same code as `gateway letters returned`
    form = FormData()
    form.add_field("csrf_token", token)
    form.add_field("entries", "cert-7\nnot-a-letter")
    form.add_field("report", f"notification_id\n{first}\n".encode(), filename="returned.csv", content_type="text/csv")
    answer = await other.post("/letters/returned", data=form)
    text = await answer.text()
    assert answer.status == 200 and "2 letters marked returned" in text and "not-a-letter" in text
    assert (
        await status_of(sessions, printed) == "returned-letter"
        and await status_of(sessions, first) == "returned-letter"
    )
    [entry] = await audit_rows(sessions, service.id, action="letters.returned")
    assert entry.detail == {"returned": 2, "unchanged": 0, "not_found": 1}
    empty = await other.post("/letters/returned", data={"csrf_token": token, "entries": " "})
    assert empty.status == 400 and "Enter notification ids or references" in await empty.text()


async def test_letter_pdfs_follow_the_service_boundary_and_the_victim_rule(  # type: ignore[no-untyped-def]
    client, make_client, service, staff_factory, sessions, vault
) -> None:
    await set_service_kind(sessions, service.id, "victim_services")
    advocate = await staff_factory(service.id, roles=("victim_advocate",))
    officer = await staff_factory(service.id)
    case = await make_case(sessions, vault, service.id, role="victim", assigned=advocate.id, conversation=True)
    nid = await send(client, service)
    await settle(client)
    async with sessions() as db:
        await db.execute(
            update(Notification).where(Notification.id == nid).values(case_id=case.case_id, person_id=case.person_id)
        )
        await db.commit()

    await sign_in(client, advocate)
    pdf = await client.get(f"/letters/{nid}/pdf")
    assert pdf.status == 200 and (await pdf.read()).startswith(b"%PDF")
    [viewed] = await audit_rows(sessions, service.id, action="view.letter_pdf")
    assert viewed.target == str(nid) and viewed.actor == f"staff:{advocate.id}"
    case_page = await (await client.get(f"/cases/{case.ref}")).text()
    assert f"/letters/{nid}/pdf" in case_page and "Alex Example" in case_page
    inbox = await client.get("/inbox", params={"tab": "all"})
    conversation_id = (await inbox.text()).split("/conversations/", 1)[1].split('"', 1)[0]
    thread = await (await client.get(f"/conversations/{conversation_id}")).text()
    assert "Letter," in thread and f"/letters/{nid}/pdf" in thread

    hidden = await make_client()
    await sign_in(hidden, officer)  # may not see victim data: the letter does not exist for them
    assert (await hidden.get(f"/letters/{nid}/pdf")).status == 404
    assert f"/letters/{nid}/pdf" not in await (await hidden.get(f"/cases/{case.ref}")).text()

    outsider_service = await make_service(sessions, vault)
    outsider = await staff_factory(outsider_service.id, roles=("admin",))
    elsewhere = await make_client()
    await sign_in(elsewhere, outsider)
    assert (await elsewhere.get(f"/letters/{nid}/pdf")).status == 404


async def test_sandbox_mailroom(make_client, service, staff_factory, sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client = await make_client(letters_dir=tmp_path / "batches")
    supervisor = await staff_factory(service.id, roles=("supervisor",))
    nid = await send(client, service, reference="sandbox-1")
    await settle(client)
    await sign_in(client, supervisor)
    page = await (await client.get("/sandbox/mailroom")).text()
    assert "SANDBOX" in page and "sandbox-1" in page and f"/letters/{nid}/pdf" in page and "No print batches" in page
    token = await csrf_from(client, "/sandbox/mailroom")
    cut = await client.post("/sandbox/mailroom/batch", data={"csrf_token": token}, allow_redirects=False)
    assert cut.headers["Location"] == "/sandbox/mailroom?mailroom_done=batch"
    assert await status_of(sessions, nid) == "received"
    page = await (await client.get("/sandbox/mailroom")).text()
    assert "Written to the batch folder" in page and "/letters/batches/" in page and "Return to sender" in page
    assert list((tmp_path / "batches" / str(service.id)).glob("*/batch-*.pdf"))
    back = await client.post(f"/sandbox/mailroom/{nid}/return", data={"csrf_token": token}, allow_redirects=False)
    assert back.headers["Location"] == "/sandbox/mailroom?mailroom_done=returned"
    assert await status_of(sessions, nid) == "returned-letter"

    with_mail_house = await make_client(letters_dir=tmp_path / "b2", letters_sftp_host="sftp.mailhouse.example")
    await sign_in(with_mail_house, supervisor)
    off = await (await with_mail_house.get("/sandbox/mailroom")).text()
    assert "The sandbox mailroom is off" in off
    token = await csrf_from(with_mail_house, "/sandbox/mailroom")
    assert (await with_mail_house.post("/sandbox/mailroom/batch", data={"csrf_token": token})).status == 403


async def test_tracking_report_typed_or_uploaded_on_the_letters_page(  # type: ignore[no-untyped-def]
    make_client, service, staff_factory, sessions, tmp_path: Path
) -> None:
    """The same all-or-nothing rule as `gateway letters tracking`: a bad line refuses the report with its
    line number; a good one, typed or uploaded, records each number; every try audited."""
    client = await make_client(letters_dir=tmp_path / "batches")
    certified = await send(client, service, postage="certified", reference="cert-9")
    second = await send(client, service, postage="certified")
    await settle(client)
    await batches.run_batch(client.app[keys.JOB_CONTEXT], service.id, now=utcnow())
    supervisor = await staff_factory(service.id, roles=("supervisor",))
    officer = await staff_factory(service.id)
    await sign_in(client, officer)
    assert (await client.post("/letters/tracking", data={})).status in (403, 400)
    other = await make_client(letters_dir=tmp_path / "batches")
    await sign_in(other, supervisor)
    token = await csrf_from(other, "/letters")
    assert "Certified Mail tracking numbers" in await (await other.get("/letters")).text()

    bad = await other.post(
        "/letters/tracking",
        data={"csrf_token": token, "tracking_lines": "cert-9,9407100000000000000011\ncert-9,123"},
    )
    text = await bad.text()
    assert bad.status == 400 and "Nothing was recorded. Line 2: &#39;123&#39; is not a USPS tracking number" in text
    assert "cert-9,9407100000000000000011" in text  # what was typed is kept to correct
    async with sessions() as db:
        assert await db.scalar(select(Notification.tracking_number).where(Notification.id == certified)) is None

    both = FormData()
    both.add_field("csrf_token", token)
    both.add_field("tracking_lines", "cert-9, 9407 1000 0000 0000 0000 11")
    report = f"notification_id,tracking\n{second},9407100000000000000012\n".encode()
    both.add_field("report", report, filename="t.csv")
    refused = await other.post("/letters/tracking", data=both)
    assert refused.status == 400 and "not both" in await refused.text()
    typed = await other.post(
        "/letters/tracking", data={"csrf_token": token, "tracking_lines": "cert-9, 9407 1000 0000 0000 0000 11"}
    )
    assert typed.status == 200 and "Tracking numbers recorded: 1 letter, 0 unchanged" in await typed.text()
    upload = FormData()
    upload.add_field("csrf_token", token)
    upload.add_field("report", report, filename="t.csv")
    done = await other.post("/letters/tracking", data=upload)
    assert done.status == 200 and "Tracking numbers recorded: 1 letter, 0 unchanged" in await done.text()
    async with sessions() as db:
        numbers = dict(
            (
                await db.execute(
                    select(Notification.id, Notification.tracking_number).where(
                        Notification.id.in_([certified, second])
                    )
                )
            ).all()
        )
    assert numbers == {certified: "9407100000000000000011", second: "9407100000000000000012"}
    empty = await other.post("/letters/tracking", data={"csrf_token": token, "tracking_lines": " "})
    assert empty.status == 400 and "Enter one letter a line" in await empty.text()
    tries = await audit_rows(sessions, service.id, action="letters.tracking")
    assert [(a.outcome, a.detail) for a in tries] == [
        ("refused", {"problems": 1}),
        ("refused", {"problems": 1}),
        ("ok", {"recorded": 1, "unchanged": 0}),
        ("ok", {"recorded": 1, "unchanged": 0}),
        ("refused", {"problems": 1}),
    ]
