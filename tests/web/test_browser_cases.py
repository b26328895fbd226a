"""The sandbox phone and the case page in a real browser (Debian's Chromium through Playwright), on SQLite.

Sign in, reply as Jordan on the sandbox phone, and see the reply reach the case record (through
the real inbound pipeline, run by the app's in-process queue); screenshots go to test-artifacts/.
"""

from __future__ import annotations

from aiohttp.test_utils import TestServer
from playwright.async_api import Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.db import InboundMessage
from tests.factories import make_service
from tests.web.cases import make_case
from tests.web.conftest import StaffFactory, screenshot_path
from tests.web.test_browser import sign_in


async def test_reply_as_jordan_on_the_sandbox_phone_reaches_the_case(
    page: Page,
    live_server: TestServer,
    browser_staff: StaffFactory,
    sqlite_sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    service = await make_service(sqlite_sessions, vault)
    officer = await browser_staff(service.id, name="Olive Officer")
    case = await make_case(sqlite_sessions, vault, service.id, assigned=officer.id)
    await sign_in(page, live_server, officer)

    await page.get_by_role("link", name="Sandbox phone").click()
    await page.get_by_label("Person").select_option(label="Jordan Rivera")
    await page.get_by_role("button", name="Open their phone").click()
    await expect(page.get_by_test_id("sandbox-banner")).to_contain_text("SANDBOX")
    await page.get_by_label("Reply as Jordan Rivera").fill("I will be there at 3pm")
    await page.get_by_role("button", name="Send reply").click()
    await expect(page.get_by_test_id("sandbox-thread")).to_contain_text("I will be there at 3pm")
    await page.screenshot(path=screenshot_path("sandbox_phone"), full_page=True)

    await page.get_by_role("link", name="Cases").click()
    await page.get_by_role("link", name=case.ref).click()
    record = page.get_by_test_id("record")
    for _ in range(50):  # the in-process queue runs the handler chain just after the reply is stored
        if await record.locator('tr[data-kind="inbound"]').count():
            break
        await page.wait_for_timeout(100)
        await page.reload()
    await expect(record.locator('tr[data-kind="inbound"]')).to_have_count(1)
    await expect(page.get_by_test_id("participants")).to_contain_text("Jordan Rivera")

    await page.get_by_label("Note", exact=True).fill("Confirmed the 3pm time by text")
    await page.get_by_role("button", name="Add note").click()
    await expect(page.get_by_role("status")).to_contain_text("Your note has been added")
    await expect(record.locator('tr[data-kind="note"]')).to_contain_text("Confirmed the 3pm time")
    await page.screenshot(path=screenshot_path("case_page"), full_page=True)

    async with sqlite_sessions() as db:
        message = await db.scalar(select(InboundMessage).where(InboundMessage.service_id == service.id))
        assert message is not None and message.state == "processed" and message.conversation_id is not None
