"""Test data factories: services with keys, staff, people. Each call makes fresh, unique rows."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.admin import create_api_key, create_service
from gateway.crypto import Vault
from gateway.db import StaffUser
from gateway.domain import KeyType

TEAM_MOBILE = "+12025550100"
TEAM_EMAIL_DOMAIN = "agency.example"


@dataclass(frozen=True)
class ServiceUnderTest:
    id: uuid.UUID
    name: str
    live_key: str
    team_key: str
    test_key: str
    team_email: str
    team_mobile: str

    @staticmethod
    def secret(key: str) -> str:
        return key[-36:]


async def make_service(sessions: async_sessionmaker[AsyncSession], vault: Vault) -> ServiceUnderTest:
    name = f"Test office {secrets.token_hex(4)}"
    team_email = f"officer.{secrets.token_hex(8)}@{TEAM_EMAIL_DOMAIN}"  # unique across a whole run's services
    async with sessions() as session:
        service = await create_service(session, name, actor="test")
        await session.flush()
        keys = {
            kind: await create_api_key(session, vault, service.id, f"{kind.value}_key", kind, actor="test")
            for kind in KeyType
        }
        session.add(
            StaffUser(
                service_id=service.id,
                email=team_email,
                name="Team Officer",
                roles=["officer"],
                mobile_enc=vault.seal(TEAM_MOBILE),
                mobile_index=vault.blind_index(TEAM_MOBILE),
            )
        )
        await session.commit()
    return ServiceUnderTest(
        service.id, name, keys[KeyType.LIVE], keys[KeyType.TEAM], keys[KeyType.TEST], team_email, TEAM_MOBILE
    )
