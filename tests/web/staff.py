"""Staff accounts for tests: a known password and TOTP secret, and signing in over HTTP.

`StaffUnderTest.code()` gives a code for a step later than any used before by this account,
because the gateway accepts each step once (the current step ± 1).
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

import pyotp
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.db import AuditEntry, StaffUser
from gateway.web import totp
from gateway.web.passwords import Passwords

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class StaffUnderTest:
    id: uuid.UUID
    service_id: uuid.UUID
    email: str
    password: str
    name: str
    roles: list[str]
    totp_secret: str | None
    used_steps: list[int] = field(default_factory=list)

    def code(self) -> str:
        """A fresh valid code: the current step, or the next one if the current was used."""
        assert self.totp_secret is not None, "this account has no authenticator yet"
        step = totp.current_step()
        if self.used_steps and self.used_steps[-1] >= step:
            step = self.used_steps[-1] + 1
        assert step <= totp.current_step() + 1, "no unused step left in the window: a test signed in too often"
        self.used_steps.append(step)
        return pyotp.TOTP(self.totp_secret).generate_otp(step)


async def make_staff(
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    passwords: Passwords,
    service_id: uuid.UUID,
    *,
    roles: tuple[str, ...] = ("officer",),
    name: str = "Olive Officer",
    enrolled: bool = True,
    password: str | None = None,
) -> StaffUnderTest:
    password = password or f"correct horse {secrets.token_hex(4)}"
    secret = totp.new_secret() if enrolled else None
    email = f"staff.{secrets.token_hex(5)}@agency.example"
    user = StaffUser(
        service_id=service_id,
        email=email,
        name=name,
        roles=list(roles),
        password_hash=await passwords.hash(password),
        totp_secret_enc=vault.seal(secret) if secret else None,
    )
    async with sessions() as db:
        db.add(user)
        await db.commit()
    return StaffUnderTest(user.id, service_id, email, password, name, list(roles), secret)


async def csrf_from(client: TestClient, path: str) -> str:  # type: ignore[type-arg]
    response = await client.get(path)
    assert response.status == 200, (path, response.status)
    found = CSRF.search(await response.text())
    assert found, f"no CSRF token on {path}"
    return found.group(1)


async def sign_in(client: TestClient, staff: StaffUnderTest) -> None:  # type: ignore[type-arg]
    """Password then code, as a browser would; leaves `client` signed in."""
    token = await csrf_from(client, "/login")
    response = await client.post(
        "/login",
        data={"email": staff.email, "password": staff.password, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    assert response.headers["Location"].startswith("/login/totp")
    token = await csrf_from(client, "/login/totp")
    response = await client.post("/login/totp", data={"code": staff.code(), "csrf_token": token}, allow_redirects=False)
    assert response.status == 303, await response.text()


async def audit_rows(
    sessions: async_sessionmaker[AsyncSession], service_id: uuid.UUID | None, **where: object
) -> list[Any]:
    """Audit rows of a service (or with no service), oldest first, optionally filtered by column."""
    query = select(AuditEntry).where(
        AuditEntry.service_id.is_(None) if service_id is None else AuditEntry.service_id == service_id
    )
    for column, value in where.items():
        query = query.where(getattr(AuditEntry, column) == value)
    async with sessions() as db:
        return list((await db.scalars(query.order_by(AuditEntry.id))).all())
