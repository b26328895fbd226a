"""Staff accounts: create, unlock, reset two-factor sign-in, change password.

Shared by `gateway staff create` and the admin and account pages. Each action adds its audit
row to the caller's database session, so the change and its record commit together. Email
addresses are stored lower-cased: sign-in looks them up that way.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import Service, StaffUser
from gateway.domain import Role
from gateway.recipients import InvalidRecipient, normalise_email
from gateway.web import audit
from gateway.web.passwords import password_problem


class StaffProblems(ValueError):
    """What is wrong with a new account, one line per problem, for the form or the terminal."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def check_new_staff(email: str, name: str, roles: Sequence[str], password: str) -> tuple[str, str, list[str]]:
    """Validate a new account; returns the email, name and roles to store, or raises StaffProblems."""
    problems: list[str] = []
    try:
        email = normalise_email(email).lower()
    except InvalidRecipient:
        problems.append("Enter a valid email address, like name@agency.gov.")
    name = " ".join(name.split())
    if not name or len(name) > 255:
        problems.append("Enter a name of 1 to 255 characters.")
    known = [role.value for role in Role]
    unknown = [r for r in roles if r not in known]
    if unknown:
        problems.append(f"Unknown role {unknown[0]!r}: roles are {', '.join(known)}.")
    elif not roles:
        problems.append("Choose at least one role.")
    problem = password_problem(password, email)
    if problem:
        problems.append(f"Password: {problem}")
    if problems:
        raise StaffProblems(problems)
    return email, name, sorted(set(roles), key=known.index)


async def email_taken(db: AsyncSession, email: str) -> bool:
    found = await db.scalar(select(StaffUser.id).where(func.lower(StaffUser.email) == email.lower()))
    return found is not None


async def add_staff(
    db: AsyncSession,
    *,
    service_id: uuid.UUID,
    email: str,
    name: str,
    roles: list[str],
    password_hash: str,
    actor: str,
    source_ip: str | None = None,
) -> StaffUser:
    """Insert a checked account (see `check_new_staff`); raises StaffProblems for a bad service or email."""
    if await db.get(Service, service_id) is None:
        raise StaffProblems([f"No service with id {service_id}."])
    if await email_taken(db, email):
        raise StaffProblems(["An account with that email address already exists."])
    user = StaffUser(service_id=service_id, email=email, name=name, roles=roles, password_hash=password_hash)
    db.add(user)
    await db.flush()
    audit.record(
        db,
        action="staff.create",
        actor=actor,
        service_id=service_id,
        source_ip=source_ip,
        target=str(user.id),
        detail={"roles": roles},
    )
    return user


def unlock(db: AsyncSession, user: StaffUser, actor: str, source_ip: str | None) -> None:
    """Clear failed attempts and any lockout."""
    user.failed_logins = 0
    user.locked_until = None
    audit.record(
        db, action="staff.unlock", actor=actor, service_id=user.service_id, source_ip=source_ip, target=str(user.id)
    )


def reset_totp(db: AsyncSession, user: StaffUser, actor: str, source_ip: str | None) -> None:
    """Forget the authenticator: the user sets up a new one at their next sign-in.

    The caller also ends the user's sessions (`SessionStore.end_all_for`).
    """
    user.totp_secret_enc = None
    user.totp_last_step = None
    audit.record(
        db, action="staff.totp_reset", actor=actor, service_id=user.service_id, source_ip=source_ip, target=str(user.id)
    )


def set_password(db: AsyncSession, user: StaffUser, password_hash: str, source_ip: str | None) -> None:
    """Store a new password hash the user chose (see `password_problem`)."""
    user.password_hash = password_hash
    audit.record(
        db,
        action="staff.password_change",
        actor=audit.staff_actor(user.id),
        service_id=user.service_id,
        source_ip=source_ip,
        target=str(user.id),
    )
