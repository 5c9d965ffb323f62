"""Field-level encryption of PII: every PII field is written and read through a ``FieldCipher``.

``PiiCipher`` seals with AES-256-GCM under the key ring's write key and stores
``pii1.<key id>.<sealed>`` (see ``domain.pii``); ``context`` is ``table|column|row id``
and is the associated data, so a ciphertext copied to another row or column fails. A
field that does not decrypt raises ``PiiUnreadable`` (a typed error; the API answers
``/problems/pii-unreadable``), counts in ``elson_pii_unreadable_total`` and is logged
with its table, column and row id only. ``IdentityCipher`` (plaintext) remains for unit
tests of code that does not care about encryption.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from cluster import metrics
from cluster.pii.crypto import SealBroken, open_sealed, seal
from cluster.pii.keyring import Keyring, KeyUnavailable
from domain.pii import FieldRef, PiiUnreadable, decode, encode

log = logging.getLogger(__name__)


class FieldCipher(Protocol):
    @property
    def key_id(self) -> str: ...

    def encrypt(self, plaintext: str, *, context: str) -> str: ...

    def decrypt(self, stored: str, *, context: str) -> str: ...


class IdentityCipher:
    """No encryption (unit tests of code that does not care)."""

    key_id = "identity"

    def encrypt(self, plaintext: str, *, context: str) -> str:
        return plaintext

    def decrypt(self, stored: str, *, context: str) -> str:
        return stored


def seal_in(conn: Any, cipher: FieldCipher, plaintext: str, *, context: str) -> str:
    """Encrypt inside the caller's transaction when the cipher can (``PiiCipher``)."""
    if isinstance(cipher, PiiCipher):
        return cipher.encrypt_in(conn, plaintext, context=context)
    return cipher.encrypt(plaintext, context=context)


def unreadable_total() -> metrics._Metric:
    return metrics.counter(
        "elson_pii_unreadable_total",
        "PII fields that failed to decrypt (wrong key, tampering, retired version)",
        ("table", "column", "reason"),
    )


class PiiCipher:
    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    @property
    def key_id(self) -> str:
        """The current write key (what a row written now records)."""
        return self.keyring.write_key()[0]

    def encrypt(self, plaintext: str, *, context: str) -> str:
        key_id, dek = self.keyring.write_key()
        return self.encrypt_with(key_id, dek, plaintext, context=context)

    def encrypt_in(self, conn: Any, plaintext: str, *, context: str) -> str:
        """Encrypt under the write key held in the caller's transaction (see
        ``keyring.active_id``): the row written cannot land on a version that a
        concurrent rotation has just replaced."""
        key_id, dek = self.keyring.write_key_in(conn)
        return self.encrypt_with(key_id, dek, plaintext, context=context)

    @staticmethod
    def encrypt_with(key_id: str, dek: bytes, plaintext: str, *, context: str) -> str:
        ref = FieldRef.parse(context)
        return encode(key_id, seal(dek, plaintext.encode(), ref.aad()))

    def decrypt(self, stored: str, *, context: str) -> str:
        ref = FieldRef.parse(context)
        try:
            key_id, sealed = decode(stored)
        except ValueError:
            raise self._fail(ref, "malformed") from None
        try:
            dek = self.keyring.key(key_id)
        except KeyUnavailable as exc:
            reason = "retired" if exc.reason == "retired" else "key-unavailable"
            raise self._fail(ref, reason) from None
        try:
            return open_sealed(dek, sealed, ref.aad()).decode()
        except (SealBroken, UnicodeDecodeError):
            raise self._fail(ref, "authentication") from None

    @staticmethod
    def _fail(ref: FieldRef, reason: str) -> PiiUnreadable:
        unreadable_total().inc(tags={"table": ref.table, "column": ref.column, "reason": reason})
        log.error(
            "pii field unreadable: table=%s column=%s row=%s reason=%s",
            ref.table,
            ref.column,
            ref.row_id,
            reason,
        )
        return PiiUnreadable(ref, reason)
