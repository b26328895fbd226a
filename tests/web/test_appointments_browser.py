"""Appointments in a real browser (Chromium through Playwright), on SQLite, on a ManualClock: an officer
adds an appointment from the case page (a mistake first, shown beside its field), moves and cancels
another (each confirmed first), finds the first on "My appointments" with its state, and marks it
attended. Each page at desktop width and at 390 px, with
axe-core's WCAG rules; screenshots in test-artifacts/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.app import create_app
from gateway.clock import ManualClock
from gateway.crypto import Vault
from gateway.settings import Settings
from tests.appointments.records import add_appointment, stored
from tests.factories import make_service
from tests.web.cases import make_case, set_service
from tests.web.conftest import StaffFactory, Watch
from tests.web.test_browser import sign_in, url
from tests.web.test_officer_day_browser import check

# Monday 9 March 2026, 11:00 in Chicago
NOW = datetime(2026, 3, 9, 16, 0, tzinfo=UTC)


@pytest.fixture
async def clock_server(aiohttp_server: Any, browser_settings: Settings) -> TestServer:
    """The real app on a real port, on a clock that stands at NOW."""
    return await aiohttp_server(create_app(browser_settings, clock=ManualClock(NOW)))  # type: ignore[no-any-return]


@pytest.fixture
async def watch(page: Page, clock_server: TestServer) -> AsyncIterator[Watch]:
    watched = Watch(page)
    yield watched
    assert watched.errors == [], "console errors (CSP violations show up here)"


async def test_add_an_appointment_and_mark_it_attended(
    page: Page,
    watch: Watch,
    clock_server: TestServer,
    browser_staff: StaffFactory,
    sqlite_sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    service = await make_service(sqlite_sessions, vault)
    await set_service(sqlite_sessions, service.id, timezone="America/Chicago")
    officer = await browser_staff(service.id, name="Olive Officer")
    case = await make_case(sqlite_sessions, vault, service.id, assigned=officer.id, name="Pat Client")
    await sign_in(page, clock_server, officer)

    await page.goto(url(clock_server, f"/cases/{case.ref}"))
    await expect(page.get_by_text("No appointments on this case.")).to_be_visible()
    await page.get_by_test_id("add-appointment").click()
    await page.wait_for_url(f"**/cases/{case.ref}/appointments/new")
    await expect(page.get_by_text("On the America/Chicago clock")).to_be_visible()
    await check(page, "appointment_form")
    await page.get_by_label("Kind of appointment").select_option("office_visit")
    await page.get_by_label("Date").fill("2026-03-09")
    await page.get_by_label("Time", exact=True).fill("10:30")
    await page.get_by_label("Video").check()
    await page.get_by_label("Address or link").fill("http://meet.example/room")
    watch.allowed.append("status of 400")  # the form answers a mistake with a 400, as it should
    await page.get_by_role("button", name="Save appointment").click()
    await expect(page.locator("#location-error")).to_contain_text("must be an https:// link for a video appointment")
    await expect(page.get_by_role("alert")).to_contain_text("There is a problem")
    await check(page, "appointment_form_errors")
    assert await stored(sqlite_sessions, service.id) == []

    await page.get_by_label("In person").check()
    await page.get_by_label("Address or link").fill("Probation office, 12 Main St")
    await page.get_by_label("What to bring (optional, said in the reminders)").fill("Photo ID")
    await page.get_by_role("button", name="Save appointment").click()
    await page.wait_for_url(f"**/cases/{case.ref}?case_done=appointment_added")
    rows = page.get_by_test_id("appointments")
    await expect(rows).to_contain_text("Mon 09 Mar 2026 10:30 CDT")
    await expect(rows.get_by_test_id("state")).to_have_text("Scheduled")
    await check(page, "appointment_case_page")

    # another appointment, tomorrow: change its time (a move, confirmed first), then cancel it (confirmed)
    tomorrow = await add_appointment(
        sqlite_sessions, service.id, case.case_id, case.person_id, datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
    )
    await page.reload()
    await page.locator(f'[data-appointment-id="{tomorrow}"]').get_by_role("link", name="Change").click()
    await page.wait_for_url(f"**/appointments/{tomorrow}/edit")
    await check(page, "appointment_edit")
    await page.get_by_label("Time", exact=True).fill("13:15")
    await page.get_by_role("button", name="Save appointment").click()
    await expect(page.get_by_test_id("move-confirm")).to_contain_text("Tue 10 Mar 2026 13:15 CDT")
    await check(page, "appointment_move_confirm")
    await page.get_by_role("button", name="Yes, move it").click()
    await page.wait_for_url(f"**/cases/{case.ref}?case_done=appointment_moved")
    await expect(page.locator(f'[data-appointment-id="{tomorrow}"]')).to_contain_text("Tue 10 Mar 2026 13:15 CDT")
    await page.locator(f'[data-appointment-id="{tomorrow}"]').get_by_role("link", name="Cancel").click()
    await expect(page.get_by_test_id("cancel-confirm")).to_contain_text("Tue 10 Mar 2026 13:15 CDT")
    await check(page, "appointment_cancel_confirm")
    await page.get_by_role("button", name="Yes, cancel the appointment").click()
    await page.wait_for_url(f"**/cases/{case.ref}?case_done=appointment_cancelled")
    await expect(page.locator(f'[data-appointment-id="{tomorrow}"]').get_by_test_id("state")).to_have_text("Cancelled")

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="My appointments").click()
    await page.wait_for_url("**/appointments")
    today = page.get_by_test_id("today")
    await expect(today).to_contain_text("Pat Client")
    await expect(today).to_contain_text("10:30 CDT")
    await check(page, "my_appointments")
    await today.get_by_role("button", name="Attended").click()
    await page.wait_for_url("**/appointments?appointment_done=appointment_attended")
    await expect(page.get_by_role("status")).to_contain_text("Marked attended.")
    await expect(page.get_by_test_id("today").get_by_test_id("state")).to_have_text("Attended")
    await expect(page.get_by_test_id("today").get_by_role("button", name="Attended")).to_have_count(0)
    await check(page, "my_appointments_attended")
    made, moved = await stored(sqlite_sessions, service.id)
    assert made.status == "attended" and made.starts_at == datetime(2026, 3, 9, 15, 30, tzinfo=UTC)
    assert moved.status == "cancelled" and moved.starts_at == datetime(2026, 3, 10, 18, 15, tzinfo=UTC)
