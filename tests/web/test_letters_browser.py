"""The letter pages in a real browser (Debian's Chromium through Playwright), on SQLite.

A supervisor finds the API's letters in the sandbox mailroom, cuts the day's batch there, cancels a
later letter from the Letters page (after its confirmation page), records a returned letter with the
returned-mail form, and opens a letter's PDF. Every page passes axe-core's rules, at desktop width and
390 px wide; screenshots go to test-artifacts/.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page, expect
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import keys
from gateway.crypto import Vault
from gateway.db import Notification
from gateway.jobs.queue import LocalQueue
from gateway.settings import Settings
from tests.api.test_auth import bearer
from tests.conftest import test_settings as settings_for
from tests.factories import make_service
from tests.letters.helpers import LETTER_PATH, letter
from tests.web.cases import make_case
from tests.web.conftest import CHEAP_ARGON2, StaffFactory, Watch, screenshot_path
from tests.web.test_browser import sign_in, url
from tests.web.test_directory_browser import accessible, fits_a_phone


@pytest.fixture
def browser_settings(sqlite_url: str, tmp_path: Path) -> Settings:
    """The browser tests' settings, with print batches written into this test's folder."""
    return settings_for(sqlite_url, letters_dir=tmp_path / "batches", **CHEAP_ARGON2)


async def send(server: TestServer, service: Any, **changes: Any) -> uuid.UUID:
    async with aiohttp.ClientSession() as http:
        answer = await http.post(
            url(server, LETTER_PATH), json=letter(**changes), headers=bearer(service.live_key, service.id)
        )
        assert answer.status == 201, await answer.text()
        nid = uuid.UUID((await answer.json())["id"])
    queue = server.app[keys.QUEUE]
    assert isinstance(queue, LocalQueue)
    await queue.join()  # the letter channel has made it ready
    return nid


async def test_mailroom_batch_cancel_and_returned_mail(
    page: Page,
    watch: Watch,
    live_server: TestServer,
    browser_staff: StaffFactory,
    sqlite_sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    service = await make_service(sqlite_sessions, vault)
    supervisor = await browser_staff(service.id, roles=("supervisor",), name="Sue Supervisor")
    printed = await send(live_server, service, postage="certified", reference="cert-1")
    await send(live_server, service, reference="first-1")
    await sign_in(page, live_server, supervisor)

    # the sandbox mailroom: the letters, then the day's batch cut by hand
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Sandbox mailroom").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Sandbox mailroom")
    await expect(page.get_by_test_id("mailroom-banner")).to_contain_text("SANDBOX")
    await expect(page.get_by_test_id("mailroom-caption")).to_contain_text("cert-1")
    await accessible(page, "sandbox mailroom")
    await page.get_by_role("button", name="Cut the batch now").click()
    await expect(page.get_by_role("status")).to_contain_text("Today's batch has been cut")
    await expect(page.get_by_test_id("batches")).to_contain_text("Certified Mail: 1")
    await expect(page.get_by_test_id("batches")).to_contain_text("Written to the batch folder")
    await accessible(page, "sandbox mailroom with a batch")
    await page.screenshot(path=screenshot_path("sandbox_mailroom"), full_page=True)
    await fits_a_phone(page, "sandbox_mailroom")
    pdf_link = page.get_by_role("link", name="PDF of the letter to Alex Example").first
    answer = await page.request.get(url(live_server, str(await pdf_link.get_attribute("href"))))
    assert answer.status == 200 and answer.headers["content-type"] == "application/pdf"

    # a later letter waits for tomorrow's batch: cancel it, after the confirmation page
    waiting = await send(live_server, service, reference="wait-1")
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Letters").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Letters")
    await expect(page.get_by_test_id("waiting-caption")).to_contain_text("wait-1")
    await accessible(page, "letters page")
    await page.screenshot(path=screenshot_path("letters_page"), full_page=True)
    await fits_a_phone(page, "letters_page")
    await page.get_by_test_id("waiting-caption").get_by_role("link", name="Cancel the letter to Alex Example").click()
    await expect(page.get_by_test_id("confirm")).to_contain_text("reference wait-1")
    await accessible(page, "cancel a letter")
    await fits_a_phone(page, "cancel_letter")
    await page.get_by_role("button", name="Yes, cancel the letter").click()
    await expect(page.get_by_role("status").first).to_contain_text("The letter has been cancelled")
    await expect(page.get_by_test_id("waiting-caption")).to_contain_text("No letters are waiting.")

    # the mail house reports a letter returned
    await page.get_by_label("Notification ids or references, one a line").fill(f"{printed}\nnot-ours")
    await page.get_by_role("button", name="Record returned mail").click()
    await expect(page.get_by_test_id("returned-result")).to_contain_text("1 letter marked returned")
    await expect(page.get_by_test_id("returned-result")).to_contain_text("not-ours")
    await expect(
        page.get_by_test_id("printed-caption").locator(f'tr[data-notification-id="{printed}"]')
    ).to_contain_text("returned-letter")
    await accessible(page, "letters page after returned mail")
    await fits_a_phone(page, "letters_page_returned")
    async with sqlite_sessions() as db:
        found = dict(
            (
                await db.execute(
                    select(Notification.id, Notification.status).where(Notification.id.in_([printed, waiting]))
                )
            ).all()
        )
    assert found == {printed: "returned-letter", waiting: "cancelled"}

    # the letter on its case page and in the person's conversation, with its PDF
    case = await make_case(sqlite_sessions, vault, service.id, assigned=supervisor.id, conversation=True)
    async with sqlite_sessions() as db:
        await db.execute(
            update(Notification)
            .where(Notification.id == printed)
            .values(case_id=case.case_id, person_id=case.person_id)
        )
        await db.commit()
    await page.goto(url(live_server, f"/cases/{case.ref}"))
    letters = page.get_by_test_id("case-letters-caption")
    await expect(letters).to_contain_text("returned-letter")
    await expect(letters.get_by_role("link", name="PDF of the letter to Alex Example")).to_be_visible()
    await accessible(page, "case page with a letter")
    await fits_a_phone(page, "case_page_letter")
    await page.goto(url(live_server, "/inbox?tab=all"))
    await page.get_by_role("link", name="Jordan Rivera").click()
    await page.wait_for_url("**/conversations/*")
    letter_item = page.locator(f'#thread li[data-notification-id="{printed}"]')
    await expect(letter_item).to_contain_text("Letter,")
    await expect(letter_item.get_by_test_id("letter-pdf")).to_have_attribute("href", f"/letters/{printed}/pdf")
    await accessible(page, "conversation with a letter")
    await fits_a_phone(page, "conversation_letter")
