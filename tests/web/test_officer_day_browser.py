"""The officer's day in a real browser (Chromium through Playwright), on SQLite (issue 14).

A long thread opens at its newest messages, "Load earlier messages" puts older ones on top, and the
"Write a reply" link reaches the composer; the person texts "Stop." from the sandbox phone (the
real inbound path) and the open page shows the message, the plain line and the composer switched
off, live, then START switches it back; a scheduled message shows its send time and is cancelled
from the "Scheduled" page; a transfer asks for a reason and confirms, naming who. Each page at
desktop width and at 390 px, with axe-core's WCAG rules; screenshots in test-artifacts/.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from tests.factories import make_service
from tests.web.cases import make_case
from tests.web.conftest import StaffFactory, Watch, screenshot_path
from tests.web.test_browser import sign_in, url
from tests.web.test_directory_browser import accessible, fits_a_phone
from tests.web.test_officer_day import add_messages, conversation_of


async def check(page: Page, name: str) -> None:
    """axe-core at desktop width and at 390 px, nothing wider than the phone; screenshots of both."""
    await accessible(page, name)
    await page.screenshot(path=screenshot_path(name), full_page=True)
    await fits_a_phone(page, name)
    await page.set_viewport_size({"width": 390, "height": 844})
    await accessible(page, f"{name} at 390 px")
    await page.set_viewport_size({"width": 1280, "height": 800})


async def test_an_officers_day_long_thread_keywords_live_scheduled_and_transfer(
    page: Page,
    browser: Browser,
    watch: Watch,
    live_server: TestServer,
    browser_staff: StaffFactory,
    sqlite_sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    service = await make_service(sqlite_sessions, vault)
    officer = await browser_staff(service.id, name="Olive Officer")
    colleague = await browser_staff(service.id, name="Carl Colleague")
    case = await make_case(sqlite_sessions, vault, service.id, assigned=officer.id, conversation=True)
    conversation_id = await conversation_of(sqlite_sessions, case)
    await add_messages(sqlite_sessions, vault, service.id, case, conversation_id, 40)

    await sign_in(page, live_server, officer)
    await page.screenshot(path=screenshot_path("officer_day_inbox"), full_page=True)
    await check(page, "officer_day_inbox")
    await page.goto(url(live_server, f"/conversations/{conversation_id}"))
    await expect(page.locator("body[data-live=open]")).to_have_count(1, timeout=5000)

    # the newest message is in view in the thread box; older ones load on demand, on top
    at_bottom = "(b => b.scrollHeight > b.clientHeight && b.scrollHeight - b.scrollTop - b.clientHeight < 2)"
    assert await page.locator("#thread-box").evaluate(at_bottom), "the thread box opens at the newest message"
    await page.locator("#thread-box").scroll_into_view_if_needed()
    await expect(page.locator("#thread li", has_text="Message number 39")).to_be_in_viewport()
    await expect(page.locator("#thread li", has_text="Message number 9")).to_have_count(0)
    await page.get_by_test_id("load-earlier").click()
    await expect(page.locator("#thread li", has_text="Message number 9")).to_have_count(1)
    assert await page.evaluate("document.querySelector('#thread li').textContent.includes('Message number 0')")
    await page.get_by_test_id("skip-to-reply").click()
    await expect(page.get_by_label("Message", exact=True)).to_be_in_viewport()
    await check(page, "officer_day_conversation")

    # the person texts "Stop." from the sandbox phone (a colleague's browser): live on the open page
    await page.evaluate("window.__notReloaded = true")
    phone_context = await browser.new_context()
    try:
        phone = await phone_context.new_page()
        await sign_in(phone, live_server, colleague)

        async def text_in(body: str) -> None:
            await phone.goto(url(live_server, f"/sandbox?person={case.person_id}"))
            await phone.get_by_label("Reply as Jordan Rivera").fill(body)
            await phone.get_by_role("button", name="Send reply").click()
            await phone.wait_for_load_state()

        await text_in("Stop.")
        line = page.get_by_test_id("keyword-line").filter(has_text="Jordan Rivera opted out of texts (STOP)")
        await expect(line).to_be_visible(timeout=3000)
        await expect(page.get_by_test_id("composer-off")).to_be_visible()
        await expect(page.get_by_test_id("composer-on")).to_be_hidden()
        await expect(page.get_by_test_id("opt-out")).to_contain_text("Opted out")
        await page.screenshot(path=screenshot_path("officer_day_opted_out_live"), full_page=True)
        await text_in("START")
        await expect(page.get_by_test_id("composer-on")).to_be_visible(timeout=3000)
        await expect(page.get_by_test_id("opt-out")).to_contain_text("Can receive messages")
        assert await page.evaluate("window.__notReloaded === true")
    finally:
        await phone_context.close()

    # a scheduled message: its send time in the thread, then the Scheduled page, where it is cancelled
    day = (datetime.now(UTC) + timedelta(days=2)).date()
    await page.get_by_label("Message", exact=True).fill("Your appointment is on Thursday")
    await page.get_by_label("Send later").fill(f"{day:%Y-%m-%d}T09:30")
    await page.get_by_role("button", name="Send", exact=True).click()
    await page.wait_for_load_state()
    await expect(page.locator("#thread .status--scheduled")).to_contain_text(f"Scheduled for {day:%d %b %Y} 09:30")
    await expect(page.get_by_test_id("conversation-scheduled")).to_contain_text("Your appointment is on Thursday")
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Scheduled").click()
    await expect(page.get_by_test_id("scheduled-list")).to_contain_text("Your appointment is on Thursday")
    await check(page, "officer_day_scheduled")
    await page.get_by_role("button", name="Cancel this message").click()
    await expect(page.get_by_role("status")).to_contain_text("The scheduled message has been cancelled.")
    await expect(page.get_by_test_id("scheduled-empty")).to_be_visible()

    # transfer: a reason, then a confirmation naming the case, from whom and to whom
    await page.goto(url(live_server, f"/cases/{case.ref}"))
    await page.get_by_label("Transfer the case and its conversations to").select_option(label="Carl Colleague")
    await page.get_by_label("Reason").fill("Olive is moving to the north office")
    await page.get_by_role("button", name="Transfer…").click()
    confirm = page.get_by_test_id("transfer-confirm")
    await expect(confirm).to_contain_text(f"{case.ref}")
    await expect(confirm).to_contain_text("from Olive Officer to Carl Colleague")
    await check(page, "officer_day_transfer_confirm")
    await page.get_by_role("button", name="Yes, transfer to Carl Colleague").click()
    await expect(page.get_by_role("status")).to_contain_text("The case has been transferred.")
    await expect(page.locator("body")).to_contain_text("Olive is moving to the north office")
    assert watch.dialogs == []
