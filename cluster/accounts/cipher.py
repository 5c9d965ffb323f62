"""The seam for field-level encryption of PII.

Profiles store each PII field as text written through a ``FieldCipher``. Today the only
implementation is ``IdentityCipher`` (plaintext, key id ``identity``), used in every
environment; a later issue adds an AES-GCM cipher keyed by ``ELSON_PII_KEY`` (or Vault
transit) and binds ``context`` (``"<profile id>:<column>"``) as associated data so a
ciphertext copied to another row or column fails to decrypt. ``profiles.cipher`` records
which cipher wrote a row, so a re-encryption job can find the old ones.
"""

from __future__ import annotations

from typing import Protocol


class FieldCipher(Protocol):
    key_id: str

    def encrypt(self, plaintext: str, *, context: str) -> str: ...

    def decrypt(self, stored: str, *, context: str) -> str: ...


class IdentityCipher:
    """No encryption (dev/test and until the PII-encryption issue lands)."""

    key_id = "identity"

    def encrypt(self, plaintext: str, *, context: str) -> str:
        return plaintext

    def decrypt(self, stored: str, *, context: str) -> str:
        return stored
