"""Reply addresses for outbound email: `reply+<token>@<reply domain>`.

The token names the notification the email was and carries a keyed MAC, so an inbound email to
a reply address finds its conversation, and a guessed or altered address is refused at SMTP time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

from gateway.crypto import Vault

LOCAL_PREFIX = "reply+"
_MAC_BYTES = 10


def _mac(vault: Vault, notification_id: uuid.UUID) -> bytes:
    return hmac.new(vault.session_key, b"reply:" + notification_id.bytes, hashlib.sha256).digest()[:_MAC_BYTES]


def make_reply_address(vault: Vault, notification_id: uuid.UUID, domain: str) -> str:
    token = base64.b32encode(notification_id.bytes + _mac(vault, notification_id)).decode().rstrip("=").lower()
    return f"{LOCAL_PREFIX}{token}@{domain}"


def parse_reply_address(vault: Vault, address: str) -> uuid.UUID | None:
    """The notification id a reply address stands for, or None if it is not one of ours."""
    local, _, _domain = address.strip().strip("<>").rpartition("@")
    if not local.lower().startswith(LOCAL_PREFIX):
        return None
    token = local[len(LOCAL_PREFIX) :].upper()
    try:
        raw = base64.b32decode(token + "=" * (-len(token) % 8))
    except ValueError:
        return None
    if len(raw) != 16 + _MAC_BYTES:
        return None
    notification_id = uuid.UUID(bytes=raw[:16])
    if not hmac.compare_digest(raw[16:], _mac(vault, notification_id)):
        return None
    return notification_id
