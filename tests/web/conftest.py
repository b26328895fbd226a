"""Fixtures for the staff web interface: cheap password hashing, staff accounts, a real browser.

Password hashing uses the smallest argon2 cost the settings allow, so a test signs in in
milliseconds; the production cost is the settings' default. Browser tests drive Debian's
Chromium through Playwright's async API against the real app on a real port (SQLite only).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, ConsoleMessage, Dialog, Page, async_playwright
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.app import create_app
from gateway.crypto import Vault
from gateway.db.engine import make_engine, session_factory
from gateway.settings import Settings
from gateway.web.passwords import Passwords
from tests.conftest import test_settings
from tests.services import require_services
from tests.web.staff import StaffUnderTest, make_staff

CHEAP_ARGON2: dict[str, Any] = {"argon2_time_cost": 1, "argon2_memory_kib": 8192, "argon2_parallelism": 1}
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

StaffFactory = Callable[..., Awaitable[StaffUnderTest]]


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The shared `settings`, with cheap argon2 (overrides tests/conftest.py for tests/web)."""
    return test_settings(database_url, **CHEAP_ARGON2)


@pytest.fixture
def passwords(settings: Settings) -> Passwords:
    return Passwords.from_settings(settings)


@pytest.fixture
def staff_factory(sessions: async_sessionmaker[AsyncSession], vault: Vault, passwords: Passwords) -> StaffFactory:
    """`await staff_factory(service_id, roles=("admin",), enrolled=False, name=...)`"""

    async def make(service_id: Any, **options: Any) -> StaffUnderTest:
        return await make_staff(sessions, vault, passwords, service_id, **options)

    return make


@pytest.fixture
async def make_client(aiohttp_client: Any, database_url: str) -> Callable[..., Awaitable[TestClient]]:  # type: ignore[type-arg]
    """Another client (its own cookie jar), optionally with other settings."""

    async def make(**overrides: Any) -> TestClient:  # type: ignore[type-arg]
        settings = test_settings(database_url, **(CHEAP_ARGON2 | overrides))
        return await aiohttp_client(create_app(settings))  # type: ignore[no-any-return]

    return make


# --- browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.exists():
        require_services(f"Chromium not installed at {CHROMIUM}; apt-get install -y chromium")
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context()
    opened = await context.new_page()
    yield opened
    await context.close()


@pytest.fixture
def browser_settings(sqlite_url: str) -> Settings:
    return test_settings(sqlite_url, **CHEAP_ARGON2)


@pytest.fixture
async def sqlite_sessions(sqlite_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(sqlite_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def live_server(aiohttp_server: Any, browser_settings: Settings) -> TestServer:
    """The real app on a real port, for the browser."""
    return await aiohttp_server(create_app(browser_settings))  # type: ignore[no-any-return]


@pytest.fixture
def browser_staff(
    sqlite_sessions: async_sessionmaker[AsyncSession], vault: Vault, browser_settings: Settings
) -> StaffFactory:
    passwords = Passwords.from_settings(browser_settings)

    async def make(service_id: Any, **options: Any) -> StaffUnderTest:
        return await make_staff(sqlite_sessions, vault, passwords, service_id, **options)

    return make


def screenshot_path(name: str) -> Path:
    """Where a test's screenshot goes (test-artifacts/ is git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.png"


class Watch:
    """Dialogs and console errors seen by a page (an alert() from injected markup would be a dialog)."""

    def __init__(self, page: Page) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.allowed: list[str] = []  # parts of console errors a test expects
        page.on("dialog", self._dialog)
        page.on("console", self._console)

    async def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not any(part in message.text for part in self.allowed):
            self.errors.append(message.text)


@pytest.fixture
async def watch(page: Page, live_server: TestServer) -> AsyncIterator[Watch]:
    """A page watched while the test runs on `live_server`, its console errors checked before the server stops
    (so a request cut off by the teardown is not an error). Tests on another server define their own."""
    watched = Watch(page)
    yield watched
    assert watched.errors == [], "console errors (CSP violations show up here)"
