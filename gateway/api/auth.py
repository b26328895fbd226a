"""API authentication exactly as GOV.UK Notify does it.

A key is `{name}-{service_id}-{secret}`. Each request carries `Authorization: Bearer <JWT>`,
HS256-signed with the secret, `iss` = service id, `iat` within 30 seconds of now. The secret is
kept sealed in the database; the `Keyring` caches a service's opened keys for a few seconds so
the hot path does not decrypt or query on every request (a revoked key stops working within
`CACHE_SECONDS`).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.db import ApiKey, Service
from gateway.domain import KeyType
from gateway.errors import AuthFailed

CLOCK_SKEW_SECONDS = 30
CACHE_SECONDS = 5.0
SECRET_LENGTH = 36


@dataclass(frozen=True)
class OpenKey:
    id: uuid.UUID
    key_type: KeyType
    secret: str
    revoked: bool


@dataclass(frozen=True)
class ServiceInfo:
    """What the API needs of a service on the hot path."""

    id: uuid.UUID
    name: str
    active: bool
    sms_sender: str | None
    email_from: str | None
    email_reply_domain: str | None
    daily_limit: int = 250_000
    rate_limit_per_minute: int | None = None  # None: GATEWAY_API_RATE_LIMIT_PER_MINUTE


@dataclass(frozen=True)
class Caller:
    """An authenticated API caller: the service and the key it used."""

    service: ServiceInfo
    key_id: uuid.UUID
    key_type: KeyType

    @property
    def service_id(self) -> uuid.UUID:
        return self.service.id


class Keyring:
    """Opened API keys per service, cached briefly."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], vault: Vault) -> None:
        self._sessions = sessions
        self._vault = vault
        self._cache: dict[uuid.UUID, tuple[float, ServiceInfo | None, list[OpenKey]]] = {}

    def forget(self, service_id: uuid.UUID | None = None) -> None:
        if service_id is None:
            self._cache.clear()
        else:
            self._cache.pop(service_id, None)

    async def lookup(self, service_id: uuid.UUID) -> tuple[ServiceInfo | None, list[OpenKey]]:
        now = time.monotonic()
        cached = self._cache.get(service_id)
        if cached and now - cached[0] < CACHE_SECONDS:
            return cached[1], cached[2]
        async with self._sessions() as session:
            service = await session.get(Service, service_id)
            rows = (await session.scalars(select(ApiKey).where(ApiKey.service_id == service_id))).all()
        info = (
            None
            if service is None
            else ServiceInfo(
                service.id,
                service.name,
                service.active,
                service.sms_sender,
                service.email_from,
                service.email_reply_domain,
                service.daily_limit,
                service.rate_limit_per_minute,
            )
        )
        keys = [
            OpenKey(row.id, KeyType(row.key_type), self._vault.open(row.secret_enc), row.revoked_at is not None)
            for row in rows
        ]
        if info is not None:
            # Misses are not cached: any caller can send any `iss`, and a cache of those would grow
            # without bound (and keep refusing a service created a moment later).
            self._cache[service_id] = (now, info, keys)
        return info, keys

    async def authenticate(self, authorization: str | None) -> Caller:
        token = _bearer_token(authorization)
        try:
            unverified = jwt.decode_complete(token, options={"verify_signature": False})  # one parse
        except jwt.PyJWTError:
            raise AuthFailed("Invalid token: signature, api token is not valid") from None
        header, claims = unverified["header"], unverified["payload"]
        if header.get("alg") != "HS256":
            raise AuthFailed("Invalid token: algorithm used is not HS256")
        issuer = claims.get("iss")
        if not issuer:
            raise AuthFailed("Invalid token: iss field not provided")
        try:
            service_id = uuid.UUID(str(issuer))
        except ValueError:
            raise AuthFailed("Invalid token: service id is not the right data type") from None
        service, keys = await self.lookup(service_id)
        if service is None:
            raise AuthFailed("Invalid token: service not found")
        if not keys:
            raise AuthFailed("Invalid token: service has no API keys")
        if not service.active:
            raise AuthFailed("Invalid token: service is archived")
        for key in keys:
            try:
                jwt.decode(token, key.secret, algorithms=["HS256"], options={"verify_iat": False})
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError:
                raise AuthFailed("Invalid token: signature, api token is not valid") from None
            if key.revoked:
                raise AuthFailed("Invalid token: API key revoked")
            _check_issued_at(claims.get("iat"))
            return Caller(service, key.id, key.key_type)
        raise AuthFailed("Invalid token: API key not found")


def _bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise AuthFailed("Unauthorized: authentication token must be provided", status=401)
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthFailed("Unauthorized: authentication bearer scheme must be used", status=401)
    return token.strip()


def _check_issued_at(iat: object) -> None:
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        raise AuthFailed("Invalid token: iat field not provided")
    if abs(time.time() - iat) > CLOCK_SKEW_SECONDS:
        raise AuthFailed("Error: Your system clock must be accurate to within 30 seconds")


def caller(request: web.Request) -> Caller:
    """The authenticated caller of an API request (set by the auth middleware)."""
    from gateway.keys import CALLER

    return request[CALLER]
