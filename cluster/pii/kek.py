"""Key-encryption keys: they wrap and unwrap data keys, never touch a field.

- ``LocalKek``: AES-256-GCM under a key derived from ``ELSON_PII_KEY`` (development, and
  the migrations' default); the data key's id is bound as associated data.
- ``TransitKek``: Vault transit (``hvac``): the data key is sent to ``encrypt`` and
  stored as Vault's ``vault:vN:...`` ciphertext; ``rotate`` rotates the transit key and
  ``rewrap`` moves a wrapped data key to its newest version without exposing it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, Protocol

from cluster.pii.crypto import SealBroken, derive, open_sealed, seal
from domain.errors import TransientError


class KekUnavailable(Exception):
    """The KEK refused to unwrap (wrong key, tampered wrap, or Vault refused)."""


class Kek(Protocol):
    name: str

    def wrap(self, key_id: str, dek: bytes) -> str: ...

    def unwrap(self, key_id: str, wrapped: str) -> bytes: ...

    def rotate(self) -> None: ...

    def rewrap(self, key_id: str, wrapped: str) -> str: ...


class LocalKek:
    name = "local"

    def __init__(self, secret: str) -> None:
        self._key = derive(secret, "elson/pii/kek/v1")

    def wrap(self, key_id: str, dek: bytes) -> str:
        return base64.b64encode(seal(self._key, dek, f"pii_keys|{key_id}".encode())).decode()

    def unwrap(self, key_id: str, wrapped: str) -> bytes:
        try:
            return open_sealed(self._key, base64.b64decode(wrapped), f"pii_keys|{key_id}".encode())
        except (SealBroken, ValueError) as exc:
            raise KekUnavailable("local KEK cannot unwrap this data key") from exc

    def rotate(self) -> None:
        """A local KEK has one version: rotation makes a new data key only."""

    def rewrap(self, key_id: str, wrapped: str) -> str:
        return wrapped


class TransitKek:
    """``vault``: a ``cluster.secrets.vault.VaultSource`` (its ``call`` logs in again on a
    403) or a bare ``hvac.Client``. Vault unreachable or sealed is ``TransientError``
    (503, retry); a refused unwrap (tampered wrap, version below ``min_decryption_version``,
    missing key) is ``KekUnavailable``."""

    def __init__(self, vault: Any, key_name: str, mount_point: str = "transit") -> None:
        self._vault, self.key_name, self.mount = vault, key_name, mount_point
        self.name = f"transit:{key_name}"

    def _run(self, action: str, fn: Callable[[Any], Any]) -> Any:
        import requests
        from hvac import exceptions as hvac_errors

        from cluster.secrets.source import SecretUnavailable

        down = (
            SecretUnavailable,
            hvac_errors.VaultDown,
            hvac_errors.InternalServerError,
            hvac_errors.BadGateway,
            requests.RequestException,
        )
        try:
            if hasattr(self._vault, "call"):
                return self._vault.call(fn, f"pii {action}")
            return fn(self._vault)
        except down as exc:
            raise TransientError(f"vault transit {action}: Vault unavailable") from exc
        except Exception as exc:  # hvac and source errors: all mean "refused"
            raise KekUnavailable(f"vault transit {action} refused: {type(exc).__name__}") from exc

    def wrap(self, key_id: str, dek: bytes) -> str:
        plaintext = base64.b64encode(dek).decode()
        r = self._run(
            "encrypt",
            lambda c: c.secrets.transit.encrypt_data(
                name=self.key_name, plaintext=plaintext, mount_point=self.mount
            ),
        )
        return str(r["data"]["ciphertext"])

    def unwrap(self, key_id: str, wrapped: str) -> bytes:
        r = self._run(
            "decrypt",
            lambda c: c.secrets.transit.decrypt_data(
                name=self.key_name, ciphertext=wrapped, mount_point=self.mount
            ),
        )
        return base64.b64decode(r["data"]["plaintext"])

    def rotate(self) -> None:
        self._run(
            "rotate",
            lambda c: c.secrets.transit.rotate_key(name=self.key_name, mount_point=self.mount),
        )

    def rewrap(self, key_id: str, wrapped: str) -> str:
        r = self._run(
            "rewrap",
            lambda c: c.secrets.transit.rewrap_data(
                name=self.key_name, ciphertext=wrapped, mount_point=self.mount
            ),
        )
        return str(r["data"]["ciphertext"])
