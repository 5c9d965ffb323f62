"""The primitives under the cipher: blind index, local KEK (no database needed)."""

from __future__ import annotations

import pytest

from cluster.pii.crypto import BlindIndex, SealBroken, derive, new_key, open_sealed, seal
from cluster.pii.kek import KekUnavailable, LocalKek


def test_blind_index_equal_for_case_and_spaces_and_keyed() -> None:
    index = BlindIndex(derive("index-material-" + "a" * 32, "label"))
    assert index.of(" Ada@Example.com\t") == index.of("ada@example.COM")
    assert index.of("ada@example.com") != index.of("bob@example.com")
    other = BlindIndex(derive("index-material-" + "b" * 32, "label"))
    assert other.of("ada@example.com") != index.of("ada@example.com")
    assert len(index.of("ada@example.com")) == 64


def test_derive_labels_give_independent_keys() -> None:
    assert derive("m" * 40, "elson/pii/kek/v1") != derive("m" * 40, "elson/pii/email-index/v1")


def test_seal_bound_to_associated_data() -> None:
    key = new_key()
    sealed = seal(key, b"123-45-6789", b"profiles|tax_id|1")
    assert open_sealed(key, sealed, b"profiles|tax_id|1") == b"123-45-6789"
    with pytest.raises(SealBroken):
        open_sealed(key, sealed, b"profiles|tax_id|2")
    with pytest.raises(SealBroken):
        open_sealed(new_key(), sealed, b"profiles|tax_id|1")


def test_local_kek_unwraps_only_with_its_secret_and_key_id() -> None:
    kek = LocalKek("s" * 40)
    dek = new_key()
    wrapped = kek.wrap("k1", dek)
    assert kek.unwrap("k1", wrapped) == dek
    with pytest.raises(KekUnavailable):
        kek.unwrap("k2", wrapped)  # a wrap moved to another key id
    with pytest.raises(KekUnavailable):
        LocalKek("t" * 40).unwrap("k1", wrapped)
