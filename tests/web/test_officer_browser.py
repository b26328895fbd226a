"""The officer's day in a real browser (Debian's Chromium through Playwright), on SQLite, at desktop and 390 px.

Items of issue 14: the template composer in plain words (4), the case record in plain words (7),
alerts and out of office (9) and the small things (10: inbox preview and holder, case-insensitive
reference search, empty states per tab, focus and status after sending, sandbox POST-redirect-GET
and contrast, 390 px pages and a compact header). Every staff page (the scheduled list, letters, the
sandbox mailroom, the email composer and the link confirmation included) passes axe-core at desktop
and at 390 px and fits 390 px; screenshots go to test-artifacts/.
"""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestServer
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.db import ContactPoint, InboundMessage
from tests.factories import make_service
from tests.web.cases import unique_phone
from tests.web.chat import add_conversation
from tests.web.conftest import StaffFactory, Watch, screenshot_path
from tests.web.officer_data import client_with_reply
from tests.web.test_browser import sign_in, url
from tests.web.test_directory_browser import accessible, fits_a_phone


@pytest.mark.parametrize("width", [1280, 390])
async def test_template_composer_in_plain_words(
    page: Page,
    watch: Watch,
    live_server: TestServer,
    browser_staff: StaffFactory,
    sqlite_sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    width: int,
) -> None:
    await page.set_viewport_size({"width": width, "height": 900})
    service = await make_service(sqlite_sessions, vault)
    officer = await browser_staff(service.id, name="Olive Officer")
    client = await client_with_reply(sqlite_sessions, vault, service.id, officer.id, language="es")
    await sign_in(page, live_server, officer)
    await page.goto(url(live_server, f"/conversations/{client.conversation_id}"))

    picker = page.get_by_label("Write with")
    groups = await picker.locator("optgroup").evaluate_all("gs => gs.map(g => g.label)")
    assert groups[0] == "Spanish (their language)"
    await picker.select_option(label="Please call your officer (English)")
    await page.get_by_role("button", name="Use").click()
    await expect(page.get_by_test_id("template-language")).to_have_text("English")
    await expect(page.get_by_test_id("language-note")).to_contain_text("Jordan Rivera’s language is Spanish")
    await page.get_by_role("link", name="Use “Llame a su oficial” (Spanish) instead").click()
    await expect(page.get_by_test_id("template-name")).to_have_text("Llame a su oficial")

    await expect(page.get_by_label("First name")).to_have_value("Jordan")
    await expect(page.get_by_label("Your name")).to_have_value("Olive Officer")
    await expect(page.get_by_label("Office phone")).to_have_value("(202) 555-0142")
    preview = page.get_by_test_id("preview")
    await expect(preview).to_contain_text("Hola Jordan, soy Olive Officer. Por favor llámeme al (202) 555-0142")
    assert "{{" not in await page.content()

    await page.get_by_label("First name").fill("Jordi")
    await expect(preview.locator("[data-preview-body]")).to_contain_text("Hola Jordi, soy Olive Officer")
    await page.get_by_label("Your name").fill("Olive " * 40)
    await expect(preview).to_contain_text("This will be sent as 6 text messages")  # Spanish accents: UCS-2
    await page.get_by_label("Your name").fill("O" * 900)
    await expect(preview).to_contain_text("Too long to send: text messages can be at most 918 characters")
    await page.get_by_label("Your name").fill("Olive Officer")
    await expect(preview.locator("[data-preview-length]")).to_have_text("120 characters (UCS-2), 2 text messages")
    await expect(preview.locator("[data-preview-warnings]")).to_have_text(
        "This will be sent as 2 text messages (and billed as 2)."
    )
    await accessible(page, "conversation with a template preview")
    suffix = "" if width == 1280 else "_390px"
    await page.screenshot(path=screenshot_path(f"conversation_template_preview{suffix}"), full_page=True)
    if width == 390:
        await fits_a_phone(page, "conversation_template_preview")

    await page.get_by_role("button", name="Send").click()
    await expect(page.locator("#thread .message--out", has_text="Hola Jordi")).to_be_visible()

    await page.get_by_label("Message", exact=True).fill("x" * 920)
    await expect(page.get_by_test_id("free-text-warnings")).to_contain_text("at most 918 characters")


