"""People and caseloads in a real browser (Debian's Chromium through Playwright), on SQLite.

An officer adds a client, texts them from their conversation, the client replies from the sandbox
phone (the real inbound pipeline, run by the app's in-process queue), and the officer finds the
reply as an unread count on the caseload page, on a 390 px wide screen too. A supervisor then
merges a duplicate record into the client and reassigns the officer's whole caseload, confirming
each. Every page passes axe-core's accessibility rules; screenshots go to test-artifacts/.
"""

from __future__ import annotations

import uuid

from aiohttp.test_utils import TestServer
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.db import Case, Person, RecordEntry
from tests.factories import make_service
from tests.web.cases import make_case
from tests.web.conftest import StaffFactory, Watch, screenshot_path
from tests.web.test_browser import sign_in, url

PHONE_TYPED = "(202) 555-0161"
PHONE = "+12025550161"
PHONE_WIDTH = 390
# what sticks out past the right edge, to say which element to fix
WIDE_ELEMENTS = """width => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > width).slice(0, 10)
  .map(e => `${e.tagName.toLowerCase()}.${e.className} ${Math.round(e.getBoundingClientRect().right)}px`)"""


async def accessible(page: Page, name: str) -> None:
    """No axe-core violations on the page as it is now (WCAG A and AA rules)."""
    results = await Axe().run(page, options={"runOnly": ["wcag2a", "wcag2aa", "wcag21aa", "best-practice"]})
    assert results.violations_count == 0, f"{name}: {results.generate_report()}"


async def fits_a_phone(page: Page, name: str) -> None:
    """At 390 px wide nothing makes the page itself scroll sideways (wide tables scroll in their own box)."""
    await page.set_viewport_size({"width": PHONE_WIDTH, "height": 844})
    width = await page.evaluate("document.documentElement.scrollWidth")
    wide = await page.evaluate(WIDE_ELEMENTS, PHONE_WIDTH) if width > PHONE_WIDTH else []
    assert width <= PHONE_WIDTH, f"{name} is {width}px wide at {PHONE_WIDTH}px: {wide}"
    await page.screenshot(path=screenshot_path(f"{name}_390px"), full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 800})


async def test_add_a_client_text_them_and_find_their_reply_on_the_caseload(
    page: Page,
    watch: Watch,
    live_server: TestServer,
    browser_staff: StaffFactory,
    sqlite_sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    service = await make_service(sqlite_sessions, vault)
    officer = await browser_staff(service.id, name="Olive Officer")
    await sign_in(page, live_server, officer)
    reference = f"CR-{uuid.uuid4().hex[:6].upper()}"

    # add a client from the navigation
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Add client").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Add a client")
    await accessible(page, "add client")
    await page.get_by_label("First name").fill("Casey")
    await page.get_by_label("Last name").fill("Client")
    await page.get_by_label("Mobile number").fill(PHONE_TYPED)
    await page.get_by_label("Language").select_option(label="Spanish")
    await page.get_by_label("Case reference").fill(reference)
    await expect(page.get_by_label("Assign the case to me")).to_be_checked()
    await page.get_by_role("button", name="Add client").click()
    await expect(page.get_by_role("status")).to_contain_text("The client has been added.")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Casey Client")
    await expect(page.get_by_test_id("contacts")).to_contain_text(PHONE)
    await accessible(page, "person page")
    await page.screenshot(path=screenshot_path("person_page"), full_page=True)
    await fits_a_phone(page, "person_page")

    # adding them again offers the existing person instead
    watch.allowed.append("409")
    await page.goto(url(live_server, "/people/new"))
    await page.get_by_label("First name").fill("Casey")
    await page.get_by_label("Last name").fill("Client")
    await page.get_by_label("Mobile number").fill(PHONE)
    await page.get_by_label("Case reference").fill(reference + "-2")
    await page.get_by_role("button", name="Add client").click()
    duplicate = page.get_by_test_id("duplicate")
    await expect(duplicate).to_contain_text("This number or address belongs to Casey Client")
    await accessible(page, "add client, duplicate offered")
    await duplicate.get_by_role("link", name="Casey Client").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Casey Client")

    # start a conversation and text them
    await page.get_by_role("button", name="Start a conversation").click()
    await page.wait_for_url("**/conversations/*")
    await page.get_by_label("Message", exact=True).fill("Hola Casey, your appointment is Monday at 10.")
    await page.get_by_role("button", name="Send").click()
    await expect(page.locator("#thread .message--out", has_text="appointment is Monday")).to_be_visible()

    # they reply from the sandbox phone
    await page.get_by_role("link", name="Sandbox phone").click()
    await page.get_by_label("Person").select_option(label="Casey Client")
    await page.get_by_role("button", name="Open their phone").click()
    await expect(page.get_by_test_id("sandbox-thread")).to_contain_text("appointment is Monday")
    await page.get_by_label("Reply as Casey Client").fill("Gracias, allí estaré")
    await page.get_by_role("button", name="Send reply").click()
    await expect(page.get_by_test_id("sandbox-thread")).to_contain_text("Gracias, allí estaré")

    # the caseload shows the reply as unread (the in-process queue files it just after it is stored)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="My caseload").click()
    row = page.get_by_test_id("caseload").locator("tr", has_text="Casey Client")
    for _ in range(50):
        if (await row.get_by_test_id("unread").inner_text()).strip().startswith("1"):
            break
        await page.wait_for_timeout(100)
        await page.reload()
    await expect(row.get_by_test_id("unread")).to_contain_text("1 unread")
    await expect(row).to_contain_text(reference)
    await accessible(page, "caseload")
    await page.screenshot(path=screenshot_path("caseload_unread"), full_page=True)
    await fits_a_phone(page, "caseload")

    # searching by the number in another format finds them; the reply is in their conversation
    await page.get_by_label("Name, case reference or phone number").fill("202-555-0161")
    await page.get_by_role("button", name="Search").click()
    await expect(page.get_by_test_id("caseload").locator("tbody tr")).to_have_count(1)
    await row.get_by_role("button", name="Open conversation with Casey Client").click()
    await expect(page.locator("#thread .message--in", has_text="Gracias, allí estaré")).to_be_visible()
    assert watch.dialogs == []


