"""The staff pages in a real browser (Debian's Chromium through Playwright), on SQLite.

Sign-in with password and code, by mouse and by keyboard alone; setting up the authenticator from
the page with its QR code; a hostile staff name shown as text with no script run; the CSP header;
and the JavaScript SMS counter against the Python one.
Every test also fails on any console error, which is where CSP violations appear.
"""

from __future__ import annotations

from typing import Any

import pyotp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Page
from playwright.async_api import TimeoutError as PlaywrightTimeout
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.templating import sms_length
from gateway.web import totp
from tests.factories import ServiceUnderTest, make_service
from tests.web.conftest import StaffFactory, Watch, screenshot_path
from tests.web.staff import StaffUnderTest

FREE_TEXT = "91b96cb2-3bb9-4806-8eb8-cd401aba9c55"
HOSTILE_NAME = "<script>alert(1)</script><img src=x onerror=alert(1)>"


@pytest.fixture
async def web_service(sqlite_sessions: async_sessionmaker[AsyncSession], vault: Vault) -> ServiceUnderTest:
    return await make_service(sqlite_sessions, vault)


def url(server: TestServer, path: str) -> str:
    return str(server.make_url(path))


async def sign_in(page: Page, server: TestServer, staff: StaffUnderTest) -> None:
    await page.goto(url(server, "/login"))
    await page.get_by_label("Email address").fill(staff.email)
    await page.get_by_label("Password").fill(staff.password)
    await page.get_by_role("button", name="Continue").click()
    await page.wait_for_url("**/login/totp**")
    await page.get_by_label("6-digit code").fill(staff.code())
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/inbox")


async def test_sign_in_with_password_and_code(
    page: Page, watch: Watch, live_server: TestServer, web_service: ServiceUnderTest, browser_staff: StaffFactory
) -> None:
    staff = await browser_staff(web_service.id, name="Olive Officer")
    await sign_in(page, live_server, staff)
    assert await page.get_by_role("heading", level=1).inner_text() == "Inbox"
    assert await page.get_by_test_id("staff-name").inner_text() == "Olive Officer"
    assert await page.get_by_test_id("service-name").inner_text() == web_service.name
    assert await page.locator('nav[aria-label="Main"] a[aria-current="page"]').inner_text() == "Inbox"
    await page.screenshot(path=screenshot_path("signed_in_inbox"), full_page=True)
    cookies = {c["name"]: c for c in await page.context.cookies()}
    assert cookies["gw_session"]["httpOnly"] and cookies["gw_session"]["sameSite"] == "Lax"
    assert await page.evaluate("document.cookie") == ""  # no script can read the session

    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url("**/login?done=signed_out")
    assert "You have signed out." in await page.inner_text("main")
    await page.goto(url(live_server, "/inbox"))
    assert "/login" in page.url


async def test_a_wrong_password_is_refused(
    page: Page, watch: Watch, live_server: TestServer, web_service: ServiceUnderTest, browser_staff: StaffFactory
) -> None:
    staff = await browser_staff(web_service.id)
    watch.allowed.append("status of 400")  # the form comes back as a 400 page, which Chromium logs
    await page.goto(url(live_server, "/login"))
    await page.get_by_label("Email address").fill(staff.email)
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Continue").click()
    alert = page.get_by_role("alert")
    assert "email address or password is not right" in await alert.inner_text()
    assert "/login" in page.url and await page.get_by_label("Email address").input_value() == staff.email


async def focus_on(page: Page, element_id: str) -> None:
    """Wait (up to 5 s) until the element with this id has the keyboard focus; fail naming what has it."""
    try:
        await page.wait_for_function(
            f"document.activeElement && document.activeElement.id === {element_id!r}", timeout=5000
        )
    except PlaywrightTimeout:
        focused = await page.evaluate("document.activeElement && document.activeElement.outerHTML.slice(0, 120)")
        raise AssertionError(f"focus is not on #{element_id} but on {focused}") from None


async def test_sign_in_by_keyboard_alone(
    page: Page, watch: Watch, live_server: TestServer, web_service: ServiceUnderTest, browser_staff: StaffFactory
) -> None:
    staff = await browser_staff(web_service.id)
    await page.goto(url(live_server, "/login"))
    await focus_on(page, "email")  # autofocus (applied after the page has loaded: waited for, not raced)
    await page.keyboard.type(staff.email)
    await page.keyboard.press("Tab")
    await focus_on(page, "password")
    await page.keyboard.type(staff.password)
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/login/totp**")
    await focus_on(page, "code")
    await page.keyboard.type(staff.code())
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/inbox")
    # The first Tab stop on a page is the skip link, and it leads to the main content.
    await page.keyboard.press("Tab")
    await page.wait_for_function("document.activeElement.textContent === 'Skip to main content'", timeout=5000)
    await page.keyboard.press("Enter")
    await focus_on(page, "main")


