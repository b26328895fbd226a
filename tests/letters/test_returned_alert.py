"""Returned mail, what follows it: Notify's separate `returned_letter` callback (its own URL and bearer
token), the email alert to the case's handler (a victim's letter only to a handler allowed victim data, or else to
the unit's staff who are),
a case record entry saying who was alerted, and nothing twice when the report is read again."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from aiohttp import web
from sqlalchemy import select, update

from gateway.api.present import timestamp
from gateway.db import Notification, RecordEntry, Service, StaffUser
from gateway.db.base import utcnow
from gateway.letters import batch as batches
from gateway.letters.returned import record_returned
from tests.letters.helpers import LETTER_EN, settle
from tests.letters.test_batch import send
from tests.web.cases import make_case

TOKEN = "returned-letter-token-123"


async def staff(sessions: Any, service_id: uuid.UUID, name: str, role: str) -> StaffUser:
    user = StaffUser(service_id=service_id, email=f"{secrets.token_hex(4)}@agency.example", name=name, roles=[role])
    async with sessions() as db:
        db.add(user)
        await db.commit()
    return user


async def test_returned_letter_callback_alert_and_record(  # type: ignore[no-untyped-def]
    client, service, sessions, vault, letters_ctx, aiohttp_server
) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def receive(request: web.Request) -> web.Response:
        received.append((request.headers.get("Authorization"), await request.json()))
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/returned", receive)
    server = await aiohttp_server(app)
    advocate = await staff(sessions, service.id, "Vic Advocate", "victim_advocate")
    officer = await staff(sessions, service.id, "Olive Officer", "officer")
    async with sessions() as db:
        await db.execute(
            update(Service)
            .where(Service.id == service.id)
            .values(
                kind="victim_services",
                email_from="notify@vs.agency.example",
                returned_letter_callback_url=str(server.make_url("/returned")),
                returned_letter_callback_token_enc=vault.seal(TOKEN),
            )
        )
        await db.commit()
    seen = await make_case(sessions, vault, service.id, role="victim", assigned=advocate.id)
    hidden = await make_case(sessions, vault, service.id, role="victim", assigned=officer.id)
    to_advocate = await send(client, service, reference="vic-1")
    to_officer = await send(client, service)
    no_case = await send(client, service)
    await settle(client)
    async with sessions() as db:
        for nid, case in ((to_advocate, seen), (to_officer, hidden)):
            await db.execute(
                update(Notification)
                .where(Notification.id == nid)
                .values(case_id=case.case_id, person_id=case.person_id)
            )
        await db.commit()
    await batches.run_batch(letters_ctx, service.id, now=utcnow())

    report = await record_returned(letters_ctx, [str(to_advocate), str(to_officer), str(no_case)], service.id)
    await letters_ctx["queue"].join()
    assert sorted(report.returned) == sorted([to_advocate, to_officer, no_case]) and report.alerted == 2

    # Notify's returned-letter callback, once per letter, with its own bearer token
    bodies = {body["notification_id"]: (auth, body) for auth, body in received}
    assert len(received) == 3 and set(bodies) == {str(to_advocate), str(to_officer), str(no_case)}
    async with sessions() as db:
        letter = await db.get(Notification, to_advocate)
    assert letter is not None
    assert bodies[str(to_advocate)] == (
        f"Bearer {TOKEN}",
        {
            "notification_id": str(to_advocate),
            "reference": "vic-1",
            "date_sent": timestamp(letter.created_at),
            "sent_by": "API",
            "template_name": "Victim notification: offender released (letter)",
            "template_id": LETTER_EN,
            "template_version": letter.template_version,
            "spreadsheet_file_name": None,
            "spreadsheet_row_number": None,
            "upload_letter_file_name": None,
        },
    )

    # the alerts: the advocate's case, to the advocate; the officer's case (the officer may not see victim
    # data), to the unit's staff who may, the advocate again; both delivered, no victim detail in them
    async with sessions() as db:
        alerts = (
            await db.scalars(
                select(Notification).where(Notification.service_id == service.id, Notification.channel == "email")
            )
        ).all()
        entries = {
            e.notification_id: e
            for e in (await db.scalars(select(RecordEntry).where(RecordEntry.notification_id.is_not(None)))).all()
            if e.case_id in (seen.case_id, hidden.case_id) and "returned-letter" in e.summary
        }
    assert [(vault.open(a.recipient_enc), a.status) for a in alerts] == [(advocate.email, "delivered")] * 2
    bodies_sent = sorted(vault.open(a.body_enc) for a in alerts)
    assert any(seen.ref in b and f"/cases/{seen.ref}" in b for b in bodies_sent)
    assert any(hidden.ref in b for b in bodies_sent) and not any("Springfield" in b for b in bodies_sent)
    assert "case handler alerted by email" in entries[to_advocate].summary
    assert "victim services staff (its handler may not see victim data) alerted by email" in entries[to_officer].summary

    # read again: nothing changes, no second alert or callback
    again = await record_returned(letters_ctx, [str(to_advocate)], service.id)
    await letters_ctx["queue"].join()
    assert again.returned == [] and again.alerted == 0 and len(received) == 3
    async with sessions() as db:
        count = len(
            (
                await db.scalars(
                    select(Notification.id).where(
                        Notification.channel == "email", Notification.service_id == service.id
                    )
                )
            ).all()
        )
    assert count == 2


async def test_a_victims_returned_letter_with_no_handler_alerts_the_units_victim_staff(  # type: ignore[no-untyped-def]
    client, service, sessions, vault, letters_ctx
) -> None:
    """No case handler: every active member of the unit allowed victim data is told (an officer is not);
    with none of them active, no alert, and the case record says why."""
    first = await staff(sessions, service.id, "Ana Advocate", "victim_advocate")
    second = await staff(sessions, service.id, "Sam Supervisor", "supervisor")
    await staff(sessions, service.id, "Olive Officer", "officer")
    async with sessions() as db:
        await db.execute(
            update(Service)
            .where(Service.id == service.id)
            .values(kind="victim_services", email_from="notify@vs.agency.example")
        )
        await db.commit()
    case = await make_case(sessions, vault, service.id, role="victim")  # nobody assigned
    letters = [await send(client, service), await send(client, service)]
    await settle(client)
    async with sessions() as db:
        await db.execute(
            update(Notification)
            .where(Notification.id.in_(letters))
            .values(case_id=case.case_id, person_id=case.person_id)
        )
        await db.commit()
    await batches.run_batch(letters_ctx, service.id, now=utcnow())

    report = await record_returned(letters_ctx, [str(letters[0])], service.id)
    await letters_ctx["queue"].join()
    assert report.alerted == 2
    async with sessions() as db:
        alerts = (
            await db.scalars(
                select(Notification).where(Notification.service_id == service.id, Notification.channel == "email")
            )
        ).all()
    assert sorted(vault.open(a.recipient_enc) for a in alerts) == sorted([first.email, second.email])

    async with sessions() as db:
        await db.execute(update(StaffUser).where(StaffUser.id.in_([first.id, second.id])).values(active=False))
        await db.commit()
    report = await record_returned(letters_ctx, [str(letters[1])], service.id)
    await letters_ctx["queue"].join()
    assert report.returned == [letters[1]] and report.alerted == 0
    async with sessions() as db:
        summaries = [
            e.summary
            for e in (await db.scalars(select(RecordEntry).where(RecordEntry.notification_id == letters[1]))).all()
        ]
    assert any(
        "no alert: the letter went to a victim, the case has no active case handler, and no active staff may see" in s
        for s in summaries
    ), summaries
