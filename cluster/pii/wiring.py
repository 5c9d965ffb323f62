"""Build the PII pieces of a process from frozen settings (API, CLI, jobs, migrations).

Keys come from the settings, never from code: the local KEK and the blind index key are
derived (HKDF, distinct labels) from ``ELSON_PII_KEY``, or the index has its own
``ELSON_PII_INDEX_KEY``. In dev without ``ELSON_PII_KEY`` a random secret is created
once in the data dir (``pii-key``, mode 0600), like the dev JWT secret; in ``test`` a
fixed, public test value (every process of a test run agrees without a shared data dir);
staging and production refuse to start without one. With ``ELSON_PII_KEK=transit`` the data
keys are wrapped by the Vault transit key ``ELSON_PII_TRANSIT_KEY`` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cluster.accounts.cipher import PiiCipher
from cluster.dev_secret import file_secret
from cluster.pii.crypto import BlindIndex, derive
from cluster.pii.kek import Kek, LocalKek, TransitKek
from cluster.pii.keyring import Keyring
from domain.errors import OperatorError

_SECRET_FILE = "pii-key"
#: public by design, used only when ELSON_ENV=test (never dev, staging or production)
_TEST_ONLY_SECRET = "elson test environment: not a secret"  # pragma: allowlist secret


@dataclass(frozen=True, slots=True)
class Pii:
    cipher: PiiCipher
    index: BlindIndex

    @property
    def keyring(self) -> Keyring:
        return self.cipher.keyring


def pii_secret(settings: Any) -> str:
    if settings.pii_key is not None:
        return str(settings.pii_key.get_secret_value())
    if settings.env.is_protected:
        raise OperatorError("ELSON_PII_KEY is required outside dev/test")
    if settings.env.value == "test":
        # every process of a test run (API, CLI, migrations) must agree without sharing a
        # data dir; test databases hold only test data. Never used in dev or beyond.
        return _TEST_ONLY_SECRET
    try:
        return file_secret(settings.data_dir / _SECRET_FILE)
    except OSError as exc:
        raise OperatorError(f"no usable PII secret: {exc}") from exc


def blind_index(settings: Any) -> BlindIndex:
    if settings.pii_index_key is not None:
        return BlindIndex(derive(settings.pii_index_key.get_secret_value(), "elson/pii/index"))
    return BlindIndex(derive(pii_secret(settings), "elson/pii/email-index/v1"))


def build_kek(settings: Any, vault_client: Any = None) -> Kek:
    if settings.pii_kek == "transit":
        if vault_client is None:
            raise OperatorError("ELSON_PII_KEK=transit needs a Vault client (ELSON_VAULT_ADDR)")
        return TransitKek(vault_client, settings.pii_transit_key, settings.pii_transit_mount)
    return LocalKek(pii_secret(settings))


def build_pii(settings: Any, connect: Callable[[], Any], vault_client: Any = None) -> Pii:
    """``connect()``: a context manager yielding a connection in a transaction."""
    keyring = Keyring(
        connect, build_kek(settings, vault_client), cache_ttl_s=settings.pii_key_cache_s
    )
    return Pii(PiiCipher(keyring), blind_index(settings))
