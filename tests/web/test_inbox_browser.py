"""The inbox and a conversation in a real browser (Chromium through Playwright), on SQLite.

One officer's afternoon, end to end through the real app on a real port and the fake Twilio: a
signed Twilio webhook brings a text in and it appears in the open inbox within a second without a
reload; its hostile body shows as text and runs nothing; the officer replies; the fake's status
callback turns the reply's tick to "Delivered" on screen; a form without its CSRF token is refused;
and a staff member of another service gets 404 for the conversation's address.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from twilio.request_validator import RequestValidator

from gateway.app import create_app
from gateway.crypto import Vault
from gateway.settings import Settings
from tests.conftest import test_settings as make_settings
from tests.factories import make_service
from tests.fakes.twilio_server import FAKE_TWILIO, FakeTwilio, make_fake_twilio
from tests.web.chat import add_person, set_sms_sender
from tests.web.conftest import CHEAP_ARGON2, StaffFactory, Watch, screenshot_path
from tests.web.test_browser import sign_in

ACCOUNT = "AC" + "3f" * 16
TOKEN = "fake-twilio-token-for-browser-tests"
PHONE = "+12025550143"
HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(1)>"
REPLY = "Thanks, see you at 10."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def fake_twilio(aiohttp_server: Any) -> tuple[FakeTwilio, str]:
    server = await aiohttp_server(make_fake_twilio(account_sid=ACCOUNT, auth_token=TOKEN))
    return server.app[FAKE_TWILIO], str(server.make_url("")).rstrip("/")


@pytest.fixture
def chat_settings(sqlite_url: str, fake_twilio: tuple[FakeTwilio, str]) -> Settings:
    port = free_port()  # the public URL must be known before the app starts: Twilio signs it
    return make_settings(
        sqlite_url,
        public_url=f"http://127.0.0.1:{port}",
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=TOKEN,
        twilio_api_base=fake_twilio[1],
        **CHEAP_ARGON2,
    )


@pytest.fixture
async def chat_server(aiohttp_server: Any, chat_settings: Settings) -> TestServer:
    assert chat_settings.public_url is not None
    port = int(chat_settings.public_url.rsplit(":", 1)[1])
    return await aiohttp_server(create_app(chat_settings), port=port)  # type: ignore[no-any-return]


@pytest.fixture
async def watch(page: Page, chat_server: TestServer) -> AsyncIterator[Watch]:
    watched = Watch(page)
    yield watched
    assert watched.errors == [], "console errors (CSP violations show up here)"


# This service's own number: inbound texts find their service by the number they were sent to, and
# other tests' services in the same database use the shared test number.
INBOX_NUMBER = "+15005550123"


async def twilio_webhook(server: TestServer, public_url: str, body: str) -> None:
    """POST an inbound SMS as Twilio does, signed over the public URL."""
    form = {
        "AccountSid": ACCOUNT,
        "MessageSid": "SM" + secrets.token_hex(16),
        "From": PHONE,
        "To": INBOX_NUMBER,
        "Body": body,
        "NumMedia": "0",
    }
    signature = RequestValidator(TOKEN).compute_signature(public_url + "/webhooks/twilio/sms", form)
    async with (
        aiohttp.ClientSession() as http,
        http.post(server.make_url("/webhooks/twilio/sms"), data=form, headers={"X-Twilio-Signature": signature}) as r,
    ):
        assert r.status == 200, await r.text()


async def test_officer_sees_a_text_arrive_replies_and_sees_it_delivered(
    page: Page,
    browser: Browser,
    watch: Watch,
    chat_server: TestServer,
    chat_settings: Settings,
    fake_twilio: tuple[FakeTwilio, str],
    sqlite_sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    browser_staff: StaffFactory,
) -> None:
    twilio, public_url = fake_twilio[0], str(chat_settings.public_url)
    service = await make_service(sqlite_sessions, vault)
    await set_sms_sender(sqlite_sessions, service.id, sms_sender=INBOX_NUMBER, sms_per_second=100)
    officer = await browser_staff(service.id, name="Olive Officer")
    await add_person(sqlite_sessions, vault, service.id, "Casey Client", PHONE, case_ref="CR-77", officer_id=officer.id)

    # sign in with password and code; the inbox opens with its live socket
    await sign_in(page, chat_server, officer)
    await expect(page.locator("body[data-live=open]")).to_have_count(1, timeout=5000)
    await page.evaluate("window.__notReloaded = true")

    # a signed webhook brings a text in: it is in the open inbox within a second, with no reload
    await twilio_webhook(chat_server, public_url, HOSTILE)
    started = time.monotonic()
    row = page.locator("#inbox-list tr", has_text="Casey Client")
    await expect(row).to_be_visible(timeout=1000)
    assert time.monotonic() - started < 1.0
    await expect(row.get_by_test_id("unread")).to_contain_text("1")
    assert await page.evaluate("window.__notReloaded === true")
    assert PHONE not in await page.content()
    await page.screenshot(path=screenshot_path("inbox_live_message"), full_page=True)

    # the conversation: the hostile body is text, nothing runs
    await row.get_by_role("link", name="Casey Client").click()
    await page.wait_for_url("**/conversations/*")
    conversation_url = page.url
    body = page.locator("#thread .message--in .message__body")
    await expect(body).to_have_text(HOSTILE)
    assert await page.locator("#thread img, #thread script").count() == 0

    # the officer replies; the fragment counter counts as they type
    await expect(page.locator("body[data-live=open]")).to_have_count(1, timeout=5000)
    await page.get_by_label("Message", exact=True).fill(REPLY)
    await expect(page.locator("#sms-length")).to_contain_text("1 text message")
    await page.get_by_role("button", name="Send").click()
    await page.wait_for_load_state()
    outbound = page.locator("#thread .message--out", has_text=REPLY)
    await expect(outbound).to_be_visible()
    await page.evaluate("window.__notReloaded = true")

    # the fake Twilio got it; its status callback turns the tick to Delivered on screen
    for _ in range(100):
        sent = [m for m in twilio.messages if m.body == REPLY]
        if sent and (await outbound.get_by_test_id("status").inner_text()) != "Queued":
            break
        await asyncio.sleep(0.05)
    assert len(sent) == 1 and sent[0].to == PHONE
    assert await twilio.send_status_callback(sent[0].sid, "delivered") == 200
    await expect(outbound.get_by_test_id("status")).to_have_text("Delivered", timeout=2000)

    # a new text in the open conversation is appended live
    await twilio_webhook(chat_server, public_url, "On my way")
    await expect(page.locator("#thread .message--in", has_text="On my way")).to_be_visible(timeout=2000)
    assert await page.evaluate("window.__notReloaded === true")
    assert watch.dialogs == []
    await page.screenshot(path=screenshot_path("conversation_delivered"), full_page=True)

    # a form posted without its CSRF token is refused, and nothing is sent
    watch.allowed.append("403")
    await page.locator("form.composer input[name=csrf_token]").evaluate("input => input.remove()")
    await page.get_by_label("Message", exact=True).fill("This must not be sent")
    async with page.expect_response(lambda r: r.url.endswith("/send")) as refused:
        await page.get_by_role("button", name="Send").click()
    assert (await refused.value).status == 403
    await expect(page.get_by_role("heading", level=1)).to_have_text("This form has expired")
    assert not [m for m in twilio.messages if m.body == "This must not be sent"]

    # staff of another service: 404 for the same address
    other = await make_service(sqlite_sessions, vault)
    stranger = await browser_staff(other.id, name="Sid Stranger")
    context = await browser.new_context()
    try:
        elsewhere = await context.new_page()
        await sign_in(elsewhere, chat_server, stranger)
        response = await elsewhere.goto(conversation_url)
        assert response is not None and response.status == 404
        assert HOSTILE not in await elsewhere.content()
    finally:
        await context.close()
    assert watch.dialogs == []
