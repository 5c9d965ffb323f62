"""Data keys wrapped by Vault transit (the fake Vault of tests/kit over real TLS, the real
hvac client): envelope encryption, rotation with rewrap, ``min_decryption_version``,
and Vault's refusals as typed errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.pool import NullPool

from cluster.accounts.cipher import PiiCipher
from cluster.pii import keyring
from cluster.pii.kek import TransitKek
from cluster.pii.keyring import Keyring
from cluster.pii.tables import pii_keys
from domain.errors import TransientError
from domain.pii import PiiUnreadable
from tests.conftest import own_database
from tests.kit.vault_server import VaultServer

KEY = "elson-pii"
CTX = "profiles|legal_name|00000000-0000-0000-0000-0000000000aa"


@pytest.fixture
def engine() -> Iterator[Any]:
    with own_database("pii_transit") as url:
        eng = create_engine(url, poolclass=NullPool)
        yield eng
        eng.dispose()


def _ring(engine: Any, vault: VaultServer) -> Keyring:
    vault.transit_key(KEY)
    kek = TransitKek(vault.client(vault.root_token), KEY)
    return Keyring(engine.begin, kek, cache_ttl_s=60)


def _wrapped(engine: Any) -> dict[str, str]:
    with engine.connect() as c:
        return {r.id: r.wrapped for r in c.execute(select(pii_keys.c.id, pii_keys.c.wrapped))}


def test_field_sealed_under_transit_wrapped_key_then_decrypts_in_a_fresh_process(
    engine: Any, vault: VaultServer
) -> None:
    cipher = PiiCipher(_ring(engine, vault))
    stored = cipher.encrypt("Ada Lovelace", context=CTX)
    assert stored.startswith("pii1.k1.") and "Ada" not in stored
    assert _wrapped(engine)["k1"].startswith("vault:v1:")
    fresh = PiiCipher(_ring(engine, vault))  # nothing cached: unwraps through Vault
    assert fresh.decrypt(stored, context=CTX) == "Ada Lovelace"
    assert vault.seen(f"transit/decrypt/{KEY}")


def test_rotate_then_transit_rotated_old_keys_rewrapped_and_min_decryption_version_holds(
    engine: Any, vault: VaultServer
) -> None:
    ring = _ring(engine, vault)
    old_field = PiiCipher(ring).encrypt("Grace Hopper", context=CTX)
    with engine.begin() as c:
        assert keyring.rotate(c, ring.kek) == "k2"
    wrapped = _wrapped(engine)
    assert wrapped["k1"].startswith("vault:v2:") and wrapped["k2"].startswith("vault:v2:")
    assert PiiCipher(ring).encrypt("x", context=CTX).startswith("pii1.k2.")
    client = vault.client(vault.root_token)
    client.secrets.transit.update_key_configuration(KEY, min_decryption_version=2)
    fresh = PiiCipher(_ring(engine, vault))
    assert fresh.decrypt(old_field, context=CTX) == "Grace Hopper"


def test_vault_refuses_unwrap_then_pii_unreadable_and_sealed_vault_then_transient(
    engine: Any, vault: VaultServer
) -> None:
    ring = _ring(engine, vault)
    stored = PiiCipher(ring).encrypt("Katherine Johnson", context=CTX)
    with engine.begin() as c:  # a wrap Vault will not open (tampered)
        w = _wrapped(engine)["k1"]
        c.execute(
            pii_keys.update().values(wrapped=w[:-6] + ("A" if w[-6] != "A" else "B") + w[-5:])
        )
    with pytest.raises(PiiUnreadable) as info:
        PiiCipher(_ring(engine, vault)).decrypt(stored, context=CTX)
    assert info.value.reason == "key-unavailable"
    vault.seal()
    try:
        with pytest.raises(TransientError):
            PiiCipher(_ring(engine, vault)).decrypt(stored, context=CTX)
    finally:
        vault.unseal()
