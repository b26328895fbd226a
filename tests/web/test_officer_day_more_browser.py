"""More of the officer's day in a real browser (Chromium through Playwright), on SQLite (issue 14).

Item 1: unread is each member of staff's own: a client's reply arrives from the sandbox phone, both
officers' inboxes count it live; one opens it and only their inbox shows it read. Item 5: a text the
carrier refuses (Twilio 21614) says why in the thread and offers the next steps; "Send it by email
instead" opens the composer in email mode. Item 8: linking an unknown sender to a person asks first,
naming them, and the conversation then shows the person. Each at desktop width and at 390 px, with
axe-core's WCAG rules on every page visited.
"""

from __future__ import annotations

import re

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, expect
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import keys
from gateway.crypto import Vault
from gateway.db import ContactPoint, Notification
from gateway.jobs.queue import LocalQueue
from tests.factories import make_service
from tests.web.cases import make_case, unique_phone
from tests.web.chat import add_conversation, add_person
from tests.web.conftest import StaffFactory, Watch, screenshot_path
from tests.web.test_browser import sign_in, url
from tests.web.test_directory_browser import accessible
from tests.web.test_officer_day import conversation_of

WIDTHS = [1280, 390]
UNREAD_ROW = re.compile(r"\binbox__row--unread\b")


async def check(page: Page, name: str, width: int) -> None:
    """axe-core on the page as it is now; at 390 px nothing makes the page scroll sideways."""
    await accessible(page, f"{name} at {width} px")
    if width == 390:
        scroll = await page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= 390, f"{name} is {scroll}px wide at 390 px"
    suffix = "" if width == 1280 else "_390px"
    await page.screenshot(path=screenshot_path(f"{name}{suffix}"), full_page=True)


async def settle(server: TestServer) -> None:
    """Wait for the live server's in-process queue (deliveries, inbound handlers) to finish."""
    queue = server.app[keys.QUEUE]
    assert isinstance(queue, LocalQueue)
    await queue.join()


@pytest.mark.parametrize("width", WIDTHS)
async def test_unread_is_each_member_of_staffs_own_in_two_browsers(
    page: Page,
    browser: Browser,
    watch: Watch,
    live_server: TestServer,
    browser_staff: StaffFactory,
    sqlite_sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    width: int,
) -> None:
    service = await make_service(sqlite_sessions, vault)
    officer = await browser_staff(service.id, name="Olive Officer")
    colleague = await browser_staff(service.id, name="Carl Colleague")
    case = await make_case(sqlite_sessions, vault, service.id, assigned=officer.id, conversation=True)
    conversation_id = await conversation_of(sqlite_sessions, case)
    viewport = {"width": width, "height": 844 if width == 390 else 800}
    await page.set_viewport_size(viewport)
    await sign_in(page, live_server, officer)
    other_context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    try:
        other = await other_context.new_page()
        await sign_in(other, live_server, colleague)
        for staff_page in (page, other):
            await staff_page.goto(url(live_server, "/inbox?tab=all"))
        mine = page.locator(f'tr[data-conversation-id="{conversation_id}"]')
        theirs = other.locator(f'tr[data-conversation-id="{conversation_id}"]')
        await expect(mine).not_to_have_class(UNREAD_ROW)
        await expect(theirs).not_to_have_class(UNREAD_ROW)

        # the client replies from the sandbox phone (a third browser): both inboxes count it, live
        phone_context = await browser.new_context()
        try:
            phone = await phone_context.new_page()
            await sign_in(phone, live_server, colleague)
            await phone.goto(url(live_server, f"/sandbox?person={case.person_id}"))
            await phone.get_by_label("Reply as Jordan Rivera").fill("Running late, be there at 10")
            await phone.get_by_role("button", name="Send reply").click()
            await expect(phone.get_by_test_id("sandbox-status")).to_be_focused()
        finally:
            await phone_context.close()
        for row in (mine, theirs):
            await expect(row).to_have_class(UNREAD_ROW, timeout=10000)
            await expect(row.get_by_test_id("unread")).to_have_text("1 unread")
        await check(page, "officer_day_unread_inbox", width)

        # Olive opens it: read for her, still unread for Carl
        await page.goto(url(live_server, f"/conversations/{conversation_id}"))
        await expect(page.locator("#thread li", has_text="Running late, be there at 10")).to_have_count(1)
        await check(page, "officer_day_unread_conversation", width)
        await page.goto(url(live_server, "/inbox?tab=all"))
        await expect(mine).not_to_have_class(UNREAD_ROW)
        await expect(mine.get_by_test_id("unread")).to_have_text("none")
        await other.reload()
        await expect(theirs).to_have_class(UNREAD_ROW)
        await expect(theirs.get_by_test_id("unread")).to_have_text("1 unread")
        await check(other, "officer_day_unread_colleague_inbox", width)
    finally:
        await other_context.close()


