"""Shared fixtures: real databases (SQLite and PostgreSQL), the real app, and test data factories.

PostgreSQL tests use a fresh database created for this run and dropped after it, so a run never
touches data it did not create. When PostgreSQL is not reachable the PostgreSQL half of the suite
is skipped with the reason, unless GATEWAY_TEST_REQUIRE_SERVICES=1 (as in CI), when it fails.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.app import create_app
from gateway.crypto import Vault
from gateway.db.engine import make_engine, session_factory
from gateway.db.migrate import upgrade_async
from gateway.settings import Settings
from gateway.templating import load_catalog, sync_templates
from tests.factories import ServiceUnderTest, make_service
from tests.services import postgres_admin_url, require_services

SECRET = "test-secret-" + "x" * 40


def test_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for a test: no .env file, no environment surprises. Accepted notifications are enqueued
    as soon as they are committed (no batching wait), so a test that drains the queue after a 201 finds them."""
    values: dict[str, object] = {"database_url": database_url, "secret_key": SECRET, "log_level": "warning"}
    values["delivery_batch_wait_seconds"] = 0
    # print batches a sweep cuts go to a scratch folder, never into the working directory
    values["letters_dir"] = Path(tempfile.gettempdir()) / f"gateway-test-letters-{os.getpid()}"
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def _prepare(url: str) -> None:
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        async with session_factory(engine)() as session:
            await sync_templates(session, load_catalog(test_settings(url).templates_dir))
            await session.commit()
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'gateway.db'}"
    await _prepare(url)
    return url


@contextlib.asynccontextmanager
async def fresh_postgres(prefix: str) -> AsyncIterator[str]:
    """A new, migrated PostgreSQL database with the agency templates, dropped afterwards.

    Skips (or fails, when services are required) if PostgreSQL is not reachable.
    """
    import asyncpg

    admin = postgres_admin_url()
    try:
        conn = await asyncpg.connect(admin, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        require_services(f"PostgreSQL not reachable at {admin} ({exc}); set GATEWAY_TEST_POSTGRES_URL")
        raise AssertionError("unreachable") from exc
    name = f"{prefix}_{secrets.token_hex(4)}"
    await conn.execute(f'CREATE DATABASE "{name}"')
    base = admin.rsplit("/", 1)[0]
    url = f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"
    try:
        await _prepare(url)
        yield url
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    async with fresh_postgres("gw_test") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test that uses it runs once on SQLite and once on PostgreSQL."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return test_settings(database_url)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
def vault() -> Vault:
    return Vault(SECRET)


@pytest.fixture
async def service(sessions: async_sessionmaker[AsyncSession], vault: Vault) -> ServiceUnderTest:
    """A fresh service with live, team and test keys. Services isolate tests from each other."""
    return await make_service(sessions, vault)


@pytest.fixture
async def client(aiohttp_client: object, settings: Settings) -> TestClient:  # type: ignore[type-arg]
    return await aiohttp_client(create_app(settings))  # type: ignore[operator,no-any-return]


def pytest_report_header(config: pytest.Config) -> str:
    required = os.environ.get("GATEWAY_TEST_REQUIRE_SERVICES") == "1"
    return f"gateway: PostgreSQL at {postgres_admin_url()} ({'required' if required else 'skipped if absent'})"
