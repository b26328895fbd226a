"""Server-side staff sessions: start, load (with idle and absolute expiry), end, and the cookie.

The browser's cookie holds 32 random bytes; the `staff_sessions` row is keyed by their SHA-256.
A session is dropped when it has been idle longer than `GATEWAY_SESSION_IDLE_MINUTES`, when it
is older than `GATEWAY_SESSION_MAX_HOURS`, or when its user is deactivated. Half-finished
sign-ins (password checked, code not yet) last at most `PARTIAL_MINUTES`.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto import sha256_hex
from gateway.db import Service, StaffUser
from gateway.db.base import utcnow
from gateway.db.staff_sessions import StaffSession
from gateway.domain import ServiceKind
from gateway.settings import Settings
from gateway.web.context import ServiceInfo, StaffContext, Stage, WebSession, parse_roles
from gateway.web.csrf import csrf_token

COOKIE = "gw_session"
PRE_COOKIE = "gw_pre"
PARTIAL_MINUTES = 15
# last_seen_at is written at most this often, so browsing is not a database write per page
TOUCH_EVERY = timedelta(seconds=60)
_MAX_COOKIE = 128


@dataclass(frozen=True, slots=True)
class Loaded:
    """A live session and, when it is fully signed in, its staff member."""

    session: WebSession
    staff: StaffContext | None


def hash_session_id(raw: str) -> str:
    return sha256_hex(raw.encode())


class SessionStore:
    """Sessions in the database; the only code that reads or writes `staff_sessions`."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], key: bytes, settings: Settings) -> None:
        self._sessions = sessions
        self._key = key
        self.idle = timedelta(minutes=settings.session_idle_minutes)
        self.absolute = timedelta(hours=settings.session_max_hours)
        self.secure = settings.secure_cookies

    def csrf_for(self, raw: str) -> str:
        return csrf_token(self._key, "session", raw)

    def pre_csrf_for(self, pre_value: str) -> str:
        """The token for forms shown before sign-in, bound to the pre-session cookie."""
        return csrf_token(self._key, "pre", pre_value)

    async def start(
        self,
        staff_id: uuid.UUID,
        service_id: uuid.UUID,
        stage: Stage,
        source_ip: str | None,
        pending_totp_secret_enc: str | None = None,
    ) -> str:
        """Create a session and return the id for the cookie (shown nowhere else, stored only hashed)."""
        raw = secrets.token_urlsafe(32)
        now = utcnow()
        lifetime = self.absolute if stage is Stage.FULL else timedelta(minutes=PARTIAL_MINUTES)
        async with self._sessions() as db:
            # Expired rows are cleared here rather than by a timer: sign-in is rare enough.
            await db.execute(delete(StaffSession).where(StaffSession.expires_at < now))
            db.add(
                StaffSession(
                    id_hash=hash_session_id(raw),
                    staff_id=staff_id,
                    service_id=service_id,
                    stage=stage.value,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + lifetime,
                    source_ip=source_ip,
                    pending_totp_secret_enc=pending_totp_secret_enc,
                )
            )
            await db.commit()
        return raw

    async def load(self, raw: str) -> Loaded | None:
        """The live session for a cookie value, or None (and the row is gone) when it has expired."""
        if not raw or len(raw) > _MAX_COOKIE:
            return None
        id_hash = hash_session_id(raw)
        now = utcnow()
        async with self._sessions() as db:
            row = (
                await db.execute(
                    select(StaffSession, StaffUser, Service)
                    .join(StaffUser, StaffUser.id == StaffSession.staff_id)
                    .join(Service, Service.id == StaffUser.service_id)
                    .where(StaffSession.id_hash == id_hash)
                )
            ).one_or_none()
            if row is None:
                return None
            stored, user, service = row
            expired = now >= stored.expires_at or now - stored.last_seen_at > self.idle
            if expired or not user.active or stored.service_id != user.service_id:
                await db.execute(delete(StaffSession).where(StaffSession.id_hash == id_hash))
                await db.commit()
                return None
            if now - stored.last_seen_at >= TOUCH_EVERY:
                await db.execute(update(StaffSession).where(StaffSession.id_hash == id_hash).values(last_seen_at=now))
                await db.commit()
        session = WebSession(
            id_hash=id_hash,
            staff_id=user.id,
            service_id=service.id,
            stage=Stage(stored.stage),
            csrf_token=self.csrf_for(raw),
            pending_totp_secret_enc=stored.pending_totp_secret_enc,
        )
        if session.stage is not Stage.FULL:
            return Loaded(session, None)
        staff = StaffContext(
            session=session,
            user_id=user.id,
            name=user.name,
            email=user.email,
            roles=parse_roles(list(user.roles or [])),
            service=ServiceInfo(service.id, service.name, ServiceKind(service.kind), service.timezone),
        )
        return Loaded(session, staff)

    async def set_pending_secret(self, id_hash: str, sealed: str) -> None:
        async with self._sessions() as db:
            await db.execute(
                update(StaffSession).where(StaffSession.id_hash == id_hash).values(pending_totp_secret_enc=sealed)
            )
            await db.commit()

    async def end(self, id_hash: str) -> None:
        async with self._sessions() as db:
            await db.execute(delete(StaffSession).where(StaffSession.id_hash == id_hash))
            await db.commit()

    async def end_all_for(self, staff_id: uuid.UUID, keep: str | None = None) -> None:
        """Sign a user out everywhere (except, optionally, the session `keep`)."""
        query = delete(StaffSession).where(StaffSession.staff_id == staff_id)
        if keep is not None:
            query = query.where(StaffSession.id_hash != keep)
        async with self._sessions() as db:
            await db.execute(query)
            await db.commit()

    def set_cookie(self, response: web.StreamResponse, name: str, value: str) -> None:
        """A browser-session cookie (no Max-Age): gone when the browser closes; the server enforces expiry."""
        response.set_cookie(name, value, path="/", httponly=True, samesite="Lax", secure=self.secure)

    def clear_cookie(self, response: web.StreamResponse, name: str) -> None:
        response.del_cookie(name, path="/", httponly=True, samesite="Lax", secure=self.secure)
