"""Staff passwords: argon2id hashing off the event loop, upgrade of old hashes, and the length rule.

An argon2 check costs a few hundred milliseconds of CPU by design, so it always runs in the
loop's thread-pool executor, and at most a few at once (each takes the configured memory).
Unknown email addresses are checked against a dummy hash so that they take as long as a
wrong password and the answer time does not reveal which addresses have accounts.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from gateway.settings import Settings

MIN_LENGTH = 12
MAX_LENGTH = 256


@dataclass(frozen=True, slots=True)
class Verified:
    """The result of a check. `new_hash` is set when the stored hash used older parameters."""

    ok: bool
    new_hash: str | None = None


def password_problem(password: str, email: str = "") -> str | None:
    """Why `password` cannot be used, in words for the person choosing it; None when it is fine."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters: a few unrelated words work well."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    if not password.strip():
        return "The password cannot be only spaces."
    if email and password.strip().lower() == email.strip().lower():
        return "The password cannot be your email address."
    return None


class Passwords:
    """Hashes and checks passwords with one argon2id parameter set (from settings)."""

    def __init__(self, time_cost: int, memory_kib: int, parallelism: int, concurrency: int | None = None) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)
        self._slots = asyncio.Semaphore(concurrency or max(2, os.cpu_count() or 2))
        self._dummy: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Passwords:
        return cls(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)

    def hash_blocking(self, password: str) -> str:
        """Hash on the calling thread: for the CLI and executors only, never on the event loop."""
        return self._hasher.hash(password)

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.get_running_loop().run_in_executor(None, self._hasher.hash, password)

    def _verify_blocking(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def verify(self, stored: str, password: str) -> Verified:
        """Check `password` against `stored`; hash it again when the parameters have changed."""
        async with self._slots:
            ok = await asyncio.get_running_loop().run_in_executor(None, self._verify_blocking, stored, password)
        if not ok:
            return Verified(False)
        try:
            stale = self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            stale = True
        return Verified(True, await self.hash(password) if stale else None)

    async def waste_time(self, password: str) -> None:
        """Spend what a real check costs, for an unknown or locked account."""
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_urlsafe(16))
        await self.verify(self._dummy, password)
