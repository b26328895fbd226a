"""CSRF tokens: every form carries one, and every state-changing request must send it back.

A token is an HMAC (keyed by the vault's session key) of the value the browser's cookie holds:
the session id once a password has been checked, or a random "pre-session" value before that
(the sign-in form). So a token cannot be computed without the cookie, needs no storage, and
changes whenever the session does. Forms send it as the `csrf_token` field; scripts may send the
`X-CSRF-Token` header instead.
"""

from __future__ import annotations

import base64
import hmac
import secrets

from aiohttp import web

FORM_FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def csrf_token(key: bytes, purpose: str, cookie_value: str) -> str:
    """The token for a cookie value; `purpose` keeps session and pre-session tokens apart."""
    digest = hmac.new(key, f"csrf\0{purpose}\0{cookie_value}".encode(), "sha256").digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def new_pre_session_value() -> str:
    return secrets.token_urlsafe(32)


async def submitted_token(request: web.Request) -> str | None:
    """The token a request carries: the header, else the form field (the form is read once and cached)."""
    header = request.headers.get(HEADER)
    if header:
        return header
    if request.content_type in FORM_TYPES:
        value = (await request.post()).get(FORM_FIELD)
        return value if isinstance(value, str) else None
    return None


def token_ok(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
