"""Issue 12, "Done when": a parole service and a victim services unit, end to end (SQLite and PostgreSQL).

Three victims follow one parole case: (a) text in English, (b) email in Spanish, (c) letter only with a
confidential address. Parole posts `released`: (a) is texted from the unit's own number with the reply
prompt, (b) emailed in Spanish with the signed link, (c) is in the next print batch with the substitute
address in the window (read back with `pdftotext -bbox`) and the real one nowhere. (a) stays silent:
past the window its notice goes to email, then to a certified letter, and staff are alerted; (b) clicks
and is sent nothing more. A fourth victim, voice first, is called through the fake Twilio, which
presses 1: acknowledged. Parole staff and keys get 404 on every victim URL and id; the event answers
are byte-identical for a case with no victims and one with three; every VSU view is audited; the parole
case record gains nothing.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from gateway import keys
from gateway.crypto import Vault
from gateway.db import AuditEntry, Case, Notification, Person, RecordEntry, StaffUser, VictimNotice, VictimNoticeStep
from gateway.db.base import utcnow
from gateway.directory.cases import upsert_case
from gateway.letters import batch as batches
from gateway.letters.layout import RECIPIENT_WINDOW
from gateway.web.passwords import Passwords
from tests.letters.helpers import words
from tests.victims.conftest import World, WorldFactory, bearer
from tests.web.staff import StaffUnderTest, csrf_from, make_staff, sign_in

CHEAP = {"argon2_time_cost": 1, "argon2_memory_kib": 8192, "argon2_parallelism": 1}
REAL = ["Carla Example", "9 Hidden Lane", "Springfield, IL 62704"]
SUBSTITUTE = ["Carla Example", "PO Box 4400", "Boston, MA 02101"]


async def steps_of(world: World, notice_id: uuid.UUID) -> list[tuple[str, Notification | None]]:
    async with world.sessions() as db:
        rows = (
            await db.execute(
                select(VictimNoticeStep.channel, Notification)
                .outerjoin(Notification, Notification.id == VictimNoticeStep.notification_id)
                .where(VictimNoticeStep.notice_id == notice_id)
                .order_by(VictimNoticeStep.step)
            )
        ).all()
    return [(channel, n) for channel, n in rows]


async def notice_of(world: World, external_id: str) -> VictimNotice:
    async with world.sessions() as db:
        person_id = await db.scalar(
            select(Person.id).where(Person.service_id == world.vsu.id, Person.external_id == external_id)
        )
        notices = (await db.scalars(select(VictimNotice).where(VictimNotice.person_id == person_id))).all()
    [notice] = [n for n in notices if n.kind != "unregistered"]
    return notice


async def staff(world: World, service_id: uuid.UUID, roles: tuple[str, ...], settings: Any) -> StaffUnderTest:
    return await make_staff(world.sessions, world.vault, Passwords.from_settings(settings), service_id, roles=roles)


async def test_parole_release_reaches_every_victim_until_acknowledged(make_world: WorldFactory, tmp_path: Path) -> None:
    world = await make_world(**CHEAP)
    vault: Vault = world.vault
    settings = world.client.app[keys.SETTINGS]
    advocate = await staff(world, world.vsu.id, ("victim_advocate",), settings)
    officer = await staff(world, world.parole.id, ("officer", "supervisor"), settings)
    address = ["Ana Example", "12 Elm Street", "Boston, MA 02118"]
    a = world.victim("Ana", phone_numbers=["+12025550181"], email_addresses=["ana@example.org"],
                     postal_address=address, channels=["sms", "email"], advocate=advocate.email)  # fmt: skip
    b = world.victim("Beto", email_addresses=["beto@example.org"], language="es", channels=["email"],
                     postal_address=["Beto Example", "1 Oak St", "Boston, MA 02118"])  # fmt: skip
    c = world.victim("Carla", postal_address=REAL, address_confidential=True, substitute_address=SUBSTITUTE,
                     channels=["letter"])  # fmt: skip
    for external_id, body in (("V-a", a), ("V-b", b), ("V-c", c)):
        response = await world.put_victim(external_id, body)
        assert response.status == 201, await response.text()
    async with world.sessions() as db:
        await upsert_case(db, world.parole.id, "P-none", {"status": "open"}, "test")
        await upsert_case(db, world.parole.id, "P-voice", {"status": "open"}, "test")
        await db.commit()
        parole_case = await db.scalar(
            select(Case.id).where(Case.service_id == world.parole.id, Case.external_ref == world.case_ref)
        )
        parole_entries = await db.scalar(select(func.count()).where(RecordEntry.case_id == parole_case))

    # Parole posts the release; the same kind of event on a case nobody follows answers byte for byte alike.
    released = {"event_id": "rel-1", "kind": "released",
                "details": {"date": "2026-12-08", "supervision_type": "parole", "town": "Worcester"}}  # fmt: skip
    answers = []
    for ref, event_id in ((world.case_ref, "rel-1"), ("P-none", "rel-0")):
        response = await world.event({**released, "event_id": event_id}, reference=ref)
        body = await response.read()
        shown = {k: v for k, v in response.headers.items() if k.lower() not in ("date", "x-request-id")}
        answers.append((response.status, re.sub(rb'"id":"[0-9a-f-]{36}"', b'"id":"X"', body), shown))
    assert answers[0] == answers[1]
    assert answers[0][:2] == (201, b'{"id":"X"}')
    await world.settle()

    # (a) texted from the unit's own number, with the reply prompt
    [text] = [m for m in world.twilio.messages if m.to == "+12025550181"]
    assert text.from_ == world.vsu_number != world.parole_number
    assert "released from custody on 2026-12-08" in text.body and "Reply OK" in text.body
    # (b) emailed in Spanish from the unit's address, with the signed link
    notice_b = await notice_of(world, "V-b")
    [(channel, email)] = await steps_of(world, notice_b.id)
    assert channel == "email" and email is not None and email.sender == "Victim Services <vsu@vsu.example>"
    body_b = vault.open(email.body_enc)
    assert "fue puesto en libertad el 2026-12-08" in body_b
    link = re.search(r"https?://\S+/victims/ack/\S+", body_b)
    assert link is not None
    # (c) in the next print batch: the substitute address in the window, the real one nowhere
    [report] = await batches.run_batch(world.client.app[keys.JOB_CONTEXT], world.vsu.id, now=utcnow())
    assert report.letters == 1
    pages = words(await asyncio.to_thread(Path(report.pdf_path).read_bytes), tmp_path)
    window = [w for (x0, y0, x1, y1, w) in pages[0] if RECIPIENT_WINDOW.contains(x0, y0, x1, y1)]
    assert " ".join(window) == " ".join(SUBSTITUTE)
    printed = " ".join(w for page in pages for (_, _, _, _, w) in page)
    assert "Hidden" not in printed and "62704" not in printed

    # (b) clicks: the page asks first (a scanner's GET changes nothing), the button acknowledges
    path = "/" + link.group(0).split("/", 3)[3]
    assert (await world.client.get(path)).status == 200
    assert (await notice_of(world, "V-b")).state == "open"
    assert (await world.client.post(path)).status == 200
    assert (await notice_of(world, "V-b")).ack_via == "email-link"

    # (a) silent past the window: email, then a certified letter; staff alerted
    world.clock.advance(timedelta(hours=25))
    await world.sweep()
    channels = [ch for ch, _ in await steps_of(world, (await notice_of(world, "V-a")).id)]
    assert channels == ["sms", "email"]
    world.clock.advance(timedelta(hours=25))
    await world.sweep()
    steps_a = await steps_of(world, (await notice_of(world, "V-a")).id)
    assert [ch for ch, _ in steps_a] == ["sms", "email", "letter:certified"]
    letter_a = steps_a[-1][1]
    assert letter_a is not None and letter_a.postage == "certified"
    assert vault.open(letter_a.recipient_enc) == "\n".join(address)
    async with world.sessions() as db:
        alerts = (
            await db.scalars(
                select(Notification).where(Notification.service_id == world.vsu.id, Notification.channel == "email")
            )
        ).all()
    assert any(vault.open(n.recipient_enc) == advocate.email for n in alerts)
    # (b) got nothing more; (c) waits for staff to record the letter
    assert len(await steps_of(world, notice_b.id)) == 1
    assert (await notice_of(world, "V-c")).state == "open"

    # a fourth victim, voice first: called, presses 1
    d = world.victim("Dee", phone_numbers=["+12025550184"], channels=["voice", "sms"])
    d["cases"][0]["reference"] = "P-voice"
    assert (await world.put_victim("V-d", d)).status == 201
    world.twilio.voice.done.clear()
    assert (await world.event({**released, "event_id": "rel-d"}, reference="P-voice")).status == 201
    await world.settle()
    await world.calls_finished("+12025550184")
    notice_d = await notice_of(world, "V-d")
    assert notice_d.state == "acknowledged" and notice_d.ack_via == "keypress"
    [call] = [c for c in world.twilio.voice.calls if c.to == "+12025550184"]
    assert call.to == "+12025550184" and call.from_ == world.vsu_number
    assert '<Gather action="' in call.twiml[0] and 'numDigits="1"' in call.twiml[0]
    assert '<Say language="en-US">' in call.twiml[0] and "released from custody" in call.twiml[0]
    assert "Press 9 to hear it again" in call.twiml[0] and "Thank you" in call.twiml[-1]
    assert call.statuses and all(s == 200 for s in call.statuses)

    # Parole's staff and keys: 404 on every victim URL and id; its case record gained nothing
    victim_ids = []
    async with world.sessions() as db:
        for external_id in ("V-a", "V-b", "V-c", "V-d"):
            victim_ids.append(
                await db.scalar(
                    select(Person.id).where(Person.service_id == world.vsu.id, Person.external_id == external_id)
                )
            )
        assert await db.scalar(select(func.count()).where(RecordEntry.case_id == parole_case)) == parole_entries
    for external_id in ("V-a", "V-b", "V-c", "V-d"):
        for key in (world.parole.live_key, world.parole.team_key, world.parole.test_key):
            got = await world.client.get(f"/v2/victims/{external_id}", headers=bearer(key, world.parole.id))
            assert got.status == 404
    await sign_in(world.client, officer)
    token = await csrf_from(world.client, "/inbox")
    for person_id in victim_ids:
        for url in (f"/victims/{person_id}", f"/victims/{person_id}/edit", f"/people/{person_id}"):
            assert (await world.client.get(url, allow_redirects=False)).status == 404, url
        post = await world.client.post(f"/victims/{person_id}/unregister", data={"csrf_token": token})
        assert post.status == 404
    for url in ("/victims", "/victims/new", "/victims/outstanding"):
        assert (await world.client.get(url, allow_redirects=False)).status == 404, url
    ack = await world.client.post(
        f"/victims/notices/{(await notice_of(world, 'V-c')).id}/acknowledge",
        data={"csrf_token": token, "via": "staff-letter"},
    )
    assert ack.status == 404
    await world.client.post("/logout", data={"csrf_token": token})

    # The unit's advocate: every view audited; records (c)'s letter as received
    await sign_in(world.client, advocate)
    async with world.sessions() as db:
        before = await db.scalar(
            select(func.count()).where(AuditEntry.service_id == world.vsu.id, AuditEntry.action.like("view.%"))
        )
    person_c = victim_ids[2]
    for url in (
        "/victims",
        "/victims/outstanding",
        "/victims/new",
        f"/victims/{person_c}",
        f"/victims/{person_c}/edit",
    ):
        page = await world.client.get(url)
        assert page.status == 200, url
    outstanding = await (await world.client.get("/victims/outstanding")).text()
    assert str((await notice_of(world, "V-c")).id) in outstanding
    token = await csrf_from(world.client, f"/victims/{person_c}")
    recorded = await world.client.post(
        f"/victims/notices/{(await notice_of(world, 'V-c')).id}/acknowledge",
        data={"csrf_token": token, "via": "staff-letter"},
    )
    assert recorded.status == 200
    assert (await notice_of(world, "V-c")).ack_via == "staff-letter"
    async with world.sessions() as db:
        after = await db.scalar(
            select(func.count()).where(AuditEntry.service_id == world.vsu.id, AuditEntry.action.like("view.%"))
        )
        viewer = await db.get(StaffUser, advocate.id)
    assert viewer is not None
    assert (after or 0) - (before or 0) >= 9  # 7 page views, the csrf page, the acknowledgment
