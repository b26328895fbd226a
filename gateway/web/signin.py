"""The sign-in checks: password, then a code from an authenticator app; lockout and the audit trail.

* Five failures in a row (wrong passwords or wrong codes) lock the account for 15 minutes. A
  password attempt is counted *before* the password is checked, by one conditional UPDATE that
  succeeds only while the account is unlocked and has attempts left, so parallel attempts cannot
  get more than five passwords checked per lockout window (a right password gives its attempt back).
* Unknown email, wrong password and locked account all get the same answer (`FAILED`) after the
  same amount of work (a dummy argon2 check), so the answer does not tell which it was.
* A code is accepted once: the step it belongs to is kept, and only later steps pass after it.
* Every attempt is audited: `login.password`, `login.totp`, `login.totp_enrol`, `login.lockout`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.db import StaffUser
from gateway.db.base import utcnow
from gateway.web import audit, totp
from gateway.web.context import WebSession
from gateway.web.passwords import Passwords

log = structlog.get_logger()

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
FAILED = (
    "The email address or password is not right, or the account is locked for a while after "
    "too many tries. Check them and try again, or ask an administrator."
)


@dataclass(frozen=True, slots=True)
class PasswordPassed:
    """A user whose password was right: the second step comes next."""

    user_id: uuid.UUID
    service_id: uuid.UUID
    has_totp: bool


class CodeResult(StrEnum):
    OK = "ok"
    WRONG = "wrong"
    LOCKED = "locked"


class SignIn:
    """Runs the checks; the page handlers only turn results into pages and cookies."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], passwords: Passwords, vault: Vault) -> None:
        self._sessions = sessions
        self._passwords = passwords
        self._vault = vault

    async def _audit(
        self,
        action: str,
        outcome: str,
        actor: str,
        service_id: uuid.UUID | None,
        source_ip: str | None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        async with self._sessions() as db:
            audit.record(
                db,
                action=action,
                outcome=outcome,
                actor=actor,
                service_id=service_id,
                source_ip=source_ip,
                detail=detail,
            )
            await db.commit()

    async def check_password(self, email: str, password: str, ip: str | None) -> PasswordPassed | None:
        email_key = email.strip().lower()
        async with self._sessions() as db:
            user = await db.scalar(select(StaffUser).where(func.lower(StaffUser.email) == email_key))
        if user is None or not user.active or not user.password_hash:
            await self._passwords.waste_time(password)
            await self._audit(
                action="login.password",
                outcome="unknown_user" if user is None else "inactive",
                actor=audit.ANONYMOUS if user is None else audit.staff_actor(user.id),
                service_id=None if user is None else user.service_id,
                source_ip=ip,
                detail={"email_index": self._vault.blind_index(email_key)} if user is None else None,
            )
            return None
        actor = audit.staff_actor(user.id)
        if _locked(user):
            await self._passwords.waste_time(password)
            await self._audit(
                action="login.password", outcome="locked", actor=actor, service_id=user.service_id, source_ip=ip
            )
            return None
        counted = await self._claim_attempt(user.id)
        if counted is None:  # locked, or the attempts left are all in flight right now
            await self._passwords.waste_time(password)
            await self._audit(
                action="login.password", outcome="locked", actor=actor, service_id=user.service_id, source_ip=ip
            )
            return None
        verified = await self._passwords.verify(user.password_hash, password)
        if not verified.ok:
            await self.register_failure(user.id, user.service_id, ip, "login.password", "failure", counted=counted)
            return None
        async with self._sessions() as db:  # a right password: its attempt does not count against them
            await db.execute(
                update(StaffUser)
                .where(StaffUser.id == user.id, StaffUser.failed_logins > 0)
                .values(failed_logins=StaffUser.failed_logins - 1)
            )
            await db.commit()
        async with self._sessions() as db:
            # Read again: failures running in parallel with this check may have locked the account.
            fresh = await db.get(StaffUser, user.id, populate_existing=True)
            if fresh is None or _locked(fresh):
                audit.record(
                    db, action="login.password", outcome="locked", actor=actor, service_id=user.service_id, source_ip=ip
                )
                await db.commit()
                return None
            if verified.new_hash:
                fresh.password_hash = verified.new_hash
            audit.record(
                db,
                action="login.password",
                actor=actor,
                service_id=user.service_id,
                source_ip=ip,
                detail={"rehashed": True} if verified.new_hash else None,
            )
            await db.commit()
            return PasswordPassed(user.id, user.service_id, fresh.totp_secret_enc is not None)

    async def _claim_attempt(self, user_id: uuid.UUID) -> int | None:
        """Count one attempt up front, atomically: the new count, or None when locked or none are left."""
        now = utcnow()
        async with self._sessions() as db:
            count = await db.scalar(
                update(StaffUser)
                .where(
                    StaffUser.id == user_id,
                    or_(StaffUser.locked_until.is_(None), StaffUser.locked_until <= now),
                    StaffUser.failed_logins < MAX_FAILURES,
                )
                .values(failed_logins=StaffUser.failed_logins + 1)
                .returning(StaffUser.failed_logins)
            )
            await db.commit()
        return None if count is None else int(count)

    async def register_failure(
        self,
        user_id: uuid.UUID,
        service_id: uuid.UUID,
        ip: str | None,
        action: str,
        outcome: str,
        *,
        counted: int | None = None,
    ) -> bool:
        """Count a failed attempt (unless `counted` says it was counted already, as password attempts
        are); lock the account at the fifth. True when it is now locked."""
        now = utcnow()
        actor = audit.staff_actor(user_id)
        async with self._sessions() as db:
            if counted is None:
                count = await db.scalar(
                    update(StaffUser)
                    .where(StaffUser.id == user_id)
                    .values(failed_logins=StaffUser.failed_logins + 1)
                    .returning(StaffUser.failed_logins)
                )
                failures = int(count or 0)
            else:
                failures = counted
            audit.record(
                db,
                action=action,
                outcome=outcome,
                actor=actor,
                service_id=service_id,
                source_ip=ip,
                detail={"failures": failures},
            )
            locked = failures >= MAX_FAILURES
            if locked:
                until = now + LOCKOUT
                await db.execute(
                    update(StaffUser).where(StaffUser.id == user_id).values(locked_until=until, failed_logins=0)
                )
                audit.record(
                    db,
                    action="login.lockout",
                    outcome="locked",
                    actor=actor,
                    service_id=service_id,
                    source_ip=ip,
                    detail={"until": until.isoformat(), "after": action},
                )
                log.warning("staff_locked_out", staff_id=str(user_id), until=until.isoformat())
            await db.commit()
        return locked

    async def check_code(self, session: WebSession, code: str, ip: str | None) -> CodeResult:
        """The second step for a user with an authenticator already set up."""
        async with self._sessions() as db:
            user = await db.get(StaffUser, session.staff_id)
        if user is None or not user.active or user.totp_secret_enc is None:
            return CodeResult.LOCKED
        actor = audit.staff_actor(user.id)
        if _locked(user):
            await self._audit(
                action="login.totp", outcome="locked", actor=actor, service_id=user.service_id, source_ip=ip
            )
            return CodeResult.LOCKED
        step = totp.matching_step(self._vault.open(user.totp_secret_enc), code)
        if step is not None:
            async with self._sessions() as db:
                now = utcnow()
                result = await db.execute(
                    update(StaffUser)
                    .where(
                        StaffUser.id == user.id,
                        or_(StaffUser.totp_last_step.is_(None), StaffUser.totp_last_step < step),
                        or_(StaffUser.locked_until.is_(None), StaffUser.locked_until <= now),
                    )
                    .values(totp_last_step=step, failed_logins=0, locked_until=None)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    audit.record(db, action="login.totp", actor=actor, service_id=user.service_id, source_ip=ip)
                    await db.commit()
                    return CodeResult.OK
        outcome = "failure" if step is None else "replayed"
        locked = await self.register_failure(user.id, user.service_id, ip, "login.totp", outcome)
        return CodeResult.LOCKED if locked else CodeResult.WRONG

    async def confirm_enrolment(self, session: WebSession, code: str, ip: str | None) -> bool:
        """Finish setting up an authenticator: the code must come from the secret just shown."""
        sealed = session.pending_totp_secret_enc
        if sealed is None:
            return False
        step = totp.matching_step(self._vault.open(sealed), code)
        actor = audit.staff_actor(session.staff_id)
        async with self._sessions() as db:
            ok = False
            if step is not None:
                now = utcnow()
                result = await db.execute(
                    update(StaffUser)
                    .where(
                        StaffUser.id == session.staff_id,
                        StaffUser.totp_secret_enc.is_(None),
                        StaffUser.active.is_(True),
                        or_(StaffUser.locked_until.is_(None), StaffUser.locked_until <= now),
                    )
                    .values(totp_secret_enc=sealed, totp_last_step=step, failed_logins=0, locked_until=None)
                )
                ok = result.rowcount == 1  # type: ignore[attr-defined]
            audit.record(
                db,
                action="login.totp_enrol",
                outcome="ok" if ok else "failure",
                actor=actor,
                service_id=session.service_id,
                source_ip=ip,
            )
            await db.commit()
        return ok


def _locked(user: StaffUser) -> bool:
    return user.locked_until is not None and user.locked_until > utcnow()