async def test_setting_up_the_authenticator_shows_a_qr_code_and_the_key(
    page: Page, watch: Watch, live_server: TestServer, web_service: ServiceUnderTest, browser_staff: StaffFactory
) -> None:
    staff = await browser_staff(web_service.id, enrolled=False)
    await page.goto(url(live_server, "/login"))
    await page.get_by_label("Email address").fill(staff.email)
    await page.get_by_label("Password").fill(staff.password)
    await page.get_by_role("button", name="Continue").click()
    await page.wait_for_url("**/account/totp/enrol**")
    qr = page.get_by_role("img", name=totp.QR_LABEL)  # found by its accessible name, as a screen reader would
    await qr.wait_for()
    box = await qr.bounding_box()
    assert box is not None and box["width"] >= 150 and box["width"] == box["height"]
    secret = (await page.get_by_test_id("totp-secret").inner_text()).replace(" ", "")
    assert len(secret) == 32  # the text alternative for those who cannot scan
    await page.screenshot(path=screenshot_path("totp_enrol_qr"), full_page=True)
    await page.get_by_label("6-digit code").fill(pyotp.TOTP(secret).now())
    await page.get_by_role("button", name="Finish setting up").click()
    await page.wait_for_url("**/inbox?done=enrolled")
    assert await page.get_by_role("img", name=totp.QR_LABEL).count() == 0


async def test_a_hostile_staff_name_is_only_text(
    page: Page, watch: Watch, live_server: TestServer, web_service: ServiceUnderTest, browser_staff: StaffFactory
) -> None:
    admin = await browser_staff(web_service.id, roles=("admin",), name=HOSTILE_NAME)
    await sign_in(page, live_server, admin)
    assert await page.get_by_test_id("staff-name").inner_text() == HOSTILE_NAME
    for path in ("/admin/staff", f"/admin/staff/{admin.id}", "/account"):
        await page.goto(url(live_server, path))
        assert HOSTILE_NAME in await page.inner_text("main")
        assert await page.locator("main img, main script").count() == 0
    await page.wait_for_timeout(300)  # give an injected onerror the chance to fire
    assert watch.dialogs == []
    await page.screenshot(path=screenshot_path("hostile_name_as_text"), full_page=True)


async def test_pages_carry_a_content_security_policy(page: Page, live_server: TestServer) -> None:
    response = await page.goto(url(live_server, "/login"))
    assert response is not None
    headers = await response.all_headers()
    assert headers["content-security-policy"].startswith("default-src 'self'; script-src 'self'")
    assert headers["x-frame-options"] == "DENY"
    # The policy is enforced: an inline script injected into the page does not run.
    await page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.injected = 1';"
        " document.body.appendChild(s); }"
    )
    assert await page.evaluate("window.injected === undefined")


COUNTER_SAMPLES = [
    "",
    "Hello",
    "a" * 160,
    "a" * 161,
    "a" * 306,
    "a" * 307,
    "€" * 80,  # extension characters: two septets each
    "€" * 81,
    "a" * 152 + "€" + "a" * 10,  # an escape pair never straddles two parts
    "Ça va? ñ ü à",  # all in the GSM alphabet
    "ça va",  # lower-case ç is not: UCS-2
    "Ω" + "x" * 69,
    "Ω" + "x" * 70,
    "😀" * 35,  # astral characters: two UTF-16 units each
    "😀" * 36,
    "x" * 66 + "😀" + "x" * 10,
    "line one\nline two\r\n{braces} [brackets] ~tilde~ |pipe| ^caret^ \\",
]


async def test_the_sms_counter_matches_the_python_one(
    page: Page, watch: Watch, live_server: TestServer, web_service: ServiceUnderTest, browser_staff: StaffFactory
) -> None:
    await sign_in(page, live_server, await browser_staff(web_service.id))
    await page.goto(url(live_server, f"/templates/{FREE_TEXT}"))
    for text in COUNTER_SAMPLES:
        counted: dict[str, Any] = await page.evaluate("text => window.gatewaySmsLength(text)", text)
        expected = sms_length(text)
        assert counted == {
            "encoding": expected.encoding,
            "characters": expected.characters,
            "fragments": expected.fragments,
        }, text

    box = page.get_by_label("Text to check")
    output = page.locator("#sms-length")
    await box.fill("a" * 161)
    assert await output.inner_text() == "161 characters (GSM-7), 2 text messages"
    await box.fill("")
    await box.press_sequentially("Hi 😀")
    assert await output.inner_text() == "5 characters (UCS-2), 1 text message"
    await page.screenshot(path=screenshot_path("sms_counter"), full_page=True)
