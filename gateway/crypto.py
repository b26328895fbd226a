"""Encryption of secrets and personal data at rest, and keyed hashes for looking them up.

One `Vault` per process, built from `GATEWAY_SECRET_KEY`. Values are AES-256-GCM sealed
(`v1.` + base64 of nonce and ciphertext); `blind_index` is an HMAC-SHA256 so a phone number
can be found without being stored in the clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PREFIX = "v1."


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=b"cj-gateway", info=purpose).derive(secret.encode())


class Vault:
    """Seals and opens values with keys derived from the gateway's secret key."""

    def __init__(self, secret: str) -> None:
        self._aead = AESGCM(_derive(secret, b"encrypt-at-rest"))
        self._index_key = _derive(secret, b"blind-index")
        self.session_key = _derive(secret, b"sessions")

    def seal(self, plaintext: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), None)
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, token: str) -> str:
        if not token.startswith(_PREFIX):
            raise ValueError("not a sealed value")
        raw = base64.urlsafe_b64decode(token[len(_PREFIX) :])
        return self._aead.decrypt(raw[:12], raw[12:], None).decode()

    def seal_optional(self, plaintext: str | None) -> str | None:
        return None if plaintext is None else self.seal(plaintext)

    def open_optional(self, token: str | None) -> str | None:
        return None if token is None else self.open(token)

    def blind_index(self, value: str) -> str:
        """A stable keyed hash of a normalised value (E.164 phone, lower-cased email)."""
        return hmac.new(self._index_key, value.encode(), hashlib.sha256).hexdigest()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