@pytest.mark.parametrize("width", WIDTHS)
async def test_a_failed_text_says_why_and_the_email_step_opens_the_composer(
    page: Page,
    watch: Watch,
    live_server: TestServer,
    browser_staff: StaffFactory,
    sqlite_sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    width: int,
) -> None:
    await page.set_viewport_size({"width": width, "height": 844 if width == 390 else 800})
    service = await make_service(sqlite_sessions, vault)
    officer = await browser_staff(service.id, name="Olive Officer")
    case = await make_case(sqlite_sessions, vault, service.id, assigned=officer.id, conversation=True)
    conversation_id = await conversation_of(sqlite_sessions, case)
    async with sqlite_sessions() as db:
        db.add(
            ContactPoint(
                service_id=service.id,
                person_id=case.person_id,
                kind="email",
                value_enc=vault.seal("jordan@example.org"),
                value_index=vault.blind_index("jordan@example.org"),
            )
        )
        await db.commit()
    await sign_in(page, live_server, officer)
    await page.goto(url(live_server, f"/conversations/{conversation_id}"))
    await page.get_by_label("Message", exact=True).fill("Call the office")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator("#thread .message--out", has_text="Call the office")).to_be_visible()
    await settle(live_server)
    async with sqlite_sessions() as db:  # the carrier said: not a mobile number
        await db.execute(
            update(Notification)
            .where(Notification.service_id == service.id)
            .values(status="permanent-failure", failure_reason="21614: To number: <recipient>, is not a mobile number")
        )
        await db.commit()

    await page.goto(url(live_server, f"/conversations/{conversation_id}"))
    failure = page.get_by_test_id("failure")
    await expect(failure).to_contain_text("This number can't receive texts (Twilio 21614).")
    steps = failure.get_by_role("list", name="What you can do")
    await expect(steps.get_by_role("link", name="Fix the number on Jordan Rivera’s page")).to_have_attribute(
        "href", f"/people/{case.person_id}"
    )
    await check(page, "officer_day_failure_reason", width)

    await steps.get_by_role("link", name="Send it by email instead").click()
    await page.wait_for_url(f"**/conversations/{conversation_id}?via=email*")
    await expect(page.get_by_test_id("via")).to_contain_text("Sending by email to")
    await expect(
        page.locator('#composer input[name="via"]').or_(page.locator('form[action$="/send"] input[name="via"]')).first
    ).to_have_value("email")
    await check(page, "officer_day_send_by_email", width)
    await page.get_by_label("Message", exact=True).fill("Please call the office")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator("#thread .message--out", has_text="Please call the office")).to_be_visible()


@pytest.mark.parametrize("width", WIDTHS)
async def test_linking_an_unknown_sender_asks_first_naming_the_person(
    page: Page,
    watch: Watch,
    live_server: TestServer,
    browser_staff: StaffFactory,
    sqlite_sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    width: int,
) -> None:
    await page.set_viewport_size({"width": width, "height": 844 if width == 390 else 800})
    service = await make_service(sqlite_sessions, vault)
    officer = await browser_staff(service.id, name="Olive Officer")
    await add_person(sqlite_sessions, vault, service.id, "Casey Client", case_ref="CR-1042", officer_id=officer.id)
    stranger = await add_conversation(sqlite_sessions, vault, service.id, unique_phone(), "It's Casey, new phone")
    await sign_in(page, live_server, officer)
    await page.goto(url(live_server, f"/conversations/{stranger.id}"))
    await expect(page.get_by_test_id("person-link")).to_have_count(0)
    await page.get_by_label("This sender is").select_option(label="Casey Client")
    await page.get_by_role("button", name="Link to this person").click()

    confirm = page.get_by_test_id("link-confirm")
    await expect(confirm).to_contain_text("You are linking this sender to Casey Client on case CR-1042.")
    await check(page, "officer_day_link_confirm", width)
    await page.get_by_role("button", name="Yes, this sender is Casey Client").click()
    await page.wait_for_url(f"**/conversations/{stranger.id}*")
    await expect(page.get_by_test_id("person-link")).to_have_text("Casey Client’s page")
    await expect(page.get_by_label("This sender is")).to_have_count(0)
    await expect(page.locator("#thread li", has_text="It's Casey, new phone")).to_have_count(1)
    await check(page, "officer_day_linked", width)
