"""The officer's day in a real browser (Debian's Chromium through Playwright), on SQLite, at desktop and 390 px.

The template composer in plain words (issue 14, item 4): pick a template in the person's language,
see labelled fields prefilled and a live preview with its length, and the warning before Send.
Every page visited passes axe-core; screenshots go to test-artifacts/.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from tests.factories import make_service
from tests.web.conftest import StaffFactory, screenshot_path
from tests.web.officer_data import client_with_reply
from tests.web.test_browser import Watch, sign_in, url
from tests.web.test_directory_browser import accessible, fits_a_phone


@pytest.fixture
async def watch(page: Page, live_server: TestServer) -> AsyncIterator[Watch]:
    watched = Watch(page)
    yield watched
    assert watched.errors == [], "console errors (CSP violations show up here)"


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
