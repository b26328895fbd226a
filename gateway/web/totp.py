"""Time-based one-time codes (RFC 6238, via pyotp): new secrets, the otpauth URI and its QR code, checking a code.

A code is accepted for the current 30-second step and one step either side (clock drift), and
`matching_step` says which step matched so the caller can refuse the same code twice.
"""

from __future__ import annotations

import hmac
import re
import time

import pyotp
import segno
from markupsafe import Markup

DIGITS = 6
_CODE = re.compile(r"^[0-9]{6}$")
QR_LABEL = "QR code of the setup link, to scan with an authenticator app"


def new_secret() -> str:
    """A fresh base32 secret (160 bits, as authenticator apps expect)."""
    return pyotp.random_base32(32)


def grouped(secret: str) -> str:
    """The secret in groups of four, easier to type into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The `otpauth://` URI an authenticator app reads (usually from a QR code)."""
    return pyotp.TOTP(secret, digits=DIGITS).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> Markup:
    """`uri` as a QR code: an inline `<svg>` element for the enrolment page (no script, no image request).

    segno draws the data as dark modules and never writes it out as text; the only text in the
    SVG is the fixed `QR_LABEL`, so the email address and service name inside the URI cannot add
    markup, and only segno's own output is marked safe. Always a full QR code (never a Micro QR,
    which authenticator apps do not read), error correction M or better, black on white with the
    quiet zone so it scans on any page background.
    """
    svg = segno.make_qr(uri, error="m").svg_inline(
        scale=4, dark="#000", light="#fff", title=QR_LABEL, svgclass="qr", lineclass="qr-modules"
    )
    if not svg.startswith("<svg "):
        raise ValueError("segno did not return an <svg> element")
    return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{QR_LABEL}" ', 1))


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