@pytest.mark.parametrize("width", [1280, 390])
async def test_inbox_case_record_alerts_and_sandbox_small_things(
    page: Page,
    watch: Watch,
    live_server: TestServer,
    browser_staff: StaffFactory,
    sqlite_sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    width: int,
) -> None:
    await page.set_viewport_size({"width": width, "height": 900})
    service = await make_service(sqlite_sessions, vault)
    officer = await browser_staff(service.id, name="Dana Demo", roles=("officer", "supervisor", "admin"))
    colleague = await browser_staff(service.id, name="Casey Colleague")
    client = await client_with_reply(sqlite_sessions, vault, service.id, colleague.id)
    await sign_in(page, live_server, officer)
    suffix = "" if width == 1280 else "_390px"

    # item 10: inbox preview, who holds it, case-insensitive reference search, an empty state per tab
    row = page.locator(f'tr[data-conversation-id="{client.conversation_id}"]')
    await expect(row.get_by_test_id("preview")).to_have_text("Can I come on Thursday instead?")
    await expect(row.get_by_test_id("claimed-by")).to_have_text("Casey Colleague")
    await page.get_by_label("Search by name, phone number or case reference").fill(client.ref.lower())
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator(f'tr[data-conversation-id="{client.conversation_id}"]')).to_be_visible()
    empties = {}
    for tab in ("mine", "unclaimed"):
        await page.goto(url(live_server, f"/inbox?tab={tab}"))
        empties[tab] = await page.get_by_test_id("inbox-empty").inner_text()
        await accessible(page, f"inbox {tab}")
    assert empties["mine"] != empties["unclaimed"] and "assigned to you" in empties["mine"]
    await page.goto(url(live_server, "/inbox"))
    await page.screenshot(path=screenshot_path(f"officer_inbox{suffix}"), full_page=True)

    # item 10: after sending, a status message takes the focus
    await page.goto(url(live_server, f"/conversations/{client.conversation_id}"))
    await page.get_by_label("Message", exact=True).fill("Thursday at 10 is fine.")
    await page.get_by_role("button", name="Send").click()
    status = page.get_by_test_id("composer-status")
    await expect(status).to_have_text("Your message has been sent.")
    await expect(status).to_be_focused()

    # item 7: the case record in plain words
    await page.goto(url(live_server, f"/cases/{client.ref}"))
    record = page.get_by_test_id("record")
    await expect(record).to_contain_text("Dana Demo sent a text to Jordan Rivera")
    assert "staff:" not in await record.inner_text()
    await accessible(page, "case page")
    await page.screenshot(path=screenshot_path(f"case_record{suffix}"), full_page=True)
    if width == 390:
        await fits_a_phone(page, "case_record")
        await page.set_viewport_size({"width": 390, "height": 900})  # fits_a_phone leaves the page at 1280 px
        header = await page.locator("header.site-header").bounding_box()
        assert header is not None and header["height"] <= 120, header

    # item 9: alerts and out of office
    await page.goto(url(live_server, "/account/alerts"))
    await page.get_by_label("Email me when a client writes to me").check()
    await page.get_by_label("Daily digest of replies I have not answered").select_option(
        label="Replies waiting more than 24 hours"
    )
    await page.get_by_label("First day away").fill("2030-03-09")
    await page.get_by_label("Last day away").fill("2030-03-10")
    await page.get_by_label("Auto-reply to clients").fill("Away until Monday; Casey is covering.")
    await page.get_by_label("Colleague covering for you").select_option(label="Casey Colleague")
    await page.get_by_role("button", name="Save alerts").click()
    await expect(page.get_by_role("status")).to_have_text("Your alerts have been saved.")
    await expect(page.get_by_role("status")).to_be_focused()
    await expect(page.get_by_label("Colleague covering for you")).to_have_value(str(colleague.id))
    await accessible(page, "alerts page")

    # item 10: the sandbox reply does not post again on refresh, and its labels pass contrast
    await page.goto(url(live_server, f"/sandbox?person={client.person_id}"))
    await page.get_by_label("Reply as Jordan Rivera").fill("See you then")
    await page.get_by_role("button", name="Send reply").click()
    await expect(page.get_by_test_id("sandbox-status")).to_be_focused()
    assert "/sandbox?person=" in page.url
    await page.reload()
    await expect(page.get_by_test_id("sandbox-thread")).to_contain_text("See you then")
    await accessible(page, "sandbox phone")
    async with sqlite_sessions() as db:
        replies = (await db.scalars(select(InboundMessage.id).where(InboundMessage.service_id == service.id))).all()
    assert len(replies) == 2, "the reply was stored once (plus the reply made by the test data)"


