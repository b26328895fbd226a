"""A broadcast in a real browser (Debian's Chromium through Playwright), on SQLite: an officer composes a
message to their caseload, previews it, sends it and watches the progress move on the page without
reloading it, until it has finished. Every page passes axe-core's rules, at desktop width and 390 px
wide; screenshots go to test-artifacts/."""

from __future__ import annotations

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
from tests.broadcasts.directory import add_client
from tests.factories import make_service
from tests.web.cases import set_service
from tests.web.conftest import StaffFactory, Watch, screenshot_path
from tests.web.test_browser import sign_in
from tests.web.test_directory_browser import accessible, fits_a_phone

PEOPLE = 24


@pytest.fixture
async def live_server(aiohttp_server: Any, browser_settings: Settings) -> TestServer:
    """The real app on a real port, its clock a weekday morning (quiet hours never hold its texts)."""
    clock = ManualClock(datetime(2030, 3, 4, 15, 30, tzinfo=UTC))
    return await aiohttp_server(create_app(browser_settings, clock=clock))  # type: ignore[no-any-return]


async def test_compose_preview_send_and_watch_progress(
    page: Page,
    watch: Watch,
    live_server: TestServer,
    browser_staff: StaffFactory,
    sqlite_sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    service = await make_service(sqlite_sessions, vault)
    await set_service(sqlite_sessions, service.id, sms_per_second=4)  # ~6 s: slow enough to watch
    officer = await browser_staff(service.id, name="Olive Officer")
    for i in range(PEOPLE):
        await add_client(sqlite_sessions, vault, service.id, f"Client {i:02d} Person", assigned=officer.id)
    await add_client(sqlite_sessions, vault, service.id, "Nobody Reachable", phone=False, assigned=officer.id)
    await sign_in(page, live_server, officer)

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Broadcasts").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Broadcasts")
    await accessible(page, "broadcasts list")
    await page.get_by_role("link", name="New broadcast").click()
    await page.get_by_label("Name (only staff see it)").fill("Office closed: snow")
    await page.get_by_label("My caseload").check()
    await page.get_by_label("Free text").check()
    message = page.get_by_label("Message.", exact=False)
    await message.fill("Hi ((first_name)), the office is closed today because of snow.")
    await accessible(page, "new broadcast")
    await fits_a_phone(page, "broadcast_new")
    await page.get_by_role("button", name="Preview").click()

    await expect(page.get_by_test_id("preview-total")).to_have_text(str(PEOPLE))
    await expect(page.get_by_test_id("preview-left-out")).to_have_text("1")
    await expect(page.get_by_test_id("left-out")).to_contain_text("no usable phone number or email address")
    await expect(page.get_by_test_id("samples")).to_contain_text("Hi Client, the office is closed today")
    await accessible(page, "broadcast preview")
    await page.screenshot(path=screenshot_path("broadcast_preview"), full_page=True)
    await fits_a_phone(page, "broadcast_preview")
    await page.get_by_role("button", name=f"Send to {PEOPLE} people").click()

    progress = page.get_by_test_id("broadcast-progress")
    await expect(progress).to_be_visible()
    delivered = progress.locator('[data-count="delivered"]')
    await expect(delivered).not_to_have_text("0", timeout=5000)  # moved without a reload
    first_seen = int(await delivered.inner_text())
    assert first_seen < PEOPLE, "it finished before the page could show it moving"
    await accessible(page, "broadcast sending")
    await fits_a_phone(page, "broadcast_sending")
    await expect(page.get_by_test_id("broadcast-status")).to_have_text("finished", timeout=20000)
    await expect(progress.locator('[data-count="delivered"]')).to_have_text(str(PEOPLE))
    await expect(page.get_by_role("link", name="Download the report (CSV, one line per recipient)")).to_be_visible()
    await accessible(page, "broadcast finished")
    await page.screenshot(path=screenshot_path("broadcast_finished"), full_page=True)
