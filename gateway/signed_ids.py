"""Ids the gateway hands out in addresses and links, signed so they cannot be guessed or altered.

A token is base32 (lower case, no padding) of the id's 16 bytes and a keyed MAC (HMAC-SHA256 under
the vault's session key, cut to 10 bytes) over a purpose and the id. The purpose keeps one kind of
token from working as another: a reply address (`reply:`) is no unsubscribe link (`unsubscribe:`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

from gateway.crypto import Vault

_MAC_BYTES = 10


def _mac(vault: Vault, purpose: bytes, value: uuid.UUID) -> bytes:
    return hmac.new(vault.session_key, purpose + value.bytes, hashlib.sha256).digest()[:_MAC_BYTES]


def sign_id(vault: Vault, purpose: bytes, value: uuid.UUID) -> str:
    """The token for `value`, for `purpose` (e.g. b"reply:")."""
    return base64.b32encode(value.bytes + _mac(vault, purpose, value)).decode().rstrip("=").lower()


def read_signed_id(vault: Vault, purpose: bytes, token: str) -> uuid.UUID | None:
    """The id a token stands for, or None if it is not one of ours for this purpose."""
    text = token.strip().upper()
    if not text or len(text) > 64:
        return None
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except ValueError:
        return None
    if len(raw) != 16 + _MAC_BYTES or base64.b32encode(raw).decode().rstrip("=") != text:
        return None  # also refuses a spelling that differs only in the last character's unused bits
    value = uuid.UUID(bytes=raw[:16])
    if not hmac.compare_digest(raw[16:], _mac(vault, purpose, value)):
        return None
    return value
