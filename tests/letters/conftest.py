"""A job context for the letter batch tests, writing print batches into the test's own folder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.jobs.context import JobContext, close_job_context, open_job_context
from tests.conftest import test_settings


@pytest.fixture
async def letters_ctx(database_url: str, tmp_path: Path) -> AsyncIterator[JobContext]:
    ctx = await open_job_context(test_settings(database_url, letters_dir=tmp_path / "batches"))
    yield ctx
    await close_job_context(ctx)
