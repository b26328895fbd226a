"""`gateway demo` as a new user runs it: twice (idempotent), and the printed staff login signs in."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from gateway.app import create_app
from gateway.db import Case, InboundMessage, Notification, Person
from gateway.db.engine import make_engine, session_factory
from tests import conftest
from tests.web.staff import csrf_from

GATEWAY = Path(sys.executable).with_name("gateway")


async def _demo(url: str, cwd: Path) -> str:
    env = {
        **os.environ,
        "GATEWAY_DATABASE_URL": url,
        "GATEWAY_SECRET_KEY": conftest.SECRET,
        "GATEWAY_LOG_LEVEL": "warning",
    }
    env.pop("GATEWAY_TWILIO_ACCOUNT_SID", None)
    process = await asyncio.create_subprocess_exec(
        str(GATEWAY), "demo", cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out = (await asyncio.wait_for(process.communicate(), 180))[0].decode()
    assert process.returncode == 0, out
    return out


async def test_demo_prints_a_staff_login_that_signs_in(aiohttp_client: Any, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    await _demo(url, tmp_path)
    out = await _demo(url, tmp_path)  # a second run reuses everything and prints a fresh password
    email = re.search(r"Email:\s+(\S+)", out)
    password = re.search(r"Password:\s+(\S+)", out)
    assert email and password, out
    assert "/sandbox?person=" in out and "reply as Jordan Rivera" in out

    engine = make_engine(url)
    try:
        async with session_factory(engine)() as db:
            assert await db.scalar(select(func.count()).select_from(Case).where(Case.external_ref == "CASE-1001")) == 1
            assert await db.scalar(select(func.count()).select_from(Person)) == 1
            assert (
                await db.scalar(
                    select(func.count()).select_from(Notification).where(Notification.appointment_id.is_(None))
                )
                == 1
            )  # besides the demo appointments' reminders
            inbound = (await db.scalars(select(InboundMessage))).all()
            assert [(m.state, m.conversation_id is not None) for m in inbound] == [("processed", True)]
    finally:
        await engine.dispose()

    client = await aiohttp_client(create_app(conftest.test_settings(url)))
    token = await csrf_from(client, "/login")
    wrong = await client.post(
        "/login", data={"email": email.group(1), "password": "not-it", "csrf_token": token}, allow_redirects=False
    )
    assert wrong.status != 303
    token = await csrf_from(client, "/login")
    response = await client.post(
        "/login",
        data={"email": email.group(1), "password": password.group(1), "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    assert response.headers["Location"].startswith("/account/totp/enrol")  # on to setting up the authenticator
