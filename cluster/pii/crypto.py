"""AES-256-GCM sealing, key derivation and the email blind index (``cryptography``)."""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from domain.pii import index_form

NONCE_BYTES = 12
KEY_BYTES = 32


class SealBroken(Exception):
    """Authentication failed: wrong key, tampered bytes or other associated data."""


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    if len(sealed) < NONCE_BYTES + 16:
        raise SealBroken("too short")
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except InvalidTag as exc:
        raise SealBroken("authentication failed") from exc


def derive(secret: str, label: str) -> bytes:
    """A 32-byte key for one purpose; distinct labels give independent keys."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=label.encode())
    return hkdf.derive(secret.encode())


class BlindIndex:
    """HMAC-SHA256 over the trimmed, case-folded email, under the index's own key: equal
    addresses give equal digests (login, uniqueness) and the digest reveals nothing
    without the key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("blind index key must be at least 32 bytes")
        self._key = key

    def of(self, email: str) -> str:
        return hmac.new(self._key, index_form(email).encode(), hashlib.sha256).hexdigest()
