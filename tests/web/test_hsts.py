"""`Strict-Transport-Security` on every response when the public URL is https, never over plain http."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.app import create_app
from tests.conftest import test_settings as settings_for


@pytest.mark.parametrize("path", ["/login", "/healthz", "/v2/templates", "/static/gateway.css"])
async def test_hsts_when_the_public_url_is_https(aiohttp_client: Any, sqlite_url: str, path: str) -> None:
    secure = await aiohttp_client(create_app(settings_for(sqlite_url, public_url="https://gateway.agency.example")))
    assert (await secure.get(path)).headers["Strict-Transport-Security"] == "max-age=31536000"
    plain = await aiohttp_client(create_app(settings_for(sqlite_url)))
    assert "Strict-Transport-Security" not in (await plain.get(path)).headers
