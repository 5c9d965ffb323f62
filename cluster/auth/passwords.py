"""Password policy and argon2id hashing.

The policy is deliberately short (NIST 800-63B style): length matters most, so we ask for
12+ characters, refuse one-class strings ("aaaaaaaaaaaa", "123456789012"), the email
itself and a small list of the most common passwords. Hashes are argon2id (argon2-cffi's
RFC 9106 low-memory profile); ``needs_rehash`` lets login upgrade old parameters.

An unknown email still costs one verification against a dummy hash, so response time does
not reveal which emails are registered.
"""

from __future__ import annotations

from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from domain.errors import ValidationFailed

MIN_LENGTH: Final = 12
MAX_LENGTH: Final = 256  # bounds hashing work per request
COMMON: Final = frozenset(
    {
        "password1234",
        "password12345",
        "password123456",
        "123456789012",
        "1234567890123",
        "qwertyuiop12",
        "qwertyuiop123",
        "iloveyou1234",
        "letmein12345",
        "welcome12345",
        "administrator",
        "passw0rd1234",
        "password!234",
        "changeme1234",
        "trustno1trustno1",
        "monkey123456",
        "football1234",
        "baseball1234",
        "sunshine1234",
        "princess1234",
        "qwerty123456",
        "abc123456789",
        "11111111111111",
        "elsonelson12",
        "Password1234",
        "Password123!",
        "P@ssw0rd1234",
        "Welcome1234!",
        "Qwerty123456!",
    }
)


def _classes(password: str) -> int:
    kinds = (
        any(c.islower() for c in password),
        any(c.isupper() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    )
    return sum(kinds)


def check_policy(password: str, email: str, field: str = "password") -> None:
    """Raise ``ValidationFailed(field, rule)`` naming the first rule the password breaks."""
    if len(password) < MIN_LENGTH:
        raise ValidationFailed(field, "min-length", f"{field} needs {MIN_LENGTH}+ characters")
    if len(password) > MAX_LENGTH:
        raise ValidationFailed(field, "max-length", f"{field} is longer than {MAX_LENGTH}")
    if _classes(password) < 2:
        raise ValidationFailed(
            field, "character-classes", f"{field} must mix letters, digits or symbols"
        )
    lowered = password.lower()
    local = email.lower().split("@", 1)[0]
    if lowered == email.lower() or (len(local) >= 4 and lowered == local):
        raise ValidationFailed(field, "not-email", f"{field} must not be the email address")
    if password in COMMON or lowered in {p.lower() for p in COMMON}:
        raise ValidationFailed(field, "common-password", f"{field} is a common password")


class Passwords:
    """argon2id hashing with a dummy hash for unknown users (constant-ish timing)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy = self._hasher.hash("dummy-password-for-timing")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; an absent hash still costs one verification."""
        try:
            return self._hasher.verify(stored_hash or self._dummy, password) and bool(stored_hash)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return False