async def test_supervisor_merges_a_duplicate_and_reassigns_a_leaving_officers_caseload(
    page: Page,
    browser: Browser,
    watch: Watch,
    live_server: TestServer,
    browser_staff: StaffFactory,
    sqlite_sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    service = await make_service(sqlite_sessions, vault)
    boss = await browser_staff(service.id, roles=("supervisor",), name="Sue Supervisor")
    officer = await browser_staff(service.id, name="Olive Officer")
    await browser_staff(service.id, name="Carl Colleague")
    keep = await make_case(sqlite_sessions, vault, service.id, name="Jordan Rivera", assigned=officer.id)
    dup = await make_case(sqlite_sessions, vault, service.id, name="Jordan Rivera", assigned=officer.id)
    other = await make_case(sqlite_sessions, vault, service.id, name="Morgan Lee", assigned=officer.id)
    await sign_in(page, live_server, boss)

    # merge: from the survivor's page, pick the duplicate, confirm naming both
    await page.goto(url(live_server, f"/people/{keep.person_id}"))
    await page.get_by_role("link", name="Merge a duplicate into Jordan Rivera").click()
    await accessible(page, "merge, pick")
    await page.locator(f'input[value="{dup.person_id}"]').check()
    await page.get_by_role("button", name="Continue").click()
    await expect(page.get_by_test_id("confirm")).to_contain_text("Merge Jordan Rivera into Jordan Rivera?")
    await accessible(page, "merge, confirm")
    await page.screenshot(path=screenshot_path("merge_confirm"), full_page=True)
    await page.get_by_role("button", name="Yes, merge Jordan Rivera into Jordan Rivera").click()
    await expect(page.get_by_role("status")).to_contain_text("The duplicate has been merged")
    await expect(page.get_by_test_id("person-cases")).to_contain_text(dup.ref)
    await expect(page.get_by_test_id("contacts")).to_contain_text(dup.phone)

    # reassign: the officer's caseload, all of it, to a colleague, with a reason
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="My caseload").click()
    await page.get_by_label("Caseload of").select_option(label="Olive Officer")
    await page.get_by_role("button", name="Show").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Caseload of Olive Officer")
    await expect(page.get_by_test_id("caseload").locator("tbody tr")).to_have_count(3)
    await page.get_by_role("link", name="Reassign all of Olive Officer’s open cases").click()
    await accessible(page, "reassign")
    await page.get_by_label("Reassign to").select_option(label="Carl Colleague")
    await page.get_by_label("Reason").fill("Olive is leaving the office")
    await page.get_by_role("button", name="Continue").click()
    confirm = page.get_by_test_id("confirm")
    await expect(confirm).to_contain_text("from Olive Officer to Carl Colleague")
    await expect(confirm).to_contain_text("Olive is leaving the office")
    await fits_a_phone(page, "reassign_confirm")
    await page.get_by_role("button", name="Yes, reassign to Carl Colleague").click()
    await expect(page.get_by_role("status")).to_contain_text("The cases have been reassigned")
    await expect(page.get_by_test_id("caseload-empty")).to_contain_text("Olive Officer has no open cases")
    await page.screenshot(path=screenshot_path("caseload_reassigned"), full_page=True)

    async with sqlite_sessions() as db:
        for case in (keep, dup, other):
            assigned = await db.scalar(select(Case.assigned_staff_id).where(Case.id == case.case_id))
            assert assigned != officer.id
            kinds = (await db.scalars(select(RecordEntry.kind).where(RecordEntry.case_id == case.case_id))).all()
            assert "assignment" in kinds
        gone = await db.get(Person, dup.person_id)
        assert gone is not None and gone.merged_into_id == keep.person_id

    # the officer of another service gets 404 for the survivor's page
    stranger = await browser_staff((await make_service(sqlite_sessions, vault)).id, name="Sid Stranger")
    context = await browser.new_context()
    try:
        elsewhere = await context.new_page()
        await sign_in(elsewhere, live_server, stranger)
        response = await elsewhere.goto(url(live_server, f"/people/{keep.person_id}"))
        assert response is not None and response.status == 404
    finally:
        await context.close()
