"""Victim impact statements (invitation, reminders, staff recording receipt stops them) and the unit's pages:
intake with every problem shown and nothing stored, CSRF, roles (a VSU officer without a victim role gets
404 like a stranger), edit, unregister, the outstanding dashboard."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from gateway import keys
from gateway.db import AuditEntry, Person, VictimFollowedCase, VictimRegistration, VictimStatement
from gateway.web.passwords import Passwords
from tests.victims.conftest import World, WorldFactory
from tests.web.staff import StaffUnderTest, csrf_from, make_staff, sign_in

CHEAP = {"argon2_time_cost": 1, "argon2_memory_kib": 8192, "argon2_parallelism": 1}


async def staff(world: World, roles: tuple[str, ...], service_id: Any = None) -> StaffUnderTest:
    settings = world.client.app[keys.SETTINGS]
    return await make_staff(
        world.sessions, world.vault, Passwords.from_settings(settings), service_id or world.vsu.id, roles=roles
    )


async def test_statement_invitation_reminders_and_receipt(make_world: WorldFactory) -> None:
    world = await make_world(**CHEAP)
    body = world.victim("Sol", phone_numbers=["+12025550301"], channels=["sms"])
    assert (await world.put_victim("V-s", body)).status == 201
    event = {
        "event_id": "vis-1",
        "kind": "vis_deadline",
        "details": {"deadline": "2026-12-20", "hearing_type": "parole"},
    }
    assert (await world.event(event)).status == 201
    await world.settle()
    [invitation] = [n for n in await world.notices() if n.kind == "vis_deadline"]
    assert invitation.state == "open"  # the invitation is acknowledged like any notice
    async with world.sessions() as db:
        [statement] = (
            await db.scalars(select(VictimStatement).where(VictimStatement.service_id == world.vsu.id))
        ).all()
    assert statement.deadline == datetime(2026, 12, 21, tzinfo=UTC)  # the end of the deadline day (UTC unit)
    assert statement.next_reminder_at == datetime(2026, 12, 14, tzinfo=UTC)
    world.clock.set(datetime(2026, 12, 14, 16, 0, tzinfo=UTC))  # 11:00 in Washington (the number's zone)
    await world.sweep()
    reminders = [n for n in await world.notices() if n.kind == "vis_reminder"]
    assert len(reminders) == 1 and reminders[0].state == "info"
    texts = [m.body for m in world.twilio.messages if m.to == "+12025550301"]
    assert any("Reminder: the deadline for your victim impact statement" in t and "2026-12-20" in t for t in texts)
    await world.sweep()
    assert len([n for n in await world.notices() if n.kind == "vis_reminder"]) == 1  # not twice

    advocate = await staff(world, ("victim_advocate",))
    await sign_in(world.client, advocate)
    async with world.sessions() as db:
        person_id = await db.scalar(
            select(Person.id).where(Person.service_id == world.vsu.id, Person.external_id == "V-s")
        )
    page = await world.client.get(f"/victims/{person_id}")
    assert page.status == 200 and "not received yet (1 reminder(s) sent)" in await page.text()
    token = await csrf_from(world.client, f"/victims/{person_id}")
    done = await world.client.post(
        f"/victims/statements/{statement.id}/received?person={person_id}", data={"csrf_token": token}
    )
    assert done.status == 200
    world.clock.set(datetime(2026, 12, 19, 16, 0, tzinfo=UTC))
    await world.sweep()
    assert len([n for n in await world.notices() if n.kind == "vis_reminder"]) == 1  # stopped


def form(world: World, **changes: str) -> dict[str, str]:
    values = {
        "first_name": "Ivy", "last_name": "Intake", "language": "en", "phone": "(202) 555-0311",
        "email": "", "postal_address": "", "substitute_address": "", "channel_1": "sms", "channel_2": "",
        "channel_3": "", "channel_4": "", "event_all": "yes", "case_service_1": str(world.parole.id),
        "case_reference_1": world.case_ref, "case_offender_1": "Chris Doe", "advocate": "",
    }  # fmt: skip
    values.update(changes)
    return values


async def registrations(world: World) -> int:
    async with world.sessions() as db:
        return int(await db.scalar(select(func.count()).where(VictimRegistration.service_id == world.vsu.id)) or 0)


async def test_intake_edit_unregister_and_roles(make_world: WorldFactory) -> None:
    world = await make_world(**CHEAP)
    officer = await staff(world, ("officer",))  # of the VSU, but not in a victim role
    await sign_in(world.client, officer)
    for url in ("/victims", "/victims/new", "/victims/outstanding", "/victims/export.csv"):
        assert (await world.client.get(url)).status == 404
    token = await csrf_from(world.client, "/inbox")
    assert (await world.client.post("/victims/new", data={**form(world), "csrf_token": token})).status == 404
    await world.client.post("/logout", data={"csrf_token": token})

    advocate = await staff(world, ("victim_advocate",))
    await sign_in(world.client, advocate)
    home = await (await world.client.get("/inbox")).text()
    assert 'href="/victims"' in home  # in the navigation for a victim role
    token = await csrf_from(world.client, "/victims/new")
    no_csrf = await world.client.post("/victims/new", data=form(world))
    assert no_csrf.status == 403
    bad = await world.client.post(
        "/victims/new",
        data={**form(world, phone="12", channel_2="letter", case_reference_1=""), "csrf_token": token},
    )
    assert bad.status == 400
    text = await bad.text()
    assert "Phone number" in text and "Cases followed" in text and 'aria-invalid="true"' in text
    assert await registrations(world) == 0
    made = await world.client.post("/victims/new", data={**form(world), "csrf_token": token}, allow_redirects=False)
    assert made.status == 303, await made.text()
    person_url = made.headers["Location"]
    assert re.fullmatch(r"/victims/[0-9a-f-]{36}", person_url)
    assert await registrations(world) == 1
    listing = await (await world.client.get("/victims")).text()
    assert "Ivy Intake" in listing
    exported = await world.client.get("/victims/export.csv")
    assert exported.status == 200 and "Ivy Intake" in await exported.text()
    assert "+1202" not in await exported.text()  # no contact values in the export
    async with world.sessions() as db:
        audited = await db.scalar(
            select(func.count()).where(AuditEntry.action == "view.victim_export", AuditEntry.service_id == world.vsu.id)
        )
    assert audited == 1
    edit = await world.client.post(
        person_url + "/edit",
        data={**form(world, channel_2="voice", language="es"), "csrf_token": token},
        allow_redirects=False,
    )
    assert edit.status == 303
    async with world.sessions() as db:
        [reg] = (
            await db.scalars(select(VictimRegistration).where(VictimRegistration.service_id == world.vsu.id))
        ).all()
    assert reg.channels == ["sms", "voice"] and reg.language == "es"
    gone = await world.client.post(person_url + "/unregister", data={"csrf_token": token}, allow_redirects=False)
    assert gone.status == 303
    async with world.sessions() as db:
        assert (
            await db.scalar(select(VictimRegistration.status).where(VictimRegistration.id == reg.id)) == "unregistered"
        )
    page = await (await world.client.get(person_url)).text()
    assert "Unregistered (confirmation)" in page  # the confirmation is on the timeline
    other_unit = await world.client.get("/victims/00000000-0000-0000-0000-000000000000")
    assert other_unit.status == 404
    assert (await world.client.get("/victims/not-an-id")).status == 404
    world.clock.advance(timedelta(minutes=1))


def cases_of(world: World, count: int) -> dict[str, str]:
    """Case rows 1..count of the form, each a case of the followed parole service."""
    rows: dict[str, str] = {"case_rows": str(count)}
    for i in range(1, count + 1):
        rows |= {
            f"case_service_{i}": str(world.parole.id),
            f"case_reference_{i}": f"{world.case_ref}-{i}",
            f"case_offender_{i}": "Chris Doe",
        }
    return rows


async def followed_references(world: World) -> list[str]:
    async with world.sessions() as db:
        return sorted(
            await db.scalars(
                select(VictimFollowedCase.case_reference)
                .join(VictimRegistration, VictimRegistration.id == VictimFollowedCase.registration_id)
                .where(VictimRegistration.service_id == world.vsu.id)
            )
        )


def case_rows_shown(page: str) -> int:
    found = re.search(r'name="case_rows" value="(\d+)"', page)
    assert found, "no case_rows"
    assert len(re.findall(r'name="case_reference_\d+"', page)) == int(found.group(1))
    return int(found.group(1))


async def test_the_intake_form_follows_more_than_three_cases_and_an_edit_keeps_them_all(
    make_world: WorldFactory,
) -> None:
    """ "Add another case" posts the form back with one more row, keeping what was typed and saving nothing;
    the edit page shows every case followed (a registration made through the API may follow 20), so
    saving it drops none; a forged row count is clamped; the 20th row is the last."""
    world = await make_world(**CHEAP)
    await sign_in(world.client, await staff(world, ("victim_advocate",)))
    blank = await (await world.client.get("/victims/new")).text()
    assert case_rows_shown(blank) == 3 and "Add another case" in blank
    token = await csrf_from(world.client, "/victims/new")

    more = await world.client.post(
        "/victims/new", data={**form(world), **cases_of(world, 3), "add_case": "yes", "csrf_token": token}
    )
    page = await more.text()
    assert more.status == 200 and case_rows_shown(page) == 4
    assert f'value="{world.case_ref}-3"' in page and 'value="Ivy"' in page  # what was typed is kept
    assert await registrations(world) == 0  # and nothing saved

    made = await world.client.post(
        "/victims/new", data={**form(world), **cases_of(world, 4), "csrf_token": token}, allow_redirects=False
    )
    assert made.status == 303, await made.text()
    four = [f"{world.case_ref}-{i}" for i in range(1, 5)]
    assert await followed_references(world) == sorted(four)

    person_url = made.headers["Location"]
    edit_page = await (await world.client.get(person_url + "/edit")).text()
    assert case_rows_shown(edit_page) == 5  # the four, and a blank row for one more
    assert all(f'value="{ref}"' in edit_page for ref in four)
    edited = await world.client.post(
        person_url + "/edit",
        data={**form(world, channel_2="email", email="ivy@example.org"), **cases_of(world, 4), "case_rows": "5",
              "csrf_token": token},
        allow_redirects=False,
    )  # fmt: skip
    assert edited.status == 303, await edited.text()
    assert await followed_references(world) == sorted(four)  # before, the form showed three and dropped the fourth

    # a forged count reads no more than 20 rows, and never fewer than 3
    forged = await world.client.post(
        person_url + "/edit",
        data={**form(world), **cases_of(world, 4), "case_rows": "99999", "csrf_token": token},
        allow_redirects=False,
    )
    assert forged.status == 303 and await followed_references(world) == sorted(four)
    full = await world.client.post(
        "/victims/new", data={**form(world), **cases_of(world, 20), "add_case": "yes", "csrf_token": token}
    )
    full_page = await full.text()
    assert full.status == 200 and case_rows_shown(full_page) == 20
    assert "follows at most 20 cases" in full_page and "Add another case" not in full_page
