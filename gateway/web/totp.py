"""Time-based one-time codes (RFC 6238, via pyotp): new secrets, the otpauth URI, and checking a code.

A code is accepted for the current 30-second step and one step either side (clock drift), and
`matching_step` says which step matched so the caller can refuse the same code twice.
"""

from __future__ import annotations

import hmac
import re
import time

import pyotp

DIGITS = 6
_CODE = re.compile(r"^[0-9]{6}$")


def new_secret() -> str:
    """A fresh base32 secret (160 bits, as authenticator apps expect)."""
    return pyotp.random_base32(32)


def grouped(secret: str) -> str:
    """The secret in groups of four, easier to type into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The `otpauth://` URI an authenticator app reads (usually from a QR code)."""
    return pyotp.TOTP(secret, digits=DIGITS).provisioning_uri(name=account, issuer_name=issuer)


def normalise_code(raw: str) -> str | None:
    """The six digits of a typed code (spaces and dashes ignored), or None when it is not one."""
    code = re.sub(r"[\s-]", "", raw)
    return code if _CODE.match(code) else None


def current_step(now: float | None = None) -> int:
    return int(time.time() if now is None else now) // 30


def matching_step(secret: str, raw_code: str, now: float | None = None) -> int | None:
    """The time step whose code `raw_code` is (current step ± 1), or None when it matches none."""
    code = normalise_code(raw_code)
    if code is None:
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS)
    step = current_step(now)
    for candidate in (step - 1, step, step + 1):
        if hmac.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None
