"""Reply addresses for outbound email: `reply+<token>@<reply domain>`.

The token names the notification the email was and carries a keyed MAC (`gateway.signed_ids`), so
an inbound email to a reply address finds its conversation, and a guessed or altered address is
refused at SMTP time. The token also says which address the email was sent to (the notification's
recipient): only a reply from that address may change consent (`handlers.identify`).
"""

from __future__ import annotations

import uuid

from gateway.crypto import Vault
from gateway.signed_ids import read_signed_id, sign_id

LOCAL_PREFIX = "reply+"
PURPOSE = b"reply:"


def make_reply_address(vault: Vault, notification_id: uuid.UUID, domain: str) -> str:
    return f"{LOCAL_PREFIX}{sign_id(vault, PURPOSE, notification_id)}@{domain}"


def parse_reply_address(vault: Vault, address: str) -> uuid.UUID | None:
    """The notification id a reply address stands for, or None if it is not one of ours."""
    local, _, _domain = address.strip().strip("<>").rpartition("@")
    if not local.lower().startswith(LOCAL_PREFIX):
        return None
    return read_signed_id(vault, PURPOSE, local[len(LOCAL_PREFIX) :])
