"""The transit secrets engine of the fake Vault: real AES-256-GCM, versioned keys.

Ciphertexts look like Vault's (``vault:v<N>:<base64(nonce || ciphertext || tag)>``) and the
rules are Vault's: encryption uses the latest version (or a requested one not below
``min_encryption_version``); decryption refuses versions below ``min_decryption_version``
with 400 "ciphertext or signature version is disallowed by policy (too old)"; ``trim``
deletes versions for good. ``associated_data`` (AEAD) and derived keys (``context``) are
supported. Plaintexts travel base64-encoded, as in Vault.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TOO_OLD = "ciphertext or signature version is disallowed by policy (too old)"
_NO_CONTEXT = (
    "missing 'context' for key derivation; the key was created using a derived key, which"
    " means additional, per-request information must be included in order to perform"
    " operations with the key"
)
_BELOW_MIN = "requested version for encryption is less than the minimum encryption key version"
_ABOVE = "requested version for encryption is higher than the latest key version"


class VaultHttpError(Exception):
    """Answered as ``{"errors": [...]}`` with this status."""

    def __init__(self, status: int, *errors: str) -> None:
        super().__init__(f"{status}: {'; '.join(errors)}")
        self.status = status
        self.errors = list(errors)


def _b64d(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise VaultHttpError(400, f"missing {what} to process")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise VaultHttpError(400, f"failed to base64-decode {what}") from None


@dataclass
class TransitKey:
    name: str
    derived: bool = False
    exportable: bool = False
    deletion_allowed: bool = False
    versions: dict[int, bytes] = field(default_factory=dict)
    created: dict[int, int] = field(default_factory=dict)
    min_decryption_version: int = 1
    min_encryption_version: int = 0
    min_available_version: int = 0

    @property
    def latest_version(self) -> int:
        return max(self.created)

    def rotate(self) -> None:
        version = (max(self.created) + 1) if self.created else 1
        self.versions[version] = os.urandom(32)
        self.created[version] = int(time.time())

    def _key(self, version: int, context: bytes | None) -> bytes:
        raw = self.versions[version]
        if not self.derived:
            return raw
        if not context:
            raise VaultHttpError(400, _NO_CONTEXT)
        return HKDF(hashes.SHA256(), 32, salt=None, info=context).derive(raw)

    def encrypt(
        self, plaintext: bytes, context: bytes | None, aad: bytes | None, version: int = 0
    ) -> tuple[str, int]:
        if version == 0:
            version = self.latest_version
        if version < max(self.min_encryption_version, 1) or version > self.latest_version:
            raise VaultHttpError(400, _BELOW_MIN if version <= self.latest_version else _ABOVE)
        if version not in self.versions:
            raise VaultHttpError(400, "requested version for encryption has been trimmed")
        nonce = os.urandom(12)
        sealed = AESGCM(self._key(version, context)).encrypt(nonce, plaintext, aad)
        return f"vault:v{version}:" + base64.b64encode(nonce + sealed).decode(), version

    def decrypt(self, ciphertext: Any, context: bytes | None, aad: bytes | None) -> bytes:
        if not isinstance(ciphertext, str) or not ciphertext:
            raise VaultHttpError(400, "missing ciphertext to decrypt")
        parts = ciphertext.split(":", 2)
        if len(parts) != 3 or parts[0] != "vault":
            raise VaultHttpError(400, "invalid ciphertext: no prefix")
        if not parts[1].startswith("v") or not parts[1][1:].isdigit():
            raise VaultHttpError(400, "invalid ciphertext: version number could not be decoded")
        version = int(parts[1][1:])
        if version < self.min_decryption_version:
            raise VaultHttpError(400, TOO_OLD)
        if version > self.latest_version or version not in self.versions:
            raise VaultHttpError(400, "invalid ciphertext: key version not found")
        blob = _b64d(parts[2], "ciphertext")
        if len(blob) < 12 + 16:
            raise VaultHttpError(400, "invalid ciphertext: unable to decrypt")
        try:
            return AESGCM(self._key(version, context)).decrypt(blob[:12], blob[12:], aad)
        except InvalidTag:
            raise VaultHttpError(400, "cipher: message authentication failed") from None

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": "aes256-gcm96",
            "keys": {str(v): self.created[v] for v in sorted(self.versions)},
            "latest_version": self.latest_version,
            "min_available_version": self.min_available_version,
            "min_decryption_version": self.min_decryption_version,
            "min_encryption_version": self.min_encryption_version,
            "deletion_allowed": self.deletion_allowed,
            "derived": self.derived,
            "exportable": self.exportable,
            "allow_plaintext_backup": False,
            "auto_rotate_period": 0,
            "imported_key": False,
            "supports_encryption": True,
            "supports_decryption": True,
            "supports_derivation": True,
            "supports_signing": False,
        }


class TransitEngine:
    """One transit mount. Methods take a request body and return the ``data`` of the answer
    (``None``: 204). The server serializes calls (one lock), so no locking here."""

    def __init__(self) -> None:
        self.keys: dict[str, TransitKey] = {}

    def create_key(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        kind = body.get("type", "aes256-gcm96")
        if kind != "aes256-gcm96":
            raise VaultHttpError(400, f"unsupported key type {kind} in this test server")
        if name not in self.keys:
            key = TransitKey(
                name, derived=bool(body.get("derived")), exportable=bool(body.get("exportable"))
            )
            key.rotate()
            self.keys[name] = key
        return self.keys[name].info()

    def key(self, name: str, *, missing: int = 400) -> TransitKey:
        if name not in self.keys:
            if missing == 404:
                raise VaultHttpError(404)
            raise VaultHttpError(400, "encryption key not found")
        return self.keys[name]

    def configure(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        key = self.key(name, missing=400)
        min_dec = int(body.get("min_decryption_version", key.min_decryption_version))
        min_enc = int(body.get("min_encryption_version", key.min_encryption_version))
        if min_dec < 0 or min_dec > key.latest_version:
            raise VaultHttpError(400, "cannot set min decryption version above the latest version")
        if min_enc < 0 or min_enc > key.latest_version:
            raise VaultHttpError(400, "cannot set min encryption version above the latest version")
        if min_dec and min_dec < key.min_available_version:
            raise VaultHttpError(400, "cannot set min decryption version below min available")
        key.min_decryption_version = max(min_dec, 1)
        key.min_encryption_version = min_enc
        if "deletion_allowed" in body:
            key.deletion_allowed = bool(body["deletion_allowed"])
        if "exportable" in body:
            key.exportable = key.exportable or bool(body["exportable"])
        return key.info()

    def rotate(self, name: str) -> dict[str, Any]:
        key = self.key(name, missing=400)
        key.rotate()
        return key.info()

    def trim(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        key = self.key(name, missing=400)
        floor = int(body.get("min_available_version", 0))
        limit = min(key.min_decryption_version, key.min_encryption_version or key.latest_version)
        if floor <= 0 or floor > limit:
            raise VaultHttpError(400, "cannot trim to a version above min decryption/encryption")
        for version in [v for v in key.versions if v < floor]:
            del key.versions[version]
        key.min_available_version = floor
        return key.info()

    def delete(self, name: str) -> None:
        key = self.key(name, missing=400)
        if not key.deletion_allowed:
            raise VaultHttpError(400, "deletion is not allowed for this key")
        del self.keys[name]

    # --- data operations (one item, or ``batch_input``) -------------------------------
    def _batch(self, body: dict[str, Any], one: Any) -> dict[str, Any]:
        items = body.get("batch_input")
        if items is None:
            return dict(one(body))
        results: list[dict[str, Any]] = []
        failed = 0
        for item in items:
            try:
                result = dict(one({**body, **item, "batch_input": None}))
            except VaultHttpError as exc:
                failed += 1
                result = {"error": "; ".join(exc.errors)}
            if "reference" in item:
                result["reference"] = item["reference"]
            results.append(result)
        if failed:
            code = int(body.get("partial_failure_response_code") or 400)
            if failed == len(items) or code == 400:
                raise _BatchFailure(code if failed < len(items) else 400, results)
        return {"batch_results": results}

    @staticmethod
    def _ctx(item: dict[str, Any]) -> tuple[bytes | None, bytes | None]:
        ctx = _b64d(item["context"], "context") if item.get("context") else None
        aad = (
            _b64d(item["associated_data"], "associated_data")
            if item.get("associated_data")
            else None
        )
        return ctx, aad

    def encrypt(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        if name not in self.keys:  # Vault upserts the key on encrypt
            self.create_key(name, {"derived": bool(body.get("context"))})
        key = self.keys[name]

        def one(item: dict[str, Any]) -> dict[str, Any]:
            ctx, aad = self._ctx(item)
            plaintext = _b64d(item.get("plaintext"), "plaintext")
            ciphertext, version = key.encrypt(
                plaintext, ctx, aad, int(item.get("key_version") or 0)
            )
            return {"ciphertext": ciphertext, "key_version": version}

        return self._batch(body, one)

    def decrypt(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        key = self.key(name)

        def one(item: dict[str, Any]) -> dict[str, Any]:
            ctx, aad = self._ctx(item)
            plain = key.decrypt(item.get("ciphertext"), ctx, aad)
            return {"plaintext": base64.b64encode(plain).decode()}

        return self._batch(body, one)

    def rewrap(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        key = self.key(name)

        def one(item: dict[str, Any]) -> dict[str, Any]:
            ctx, aad = self._ctx(item)
            plain = key.decrypt(item.get("ciphertext"), ctx, aad)
            ciphertext, version = key.encrypt(plain, ctx, aad, int(item.get("key_version") or 0))
            return {"ciphertext": ciphertext, "key_version": version}

        return self._batch(body, one)

    def datakey(self, kind: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        if kind not in ("plaintext", "wrapped"):
            raise VaultHttpError(400, f"invalid type {kind!r}")
        key = self.key(name)
        bits = int(body.get("bits", 256))
        if bits not in (128, 256, 512):
            raise VaultHttpError(400, "invalid bit length")
        ctx, aad = self._ctx(body)
        raw = os.urandom(bits // 8)
        ciphertext, version = key.encrypt(raw, ctx, aad)
        data: dict[str, Any] = {"ciphertext": ciphertext, "key_version": version}
        if kind == "plaintext":
            data["plaintext"] = base64.b64encode(raw).decode()
        return data


class _BatchFailure(VaultHttpError):
    """A batch with failed items: answered with the per-item results and the status."""

    def __init__(self, status: int, results: list[dict[str, Any]]) -> None:
        super().__init__(status, *(r["error"] for r in results if "error" in r))
        self.results = results
