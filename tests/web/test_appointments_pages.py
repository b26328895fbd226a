"""The appointment pages over HTTP on SQLite and PostgreSQL, on a ManualClock: the case page's list and
"Add appointment" form (errors beside fields, nothing stored), move and cancel with confirmation,
"My appointments" (today and the next 7 days, attended / missed once started), the role and
service boundaries, and victims' appointments hidden from staff who may not see victims (audited
for those who may)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from gateway.app import create_app
from gateway.clock import ManualClock
from gateway.db import Appointment
from tests.appointments.records import add_appointment, appointment_lines, stored
from tests.factories import make_service
from tests.web.cases import add_participant, make_case, set_service
from tests.web.staff import audit_rows, csrf_from, sign_in

Client = Any
# Monday 9 March 2026, 11:00 in Chicago (CDT, the day after the clocks went forward)
NOW = datetime(2026, 3, 9, 16, 0, tzinfo=UTC)
CHICAGO = "America/Chicago"


async def app_client(aiohttp_client: Any, settings: Any, clock: ManualClock) -> Client:
    return await aiohttp_client(create_app(settings, clock=clock))


def good_form(token: str, **changes: str) -> dict[str, str]:
    form = {
        "csrf_token": token,
        "kind": "drug_test",
        "title": "",
        "date": "2026-03-12",
        "time": "09:15",
        "duration_minutes": "30",
        "location_kind": "address",
        "location": "Lab, 40 Oak Ave",
        "staff": "",
        "bring": "Photo ID",
        "notes": "Second test this month",
    }
    return form | changes


async def test_add_an_appointment_from_the_case_page(
    aiohttp_client, settings, service, staff_factory, sessions, vault
) -> None:  # type: ignore[no-untyped-def]
    await set_service(sessions, service.id, timezone=CHICAGO)
    client = await app_client(aiohttp_client, settings, ManualClock(NOW))
    officer = await staff_factory(service.id)
    case = await make_case(sessions, vault, service.id, assigned=officer.id)
    await sign_in(client, officer)
    page = await (await client.get(f"/cases/{case.ref}")).text()
    assert "No appointments on this case." in page and f"/cases/{case.ref}/appointments/new" in page
    form_page = await (await client.get(f"/cases/{case.ref}/appointments/new")).text()
    assert "On the America/Chicago clock" in form_page
    token = await csrf_from(client, f"/cases/{case.ref}/appointments/new")

    bad = await client.post(
        f"/cases/{case.ref}/appointments/new",
        data=good_form(token, date="", location_kind="video", location="http://meet.example/x", duration_minutes="0"),
    )
    assert bad.status == 400
    text = await bad.text()
    assert re.search(r'id="date-error">.*Error:</span> is required', text)
    assert 'id="location-error"' in text and "must be an https:// link for a video appointment" in text
    assert 'id="duration_minutes-error"' in text and 'aria-invalid="true"' in text
    skipped = await client.post(
        f"/cases/{case.ref}/appointments/new", data=good_form(token, date="2026-03-08", time="02:30")
    )
    assert skipped.status == 400
    assert "2026-03-08 02:30 does not exist in America/Chicago" in await skipped.text()
    assert await stored(sessions, service.id) == []
    forged = await client.post(f"/cases/{case.ref}/appointments/new", data=good_form("forged"), allow_redirects=False)
    assert forged.status == 403
    assert await stored(sessions, service.id) == []

    done = await client.post(f"/cases/{case.ref}/appointments/new", data=good_form(token), allow_redirects=False)
    assert done.status == 303 and done.headers["Location"] == f"/cases/{case.ref}?case_done=appointment_added"
    [made] = await stored(sessions, service.id)
    assert made.starts_at == datetime(2026, 3, 12, 14, 15, tzinfo=UTC) and made.time_zone == CHICAGO
    assert made.staff_id == officer.id and made.source == "staff" and made.duration_minutes == 30
    page = await (await client.get(done.headers["Location"])).text()
    assert "The appointment has been added." in page
    assert "Thu 12 Mar 2026 09:15 CDT" in page and 'data-testid="state">Scheduled<' in page
    [line] = await appointment_lines(sessions, case.case_id)
    assert line.summary == "Appointment added: drug test on Thu 12 Mar 2026 09:15 CDT"
    assert "Second test" not in line.summary + str(line.data)
    assert [r.action for r in await audit_rows(sessions, service.id, action="appointment.add")] == ["appointment.add"]


async def test_a_move_and_a_cancel_are_confirmed_first(
    aiohttp_client, settings, service, staff_factory, sessions, vault
) -> None:  # type: ignore[no-untyped-def]
    await set_service(sessions, service.id, timezone=CHICAGO)
    client = await app_client(aiohttp_client, settings, ManualClock(NOW))
    officer = await staff_factory(service.id)
    case = await make_case(sessions, vault, service.id, assigned=officer.id)
    appointment_id = await add_appointment(
        sessions,
        service.id,
        case.case_id,
        case.person_id,
        datetime(2026, 3, 12, 14, 15, tzinfo=UTC),
        staff_id=officer.id,
    )
    await sign_in(client, officer)
    edit = await (await client.get(f"/appointments/{appointment_id}/edit")).text()
    assert 'value="2026-03-12"' in edit and 'value="09:15"' in edit
    token = await csrf_from(client, f"/appointments/{appointment_id}/edit")
    form = good_form(
        token, kind="office_visit", date="2026-03-13", time="10:00", location="12 Main St", bring="", notes=""
    )
    form["duration_minutes"] = "60"
    ask = await client.post(f"/appointments/{appointment_id}/edit", data=form)
    assert ask.status == 200 and 'data-testid="move-confirm"' in (text := await ask.text())
    assert "from <strong>Thu 12 Mar 2026 09:15 CDT</strong> to <strong>Fri 13 Mar 2026 10:00 CDT</strong>" in text
    [still] = await stored(sessions, service.id)
    assert still.starts_at == datetime(2026, 3, 12, 14, 15, tzinfo=UTC)
    moved = await client.post(
        f"/appointments/{appointment_id}/edit", data=form | {"confirm": "move"}, allow_redirects=False
    )
    assert moved.headers["Location"] == f"/cases/{case.ref}?case_done=appointment_moved"
    [after] = await stored(sessions, service.id)
    assert after.starts_at == datetime(2026, 3, 13, 15, 0, tzinfo=UTC) and after.previous_starts_at == still.starts_at
    assert [line.data["change"] for line in await appointment_lines(sessions, case.case_id)] == ["moved"]

    confirm = await client.get(f"/appointments/{appointment_id}/cancel")
    assert 'data-testid="cancel-confirm"' in await confirm.text()
    assert (await stored(sessions, service.id))[0].status == "scheduled"
    cancelled = await client.post(
        f"/appointments/{appointment_id}/cancel", data={"csrf_token": token}, allow_redirects=False
    )
    assert cancelled.headers["Location"] == f"/cases/{case.ref}?case_done=appointment_cancelled"
    assert (await stored(sessions, service.id))[0].status == "cancelled"
    page = await (await client.get(f"/cases/{case.ref}")).text()
    assert 'data-testid="state">Cancelled<' in page and f"/appointments/{appointment_id}/cancel" not in page


async def test_my_appointments_today_and_the_week_with_marks(
    aiohttp_client, settings, service, staff_factory, sessions, vault
) -> None:  # type: ignore[no-untyped-def]
    await set_service(sessions, service.id, timezone=CHICAGO)
    clock = ManualClock(NOW)
    client = await app_client(aiohttp_client, settings, clock)
    officer = await staff_factory(service.id)
    colleague = await staff_factory(service.id, name="Cory Colleague")
    supervisor = await staff_factory(service.id, roles=("supervisor",), name="Sue Supervisor")
    case = await make_case(sessions, vault, service.id, assigned=officer.id, name="Pat Client")
    at = NOW.replace(hour=15, minute=30)  # 10:30 CDT today: started
    started = await add_appointment(sessions, service.id, case.case_id, case.person_id, at, staff_id=officer.id)
    later_today = await add_appointment(
        sessions,
        service.id,
        case.case_id,
        case.person_id,
        at + timedelta(hours=5),
        staff_id=officer.id,
        status="confirmed",
    )
    this_week = await add_appointment(
        sessions,
        service.id,
        case.case_id,
        case.person_id,
        at + timedelta(days=3),
        staff_id=officer.id,
        status="reschedule_requested",
    )
    await add_appointment(
        sessions, service.id, case.case_id, case.person_id, at + timedelta(days=10), staff_id=officer.id
    )
    theirs = await add_appointment(sessions, service.id, case.case_id, case.person_id, at, staff_id=colleague.id)
    other = await make_service(sessions, vault)
    other_case = await make_case(sessions, vault, other.id)
    foreign = await add_appointment(sessions, other.id, other_case.case_id, other_case.person_id, at)

    await sign_in(client, officer)
    page = await (await client.get("/appointments")).text()
    assert '<a href="/appointments" aria-current="page">My appointments</a>' in page
    today = page.split('data-testid="today"')[1].split("</table>")[0]
    week = page.split('data-testid="week"')[1].split("</table>")[0]
    assert str(started) in today and str(later_today) in today and str(this_week) in week
    assert str(theirs) not in page and page.count("data-appointment-id") == 3
    assert ">Confirmed<" in today and ">Reschedule requested<" in week
    row = today.split(f'data-appointment-id="{started}"')[1].split("</tr>")[0]
    assert 'value="attended"' in row and "10:30 CDT" in row
    assert 'value="attended"' not in today.split(f'data-appointment-id="{later_today}"')[1].split("</tr>")[0]

    token = await csrf_from(client, "/appointments")
    early = await client.post(f"/appointments/{later_today}/outcome", data={"csrf_token": token, "outcome": "missed"})
    assert early.status == 409
    marked = await client.post(
        f"/appointments/{started}/outcome",
        data={"csrf_token": token, "outcome": "attended", "next": "/appointments"},
        allow_redirects=False,
    )
    assert marked.headers["Location"] == "/appointments?appointment_done=appointment_attended"
    page = await (await client.get(marked.headers["Location"])).text()
    assert "Marked attended." in page and 'data-testid="state">Attended<' in page
    assert (
        await client.post(f"/appointments/{foreign}/outcome", data={"csrf_token": token, "outcome": "missed"})
    ).status == 404
    assert (await client.get(f"/appointments/{foreign}/edit")).status == 404
    assert (await client.get(f"/appointments?officer={colleague.id}")).status == 403

    boss = await app_client(aiohttp_client, settings, clock)
    await sign_in(boss, supervisor)
    theirs_page = await (await boss.get(f"/appointments?officer={colleague.id}")).text()
    assert "Appointments of Cory Colleague" in theirs_page and str(theirs) in theirs_page

    clock.advance(timedelta(days=3))  # Thursday: the reschedule request is today now
    page = await (await client.get("/appointments")).text()
    assert str(this_week) in page.split('data-testid="today"')[1].split("</table>")[0]


async def test_victims_appointments_are_hidden_or_audited(
    aiohttp_client, settings, service, staff_factory, sessions, vault
) -> None:  # type: ignore[no-untyped-def]
    await set_service(sessions, service.id, timezone=CHICAGO, kind="victim_services")
    client = await app_client(aiohttp_client, settings, ManualClock(NOW))
    officer = await staff_factory(service.id)
    advocate = await staff_factory(service.id, roles=("victim_advocate",), name="Ava Advocate")
    case = await make_case(sessions, vault, service.id, assigned=officer.id)
    victim = await add_participant(sessions, vault, case, service.id, "Vic Tim", "victim")
    hidden = await add_appointment(
        sessions, service.id, case.case_id, victim, NOW + timedelta(days=1), staff_id=officer.id
    )
    await sign_in(client, officer)
    page = await (await client.get("/appointments")).text()
    assert str(hidden) not in page and "No appointments" in page
    assert str(hidden) not in await (await client.get(f"/cases/{case.ref}")).text()
    assert (await client.get(f"/appointments/{hidden}/edit")).status == 404
    token = await csrf_from(client, "/appointments")
    assert (await client.post(f"/appointments/{hidden}/cancel", data={"csrf_token": token})).status == 404
    async with sessions() as db:
        row = await db.scalar(select(Appointment).where(Appointment.id == hidden))
        assert row is not None and row.status == "scheduled"

    advocate_client = await app_client(aiohttp_client, settings, ManualClock(NOW))
    await sign_in(advocate_client, advocate)
    async with sessions() as db:
        await db.execute(Appointment.__table__.update().where(Appointment.id == hidden).values(staff_id=advocate.id))  # type: ignore[attr-defined]
        await db.commit()
    page = await (await advocate_client.get("/appointments")).text()
    assert str(hidden) in page and "Vic Tim" in page
    views = await audit_rows(sessions, service.id, action="view.victim_appointment")
    assert [v.target for v in views] == [str(hidden)] and views[0].actor == f"staff:{advocate.id}"


async def test_an_admin_imports_appointments_with_a_full_refresh(
    aiohttp_client, settings, service, staff_factory, sessions, vault
) -> None:  # type: ignore[no-untyped-def]
    from tests.web.test_admin_import import count, form

    await set_service(sessions, service.id, timezone=CHICAGO)
    client = await app_client(aiohttp_client, settings, ManualClock(NOW))
    admin = await staff_factory(service.id, roles=("admin",))
    case = await make_case(sessions, vault, service.id, assigned=admin.id)
    await sign_in(client, admin)
    token = await csrf_from(client, "/admin/import")
    header = "external_id,case_reference,kind,starts_at,location\n"
    rows = "".join(f"I-{i},{case.ref},group_session,2026-03-{12 + i}T18:00,Library\n" for i in range(5))
    done = await client.post("/admin/import", data=form(token, (header + rows).encode(), kind="appointments"))
    page = await done.text()
    assert done.status == 200 and "The appointments were written." in page and count(page, "Created") == 5
    fewer = (header + "".join(rows.splitlines(keepends=True)[:4])).encode()
    again = await (await client.post("/admin/import", data=form(token, fewer, kind="appointments", full=True))).text()
    assert count(again, "Unchanged") == 4 and count(again, "Cancelled") == 1
    assert [a.status for a in await stored(sessions, service.id)] == ["scheduled"] * 4 + ["cancelled"]
    [audit] = [r for r in await audit_rows(sessions, service.id, action="directory.import")][-1:]
    assert audit.detail["kind"] == "appointments" and audit.detail["counts"]["cancelled"] == 1


async def test_the_composer_fills_in_the_next_appointment(
    aiohttp_client, settings, service, staff_factory, sessions, vault
) -> None:  # type: ignore[no-untyped-def]
    from tests.web.chat import add_conversation

    await set_service(sessions, service.id, timezone=CHICAGO)
    client = await app_client(aiohttp_client, settings, ManualClock(NOW - timedelta(days=2)))  # Saturday
    officer = await staff_factory(service.id)
    case = await make_case(sessions, vault, service.id, assigned=officer.id)
    await add_appointment(sessions, service.id, case.case_id, case.person_id, NOW.replace(hour=15, minute=30))
    conversation = await add_conversation(
        sessions, vault, service.id, case.phone, "hi", person_id=case.person_id, assigned_staff_id=officer.id,
        case_id=case.case_id,
    )  # fmt: skip
    await sign_in(client, officer)
    reminder = "5a5efae2-030e-4567-be82-818832040c57"
    page = await (await client.get(f"/conversations/{conversation.id}?template={reminder}")).text()
    for value in ("office_visit", "Monday 9 March", "10:30 am", "12 Main St"):
        assert f'value="{value}"' in page, value
    assert "reminder of your office visit: Monday 9 March, 10:30 am, at 12 Main St" in page
