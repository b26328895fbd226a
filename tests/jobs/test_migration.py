"""Delivery migrations up and down on SQLite and PostgreSQL: 0002 (delivery columns, sweeper indexes)
and 0005 (partial indexes); and the migrated schema matches the models."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.db import Base
from gateway.db.engine import make_engine
from gateway.db.migrate import MIGRATIONS, alembic_config
from tests.services import postgres_admin_url, require_services

COLUMNS = {"claimed_at", "next_attempt_at"}
INDEXES = {"ix_notifications_status_next_attempt", "ix_notifications_status_claimed"}
FULL_0004 = {
    "ix_notifications_status_updated",
    "ix_notifications_status_next_attempt",
    "ix_notifications_status_claimed",
    "ix_notifications_provider_ref",
    "ix_notifications_idempotency",
    "ix_notifications_service_created",
}
PARTIAL_0005 = {
    "ix_notifications_created",
    "ix_notifications_sending",
    "ix_notifications_provider_ref",
    "ix_notifications_idempotency",
    "ix_notifications_service_created",
}


@pytest.fixture(params=["sqlite", "postgres"])
async def scratch_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of this test's own (migrations are run down as well as up)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}"
        return
    import asyncpg

    try:
        conn = await asyncpg.connect(postgres_admin_url(), timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        require_services(f"PostgreSQL not reachable ({exc})")
        raise AssertionError("unreachable") from exc
    name = f"gw_mig_{secrets.token_hex(4)}"
    await conn.execute(f'CREATE DATABASE "{name}"')
    try:
        base = postgres_admin_url().rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        yield f"{base}/{name}"
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def _shape(url: str) -> tuple[set[str], set[str]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:

            def read(sync: AsyncConnection) -> tuple[set[str], set[str]]:
                found = inspect(sync)
                columns = {c["name"] for c in found.get_columns("notifications")}
                indexes = {str(i["name"]) for i in found.get_indexes("notifications")}
                return columns, indexes

            return await conn.run_sync(read)  # type: ignore[arg-type]
    finally:
        await engine.dispose()


async def test_0002_upgrades_and_downgrades(scratch_url: str) -> None:
    config = alembic_config(scratch_url)
    assert (MIGRATIONS / "versions" / "0002_delivery.py").exists()
    await asyncio.to_thread(command.upgrade, config, "0002")
    columns, indexes = await _shape(scratch_url)
    assert columns >= COLUMNS and indexes >= INDEXES

    await asyncio.to_thread(command.downgrade, config, "0001")
    columns, indexes = await _shape(scratch_url)
    assert not (COLUMNS & columns) and not (INDEXES & indexes)

    await asyncio.to_thread(command.upgrade, config, "0002")
    columns, indexes = await _shape(scratch_url)
    assert columns >= COLUMNS and indexes >= INDEXES


async def test_0005_swaps_full_indexes_for_partial_ones_and_back(scratch_url: str) -> None:
    config = alembic_config(scratch_url)
    await asyncio.to_thread(command.upgrade, config, "0004")
    assert (await _shape(scratch_url))[1] == FULL_0004
    await asyncio.to_thread(command.upgrade, config, "0005")
    assert (await _shape(scratch_url))[1] == PARTIAL_0005
    await asyncio.to_thread(command.downgrade, config, "0004")
    assert (await _shape(scratch_url))[1] == FULL_0004


async def test_migrated_schema_matches_the_models(scratch_url: str) -> None:
    """Autogenerate finds nothing to do at head: the models and the migrations describe one schema."""
    await asyncio.to_thread(command.upgrade, alembic_config(scratch_url), "head")
    engine = make_engine(scratch_url)
    try:
        async with engine.connect() as conn:

            def diff(sync: AsyncConnection) -> list[object]:
                return list(compare_metadata(MigrationContext.configure(sync), Base.metadata))  # type: ignore[arg-type]

            differences = await conn.run_sync(diff)  # type: ignore[arg-type]
    finally:
        await engine.dispose()
    assert differences == []
