"""Where the test suite finds PostgreSQL and Redis, and what happens when they are missing."""

from __future__ import annotations

import os

import pytest

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def postgres_admin_url() -> str:
    return os.environ.get("GATEWAY_TEST_POSTGRES_URL", DEFAULT_POSTGRES)


def redis_url() -> str:
    return os.environ.get("GATEWAY_TEST_REDIS_URL", DEFAULT_REDIS)


def require_services(reason: str) -> None:
    """Skip with the reason, or fail when the run requires every service (CI)."""
    if os.environ.get("GATEWAY_TEST_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (GATEWAY_TEST_REQUIRE_SERVICES=1, so this is a failure, not a skip)")
    pytest.skip(reason)