STAFF_PAGES = (
    "/inbox", "/inbox?tab=mine", "/inbox?tab=unclaimed", "/conversations/{conversation}",
    "/conversations/{conversation}?template=fcd525e5-9984-4780-8369-e879b7abc356", "/cases", "/cases/{ref}",
    "/caseload", "/people/new", "/people/{person}", "/people/{person}/merge", "/account", "/account/alerts",
    "/templates", "/templates/5a5efae2-030e-4567-be82-818832040c57", "/sandbox", "/sandbox?person={person}",
    "/admin/staff", "/admin/keys", "/admin/audit", "/admin/import", "/admin/reminders",
    "/broadcasts", "/broadcasts/new",
    "/scheduled", "/letters", "/sandbox/mailroom", "/conversations/{conversation}?via=email",
    "/appointments", "/cases/{ref}/appointments/new",
)  # fmt: skip


async def test_every_staff_page_passes_axe_and_fits_a_phone(
    page: Page,
    watch: Watch,
    live_server: TestServer,
    browser_staff: StaffFactory,
    sqlite_sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    service = await make_service(sqlite_sessions, vault)
    officer = await browser_staff(service.id, name="Dana Demo", roles=("officer", "supervisor", "admin"))
    client = await client_with_reply(sqlite_sessions, vault, service.id, officer.id)
    async with sqlite_sessions() as db:  # an email address, so that ?via=email shows the email composer
        db.add(
            ContactPoint(
                service_id=service.id,
                person_id=client.person_id,
                kind="email",
                value_enc=vault.seal("jordan@example.org"),
                value_index=vault.blind_index("jordan@example.org"),
            )
        )
        await db.commit()
    await sign_in(page, live_server, officer)
    problems = []
    for path in STAFF_PAGES:
        target = path.format(conversation=client.conversation_id, ref=client.ref, person=client.person_id)
        await page.set_viewport_size({"width": 1280, "height": 800})
        response = await page.goto(url(live_server, target))
        assert response is not None and response.status == 200, (target, response and response.status)
        results = await Axe().run(page, options={"runOnly": ["wcag2a", "wcag2aa", "wcag21aa", "best-practice"]})
        if results.violations_count:
            problems.append(f"{target}: {results.generate_report()}")
        await page.set_viewport_size({"width": 390, "height": 844})
        results = await Axe().run(page, options={"runOnly": ["wcag2a", "wcag2aa", "wcag21aa", "best-practice"]})
        if results.violations_count:
            problems.append(f"{target} at 390px: {results.generate_report()}")
        width = await page.evaluate("document.documentElement.scrollWidth")
        if width > 390:
            problems.append(f"{target}: {width}px wide at 390px")

    # the link confirmation answers a form (POST): an unknown sender's conversation, "Link to this person"
    stranger = await add_conversation(sqlite_sessions, vault, service.id, unique_phone(), "Who is this?")
    for size in (1280, 390):
        await page.set_viewport_size({"width": size, "height": 800})
        await page.goto(url(live_server, f"/conversations/{stranger.id}"))
        await page.get_by_label("This sender is").select_option(label="Jordan Rivera")
        await page.get_by_role("button", name="Link to this person").click()
        await expect(page.get_by_test_id("link-confirm")).to_contain_text("Jordan Rivera")
        results = await Axe().run(page, options={"runOnly": ["wcag2a", "wcag2aa", "wcag21aa", "best-practice"]})
        if results.violations_count:
            problems.append(f"link confirmation at {size}px: {results.generate_report()}")
        width = await page.evaluate("document.documentElement.scrollWidth")
        if width > size:
            problems.append(f"link confirmation: {width}px wide at {size}px")
    assert problems == []
