"""Idempotency-Key (an extension; Notify has none): one key, one request, per service and key type.

A key answers for the request it was first used with. The first notification stores a keyed hash
of that request (`request_hash`: channel, normalised recipient, template, personalisation,
reference; canonical JSON through the vault's HMAC, so the hash reveals nothing
about the recipient). A repeat with the same hash gets the first notification again; a repeat with
anything different is a 409, never a silent answer for another message. Keys are scoped to the
service *and the key type*: a key first used with a test key is unknown to a live key, so a live
request is never answered with a test notification that was never sent.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from gateway.crypto import Vault
from gateway.domain import Channel
from gateway.errors import ApiError, BadRequest

IDEMPOTENCY_HEADER = "Idempotency-Key"


class IdempotencyConflict(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(409, "ConflictError", message)


def checked_key(value: str | None) -> str | None:
    """The header's value, or BadRequest: printable ASCII only (it is stored as text, and a header is
    not always valid UTF-8), so no NUL or control character reaches the database."""
    if value is None:
        return None
    if not (1 <= len(value) <= 255 and value.isascii() and value.isprintable()):
        raise BadRequest(f"{IDEMPOTENCY_HEADER} must be 1 to 255 printable ASCII characters")
    return value


def request_hash(
    vault: Vault,
    *,
    channel: Channel,
    recipient: str,
    template_id: uuid.UUID,
    personalisation: dict[str, Any] | None,
    reference: str | None,
) -> str:
    """A keyed hash of the canonical request (sorted keys, normalised recipient)."""
    canonical = orjson.dumps(
        {
            "channel": channel.value,
            "recipient": recipient,
            "template_id": str(template_id),
            "personalisation": personalisation or {},
            "reference": reference,
        },
        option=orjson.OPT_SORT_KEYS,
    )
    return vault.blind_index("idempotency:" + canonical.decode())


def check_same_request(key: str, channel: Channel, first_channel: str, first_hash: str | None, this_hash: str) -> None:
    """Raise unless the repeat is the request the key was first used with."""
    if first_channel != channel.value:
        raise BadRequest(f"{IDEMPOTENCY_HEADER} was already used for an {first_channel} notification")
    # Rows from before migration 0009 have no hash: the channel check is all they can have.
    if first_hash is not None and first_hash != this_hash:
        raise IdempotencyConflict(
            f"{IDEMPOTENCY_HEADER} {key!r} was already used for a different request (recipient, template, "
            "personalisation or reference differ); use a new key for a new message"
        )
