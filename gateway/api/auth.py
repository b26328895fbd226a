"""API authentication exactly as GOV.UK Notify does it.

A key is `{name}-{service_id}-{secret}`. Each request carries `Authorization: Bearer <JWT>`,
HS256-signed with the secret, `iss` = service id, `iat` within 30 seconds of now. The secret is
kept sealed in the database; the `Keyring` caches a service's opened keys for a few seconds so
the hot path does not decrypt or query on every request.

How soon changes are seen:

* **A new key works at once.** A token that matches no cached key of a known service reloads
  that service's keys before it is refused, so a key made a moment ago (by the CLI, the admin
  page or another process) is found. Likewise a service id not in the cache is looked up.
* **Revoking takes effect within `CACHE_SECONDS` (5 s) in every process**, and at once in the
  process that revoked (the admin page calls `forget`). Nothing is pushed between processes:
  the cache simply expires.
* **A flood of bad tokens cannot turn into a flood of queries.** Misses are never cached (a cache
  of attacker-chosen ids would grow without bound), so reloads are throttled instead: one reload
  per known service, and one of the set of service ids for unknown ones, at most every
  `RELOAD_EVERY_SECONDS` (0.2 s), single-flight. A miss waits for the next reload that starts
  after it arrived (at most 0.2 s) and shares it; so the database sees at most five such queries
  a second per known service plus five for all unknown ids together, whatever the attacker sends.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import jwt
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import keys
from gateway.api.key_usage import KeyUsage
from gateway.crypto import Vault
from gateway.db import ApiKey, Service
from gateway.domain import KeyType
from gateway.errors import AuthFailed
from gateway.sendtime.ratelimit import Admitted, admit_send

CLOCK_SKEW_SECONDS = 30
CACHE_SECONDS = 5.0
RELOAD_EVERY_SECONDS = 0.2
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


def admit_api_send(request: web.Request) -> AbstractAsyncContextManager[Admitted]:
    """The calling key's rate limit and its service's daily limit for one send (`gateway.sendtime.ratelimit`)."""
    app, who = request.app, caller(request)
    return admit_send(
        app[keys.RATE_LIMITER],
        app[keys.SESSIONS],
        key_id=who.key_id,
        key_type=who.key_type,
        per_minute=who.service.rate_limit_per_minute or app[keys.SETTINGS].api_rate_limit_per_minute,
        service_id=who.service_id,
        daily_limit=who.service.daily_limit,
    )


class Keyring:
    """Opened API keys per service, cached briefly; misses reload, throttled (see the module doc)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], vault: Vault, usage: KeyUsage | None = None) -> None:
        self._sessions = sessions
        self._vault = vault
        self.usage = usage
        # service id -> (monotonic time its load started, service, keys)
        self._cache: dict[uuid.UUID, tuple[float, ServiceInfo, list[OpenKey]]] = {}
        self._reloading: dict[uuid.UUID, asyncio.Lock] = {}  # only for services that exist: bounded
        self._service_ids: frozenset[uuid.UUID] = frozenset()
        self._service_ids_at = float("-inf")
        self._service_ids_lock = asyncio.Lock()

    def forget(self, service_id: uuid.UUID | None = None) -> None:
        if service_id is None:
            self._cache.clear()
        else:
            self._cache.pop(service_id, None)

    async def lookup(self, service_id: uuid.UUID) -> tuple[ServiceInfo | None, list[OpenKey]]:
        """A service and its keys: from the cache while fresh, else from the database."""
        cached = self._cache.get(service_id)
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1], cached[2]
        if cached is None and not await self._may_exist(service_id):
            return None, []
        return await self._load(service_id)

    async def _load(self, service_id: uuid.UUID) -> tuple[ServiceInfo | None, list[OpenKey]]:
        started = time.monotonic()
        async with self._sessions() as session:
            service = await session.get(Service, service_id)
            rows = (await session.scalars(select(ApiKey).where(ApiKey.service_id == service_id))).all()
        if service is None:
            self._cache.pop(service_id, None)
            return None, []
        info = ServiceInfo(
            service.id,
            service.name,
            service.active,
            service.sms_sender,
            service.email_from,
            service.email_reply_domain,
            service.daily_limit,
            service.rate_limit_per_minute,
        )
        keys = [
            OpenKey(row.id, KeyType(row.key_type), self._vault.open(row.secret_enc), row.revoked_at is not None)
            for row in rows
        ]
        self._cache[service_id] = (started, info, keys)
        return info, keys

    async def _may_exist(self, service_id: uuid.UUID) -> bool:
        """Whether `service_id` is a service, from a set of all ids reloaded at most every 0.2 s."""
        if service_id in self._service_ids:
            return True
        arrived = time.monotonic()
        async with self._service_ids_lock:
            if self._service_ids_at < arrived:  # no reload began since this miss arrived: run one
                await _wait_until(self._service_ids_at + RELOAD_EVERY_SECONDS)
                started = time.monotonic()
                async with self._sessions() as session:
                    self._service_ids = frozenset((await session.scalars(select(Service.id))).all())
                self._service_ids_at = started
        return service_id in self._service_ids

    async def _reload_after_miss(self, service_id: uuid.UUID, arrived: float) -> list[OpenKey]:
        """The service's keys as of a load that began after `arrived` (throttled, single-flight)."""
        lock = self._reloading.setdefault(service_id, asyncio.Lock())
        async with lock:
            cached = self._cache.get(service_id)
            if cached is not None and cached[0] >= arrived:
                return cached[2]
            await _wait_until((cached[0] if cached else float("-inf")) + RELOAD_EVERY_SECONDS)
            return (await self._load(service_id))[1]

    async def authenticate(self, authorization: str | None) -> Caller:
        arrived = time.monotonic()
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
        key = _matching(token, keys)
        if key is None and self._cache.get(service_id, (arrived,))[0] < arrived:
            keys = await self._reload_after_miss(service_id, arrived)  # a key made since the cache was filled
            key = _matching(token, keys)
        if not keys:
            raise AuthFailed("Invalid token: service has no API keys")
        if not service.active:
            raise AuthFailed("Invalid token: service is archived")
        if key is None:
            raise AuthFailed("Invalid token: API key not found")
        if key.revoked:
            raise AuthFailed("Invalid token: API key revoked")
        _check_issued_at(claims.get("iat"))
        if self.usage is not None:
            self.usage.seen(key.id)
        return Caller(service, key.id, key.key_type)


def _matching(token: str, keys: list[OpenKey]) -> OpenKey | None:
    """The key whose secret signed `token`, or None."""
    for key in keys:
        try:
            jwt.decode(token, key.secret, algorithms=["HS256"], options={"verify_iat": False})
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError:
            raise AuthFailed("Invalid token: signature, api token is not valid") from None
        return key
    return None


async def _wait_until(when: float) -> None:
    delay = when - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


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
