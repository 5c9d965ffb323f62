"""Rules of PII at rest, with no I/O: the stored form, associated data, key ids, email form.

A stored field is ``pii1.<key id>.<base64url(nonce || ciphertext+tag)>``: the key id tells
which data key sealed it, so old versions keep decrypting after a rotation and a job can
find rows still on an old version. The associated data is ``table|column|row id``: a
ciphertext copied to another row or column fails authentication instead of decrypting.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from domain.errors import OperatorError

PREFIX = "pii1"
_KEY_ID = re.compile(r"k[1-9][0-9]{0,8}")


class PiiUnreadable(OperatorError):
    """A stored field that does not decrypt: wrong key, tampering, or a retired version.

    The message never holds the stored value or any plaintext; the API answers
    ``/problems/pii-unreadable`` for this record only."""

    code = "pii-unreadable"

    def __init__(self, ref: FieldRef, reason: str) -> None:
        super().__init__("this record's personal data cannot be read; an operator is alerted")
        self.ref = ref
        self.reason = reason


@dataclass(frozen=True, slots=True)
class FieldRef:
    """Where a field is stored: the associated data of its ciphertext."""

    table: str
    column: str
    row_id: str

    def aad(self) -> bytes:
        return f"{self.table}|{self.column}|{self.row_id}".encode()

    @classmethod
    def parse(cls, context: str) -> FieldRef:
        table, column, row_id = context.split("|", 2)
        return cls(table, column, row_id)

    def __str__(self) -> str:
        return f"{self.table}|{self.column}|{self.row_id}"


def index_form(email: str) -> str:
    """What the blind index hashes: the address trimmed and case-folded."""
    return email.strip().casefold()


def is_key_id(value: str) -> bool:
    return _KEY_ID.fullmatch(value) is not None


def key_number(key_id: str) -> int:
    if not is_key_id(key_id):
        raise ValueError(f"not a key id: {key_id!r}")
    return int(key_id[1:])


def next_key_id(existing: list[str]) -> str:
    """``k1`` for the first data key, then one past the highest existing version."""
    return f"k{max((key_number(k) for k in existing), default=0) + 1}"


def encode(key_id: str, sealed: bytes) -> str:
    if not is_key_id(key_id):
        raise ValueError(f"not a key id: {key_id!r}")
    return f"{PREFIX}.{key_id}.{base64.urlsafe_b64encode(sealed).decode().rstrip('=')}"


def decode(stored: str) -> tuple[str, bytes]:
    """``(key id, sealed bytes)``; ``ValueError`` for anything not in the stored form."""
    parts = stored.split(".")
    if len(parts) != 3 or parts[0] != PREFIX or not is_key_id(parts[1]):
        raise ValueError("not an encrypted field")
    body = parts[2]
    try:
        sealed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not an encrypted field") from exc
    return parts[1], sealed


def key_id_of(stored: str) -> str | None:
    """The key id of an encrypted field, ``None`` for plaintext (before migration 0008)."""
    try:
        return decode(stored)[0]
    except ValueError:
        return None
